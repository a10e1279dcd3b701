"""Faults and overload against the live node (real DDS, the fake matcher): a backend that raises
mid-stream, a subscriber killed mid-stream, a publisher restarted, 10x overload for tens of seconds,
and 50 lifecycle cycles, with the node's resident memory measured."""

from __future__ import annotations

import os
import signal
import time
from typing import Any

import pytest
from support.diagnostics import latest_status_values, published
from support.image_publisher import FIRST_STAMP_S
from support.lifecycle import LifecycleClient
from support.node_process import start_node, wait_for_outputs
from support.process_memory import rss_bytes
from support.ros_harness import (
    RosEnvironment,
    RosTestNode,
    run_module_in_ros_process,
    run_python_in_ros_process,
    wait_until,
)

pytestmark = [pytest.mark.ros, pytest.mark.slow]  # minutes of soak, faults or fuzzing: not in make test-quick

MIB = 1 << 20
LIFECYCLE_CYCLES = 50
OVERLOAD_S = 20.0
OVERLOAD_INFERENCE_S = 0.05  # 20 pairs/s of inference
OVERLOAD_INPUT_HZ = 200.0  # 10x
KILLED_SUBSCRIBER = """
import time, rclpy
from ma_trt_ros_interfaces.msg import Matches
rclpy.init()
node = rclpy.create_node("doomed_subscriber")
node.create_subscription(Matches, "/faults/matchanything_node/matches", lambda m: print("got", flush=True), 10)
rclpy.spin(node)
"""


def publish_pairs(env: RosEnvironment, ns: str, count: int, rate_hz: float, *extra: str) -> None:
    """Run the image publisher child until it has published ``count`` pairs (it is stopped afterwards)."""
    args = ("pair", str(count), str(rate_hz), "--namespace", ns, *extra)
    with run_module_in_ros_process("support.image_publisher", env, args) as publisher:
        wait_until(lambda: "published" in publisher.output(), 120.0, "the publisher to finish")


@pytest.mark.timeout(120)
def test_backend_faults_subscriber_death_and_publisher_restart_leave_the_node_serving(
    ros_env: RosEnvironment, ros_node: RosTestNode
) -> None:
    from diagnostic_msgs.msg import DiagnosticArray

    from ma_trt_ros_interfaces.msg import Matches

    ns = "/faults"
    name = f"{ns}/matchanything_node"
    matches = ros_node.collect(Matches, f"{name}/matches", depth=100)
    diagnostics = ros_node.collect(DiagnosticArray, "/diagnostics", depth=100)
    params = {"model_path": "fake:eloftr", "queue_policy": "lossless", "queue_size": 30, "diagnostics_period_s": 0.5}
    params["input_reliability"] = "reliable"
    with start_node(ros_env, ns, params, {"FAKE_MATCHER_FAIL_EVERY": "5"}) as node:
        wait_for_outputs([matches, diagnostics])
        with run_python_in_ros_process(KILLED_SUBSCRIBER, ros_env, "doomed_subscriber") as doomed:
            wait_until(lambda: ros_node.node.count_subscribers(f"{name}/matches") >= 2, 20.0, "the second subscriber")
            args = ("pair", "20", "10", "--namespace", ns)
            with run_module_in_ros_process("support.image_publisher", ros_env, args) as publisher:
                wait_until(lambda: "got" in doomed.output(), 20.0, "the doomed subscriber's first result")
                os.kill(doomed.pid, signal.SIGKILL)  # mid-stream: the publisher is still sending
                wait_until(lambda: "published" in publisher.output(), 20.0, "the publisher to finish")
        publish_pairs(ros_env, ns, 20, 20.0)  # a restarted publisher: new process, its stamps start again
        publish_pairs(ros_env, ns, 20, 20.0, "--wall-stamps")  # restarted, with its clock going on
        wait_until(lambda: published(diagnostics, name) == "40", 20.0, "40 results")
        values = latest_status_values(diagnostics, name)
        assert node.returncode is None, node.output()
    seconds = [m.header0.stamp.sec - FIRST_STAMP_S for m in matches.messages]
    # Every 5th match raises (calls 5, 10, ..., 50); the pair after each is served, in order.
    assert seconds[:16] == [i for i in range(20) if (i + 1) % 5]
    # Run 2 repeats run 1's stamps: its first 10 pairs (20 images, 2 x sync_queue_size) are dropped as
    # too old, then pairing restarts and pairs 10..19 are matched (calls 21..30; 25 and 30 fail).
    assert seconds[16:24] == [10, 11, 12, 13, 15, 16, 17, 18]
    assert all(second > 1_000_000 for second in seconds[24:]) and len(seconds) == 40  # run 3, wall clock
    assert (values["dropped_inference_error"], values["dropped_sync_too_old"], values["pairs_formed"]) == (
        "10",
        "20",
        "50",
    )
    output = node.output()
    failures = [line for line in output.splitlines() if "matching failed: RuntimeError" in line]
    assert 1 <= len(failures) <= 3 and "injected backend fault at call 5" in failures[0]
    assert output.count("pairing starts afresh") == 1


