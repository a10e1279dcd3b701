"""The node's executor (:mod:`ma_trt_ros.ros.paced_executor`) hands each callback to its thread pool once,
also while a callback of the same mutually exclusive group holds its thread (the lossless wait)."""

from __future__ import annotations

import threading
import time

import pytest
from support.ros_harness import RosEnvironment, wait_until

MESSAGES = 40
HOLD_S = 0.02  # each callback holds its pool thread this long, as a lossless wait for room does


@pytest.mark.ros
def test_each_message_is_submitted_to_the_pool_about_once(ros_env: RosEnvironment) -> None:
    import rclpy
    from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
    from rclpy.context import Context
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from std_msgs.msg import Int32

    from ma_trt_ros.ros.paced_executor import PacedMultiThreadedExecutor

    context = Context()
    rclpy.init(context=context, domain_id=ros_env.domain_id)
    node = rclpy.create_node("paced_executor_probe", context=context)
    executor = PacedMultiThreadedExecutor(num_threads=3, context=context)
    submissions = 0
    pool_submit = executor._executor.submit

    def counting_submit(*args: object, **kwargs: object) -> object:
        nonlocal submissions
        submissions += 1
        return pool_submit(*args, **kwargs)

    executor._executor.submit = counting_submit
    received: list[int] = []
    group = MutuallyExclusiveCallbackGroup()
    qos = QoSProfile(depth=MESSAGES, reliability=ReliabilityPolicy.RELIABLE)

    def hold(msg: Int32) -> None:
        time.sleep(HOLD_S)
        received.append(msg.data)

    for topic in ("a", "b"):  # two topics in one group, like image0 and image1
        node.create_subscription(Int32, f"probe/{topic}", hold, qos, callback_group=group)
    publishers = [node.create_publisher(Int32, f"probe/{topic}", qos) for topic in ("a", "b")]
    executor.add_node(node)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    try:
        wait_until(lambda: all(p.get_subscription_count() > 0 for p in publishers), 10.0, "the subscriptions")
        for index in range(MESSAGES):
            publishers[index % 2].publish(Int32(data=index))
        wait_until(lambda: len(received) >= MESSAGES, 20.0, f"{MESSAGES} messages", poll_s=0.05)
    finally:
        executor.shutdown(timeout_sec=2.0)
        node.destroy_node()
        rclpy.try_shutdown(context=context)
        spinner.join(timeout=5.0)
    assert sorted(received) == list(range(MESSAGES))
    # rclpy's own MultiThreadedExecutor (9.1.2) submitted the same waiting callbacks again on every turn
    # of its loop: hundreds to thousands of submissions here. Allow one per message and some spare.
    assert submissions <= 3 * MESSAGES, f"{submissions} submissions for {MESSAGES} messages"
