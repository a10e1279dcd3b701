"""matchanything_node in this process with the fake matcher injected: rate limit, bad images, two instances."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from support.fake_matcher import open_fake_matcher
from support.ros_harness import RosEnvironment, wait_until

pytestmark = pytest.mark.ros


@pytest.fixture
def context(ros_env: RosEnvironment) -> Iterator[Any]:
    """An rclpy context of its own on the session's domain."""
    import rclpy
    from rclpy.context import Context

    ctx = Context()
    rclpy.init(context=ctx, domain_id=ros_env.domain_id)
    yield ctx
    ctx.try_shutdown()


def make_node(context: Any, namespace: str, **params: Any) -> Any:
    """The node (fake matcher injected, autostart off) configured and activated."""
    from rclpy.lifecycle import TransitionCallbackReturn
    from rclpy.parameter import Parameter

    from ma_trt_ros.ros.matchanything_node import MatchAnythingNode

    overrides = [Parameter(name, value=value) for name, value in {"autostart": False, **params}.items()]
    node = MatchAnythingNode(open_fake_matcher, context=context, namespace=namespace, parameter_overrides=overrides)
    assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
    assert node.trigger_activate() == TransitionCallbackReturn.SUCCESS
    return node


def image(stamp_ms: int, value: int = 0, encoding: str = "mono8") -> Any:
    from std_msgs.msg import Header

    from ma_trt_ros.ros.image_conversion import numpy_to_image

    header = Header(frame_id="cam")
    header.stamp.sec, header.stamp.nanosec = stamp_ms // 1000, (stamp_ms % 1000) * 1_000_000
    if encoding == "32FC2":
        return numpy_to_image(np.zeros((12, 16, 2), np.float32), encoding, header=header)
    return numpy_to_image(np.full((12, 16), value, np.uint8), encoding, header=header)


def feed_pair(node: Any, stamp_ms: int, encoding: str = "mono8") -> None:
    """Both images of a pair, through the subscription callback."""
    node._on_image(0, image(stamp_ms, encoding=encoding))
    node._on_image(1, image(stamp_ms))


def settle(node: Any) -> Any:
    """Wait for the inference thread to finish; return the stats report."""
    assert node._worker.wait_idle(10.0)
    return node._stats.report()


def test_max_rate_drops_pairs_by_their_stamps(context: Any) -> None:
    node = make_node(
        context, "/rate", model_path="fake:eloftr", max_rate_hz=2.0, queue_policy="lossless", queue_size=20
    )
    for k in range(10):
        feed_pair(node, 100 * k)  # 10 Hz of stamps into a 2 Hz limit: stamps 0 and 500 ms pass
    report = settle(node)
    assert (report.pairs_formed, report.results_published, report.drops["rate_limit"]) == (2, 2, 8)
    node.release_all()
    node.destroy_node()


def test_time_going_back_for_good_restarts_pairing_and_the_rate_limit(context: Any) -> None:
    node = make_node(
        context,
        "/time_back",
        model_path="fake:eloftr",
        max_rate_hz=2.0,
        sync_queue_size=2,
        queue_policy="lossless",
        queue_size=20,
    )
    for _run in range(2):
        for k in range(10):
            feed_pair(node, 100 * k)  # run 1 passes 0 and 500 ms; run 2 (a restarted publisher) 200 and 700
    report = settle(node)
    assert (report.pairs_formed, report.results_published) == (4, 4)
    assert (report.drops["sync_too_old"], report.drops["rate_limit"]) == (4, 14)  # 2 pairs late, then afresh
    node.release_all()
    node.destroy_node()


def test_a_bad_image_is_counted_and_the_node_keeps_serving(context: Any) -> None:
    node = make_node(context, "/bad_image", model_path="fake:roma", queue_policy="lossless", queue_size=5)
    feed_pair(node, 0)
    feed_pair(node, 100, encoding="32FC2")  # two-channel: not an image a matcher can take
    feed_pair(node, 200)
    report = settle(node)
    assert (report.pairs_formed, report.results_published, report.drops["bad_input"]) == (3, 2, 1)
    assert report.drops["inference_error"] == 0
    stages = {"queue_wait", "convert", "ready_wait", "match", "runtime_inference"}
    stages |= {"output_wait", "messages", "publish", "total"}
    assert set(report.latency_ms) == stages
    node.release_all()
    node.destroy_node()


def test_a_failure_on_the_output_thread_is_counted_for_each_pair(context: Any) -> None:
    # dense_stride 5 does not divide the double's 12 x 16 dense grid: matching succeeds on the inference
    # thread, building the messages fails on the output thread
    node = make_node(context, "/bad_stride", model_path="fake:roma", dense_stride=5, queue_policy="lossless")
    for k in range(3):
        feed_pair(node, 100 * k)
    report = settle(node)
    assert (report.pairs_formed, report.results_published, report.drops["inference_error"]) == (3, 0, 3)
    node.release_all()
    node.destroy_node()


@pytest.mark.timeout(60)
def test_two_instances_side_by_side_in_namespaces(context: Any) -> None:
    import rclpy
    from rclpy.executors import SingleThreadedExecutor

    from ma_trt_ros_interfaces.msg import Matches

    nodes = [make_node(context, ns, model_path=f"fake:{v}") for ns, v in (("/left", "eloftr"), ("/right", "roma"))]
    listener = rclpy.create_node("listener", context=context)
    received: dict[str, list[Matches]] = {"/left": [], "/right": []}
    subscriptions = [
        listener.create_subscription(Matches, f"{ns}/matchanything_node/matches", received[ns].append, 10)
        for ns in received
    ]
    executor = SingleThreadedExecutor(context=context)
    for node in (*nodes, listener):
        executor.add_node(node)
    deadline = time.monotonic() + 20.0
    while not all(s.get_publisher_count() for s in subscriptions) and time.monotonic() < deadline:
        executor.spin_once(timeout_sec=0.05)
    for _ in range(20):
        executor.spin_once(timeout_sec=0.02)
    feed_pair(nodes[0], 1000)
    feed_pair(nodes[1], 2000)
    wait_until(lambda: executor.spin_once(timeout_sec=0.02) or all(received.values()), 20.0, "both results")
    assert [(m.model_variant, m.header0.stamp.sec) for m in received["/left"]] == [("eloftr", 1)]
    assert [(m.model_variant, m.header0.stamp.sec) for m in received["/right"]] == [("roma", 2)]
    assert [n.get_fully_qualified_name() for n in nodes] == ["/left/matchanything_node", "/right/matchanything_node"]
    executor.shutdown()
    for node in nodes:
        node.release_all()
        node.destroy_node()
    listener.destroy_node()