@pytest.mark.timeout(150)
def test_10x_overload_keeps_memory_and_latency_flat(ros_env: RosEnvironment, ros_node: RosTestNode) -> None:
    from ma_trt_ros_interfaces.msg import Matches

    ns = "/overload_long"
    latencies: list[tuple[float, float]] = []

    def on_matches(msg: Matches) -> None:
        now = time.time()
        latencies.append((now, now - (msg.header0.stamp.sec + msg.header0.stamp.nanosec * 1e-9)))

    results = ros_node.node.create_subscription(Matches, f"{ns}/matchanything_node/matches", on_matches, 100)
    params = {"model_path": "fake:eloftr", "queue_policy": "latest", "queue_size": 1}
    pairs = int(OVERLOAD_S * OVERLOAD_INPUT_HZ)
    publisher_args = ("pair", str(pairs), str(OVERLOAD_INPUT_HZ), "--namespace", ns, "--wall-stamps")
    publisher_args += ("--reliability", "best_effort", "--size0", "64x48", "--size1", "64x48")
    rss: list[tuple[float, int]] = []
    with start_node(ros_env, ns, params, {"FAKE_MATCHER_DELAY_S": str(OVERLOAD_INFERENCE_S)}) as node:
        wait_for_outputs([results])
        with run_module_in_ros_process("support.image_publisher", ros_env, publisher_args) as publisher:
            while "published" not in publisher.output() and len(rss) < 1000:
                rss.append((time.monotonic(), rss_bytes(node.pid)))
                time.sleep(0.5)
        assert node.returncode is None, node.output()
    count = len(latencies)
    quarter = [lat for _, lat in latencies[: count // 4]], [lat for _, lat in latencies[-count // 4 :]]
    early, late = (sum(q) / len(q) for q in quarter)
    worst = max(lat for _, lat in latencies)
    settled = [value for t, value in rss if t - rss[0][0] > 5.0]
    growth = settled[-1] - settled[0]
    print(
        f"overload: {pairs} pairs at {OVERLOAD_INPUT_HZ} Hz for {OVERLOAD_S} s, {count} results; latency mean "
        f"first quarter {early * 1e3:.0f} ms, last {late * 1e3:.0f} ms, max {worst * 1e3:.0f} ms;"
        f" RSS {settled[0] / MIB:.1f} -> {settled[-1] / MIB:.1f} MiB"
    )
    # About 20 results/s; each waits at most ~2 inference times plus transport, early and late alike.
    assert 0.5 * OVERLOAD_S / OVERLOAD_INFERENCE_S <= count <= 1.1 * OVERLOAD_S / OVERLOAD_INFERENCE_S
    assert worst < 1.0 and late < early + 0.1
    assert growth < 0.05 * settled[0]


@pytest.mark.timeout(180)
def test_50_lifecycle_cycles_open_and_close_once_each_without_leaking(
    ros_env: RosEnvironment, ros_node: RosTestNode, tmp_path: Any
) -> None:
    ns, log = "/cycles", tmp_path / "fake.log"
    name = f"{ns}/matchanything_node"
    params = {"model_path": "fake:roma", "autostart": False}
    rss: list[int] = []
    with start_node(ros_env, ns, params, {"FAKE_MATCHER_LOG": str(log)}) as node:
        lifecycle = LifecycleClient(ros_node, name)
        for _ in range(LIFECYCLE_CYCLES):
            for label in ("configure", "activate", "deactivate", "cleanup"):
                assert lifecycle.transition(label), label
            rss.append(rss_bytes(node.pid))
        assert lifecycle.state() == "unconfigured"
        assert node.returncode is None
    lines = log.read_text().splitlines()
    assert lines.count("open fake:roma") == lines.count("close") == LIFECYCLE_CYCLES
    baseline = rss[9]
    print(f"lifecycle: {LIFECYCLE_CYCLES} cycles, RSS after 10 {baseline / MIB:.1f} MiB, after 50 {rss[-1] / MIB:.1f}")
    assert rss[-1] - baseline < 0.05 * baseline
