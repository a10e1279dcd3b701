"""The ROS test harness: isolation of child processes, and messages crossing processes both ways."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from support.ros_harness import (
    FASTDDS_PROFILE,
    REPO_ROOT,
    TEST_DIR,
    RosEnvironment,
    RosTestNode,
    reserved_domain_id,
    run_module_in_ros_process,
    run_python_in_ros_process,
    wait_until,
)

pytestmark = pytest.mark.ros

HEIGHT, WIDTH = 1080, 1920

IMAGE_PUBLISHER = """
import sys
import numpy as np
from support.ros_harness import publish_in_child
from sensor_msgs.msg import Image
from ma_trt_ros.ros.image_conversion import numpy_to_image

height, width, count = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
rate_hz, reliability = float(sys.argv[4]), sys.argv[5]

def make(index):
    pixels = ((np.arange(height * width * 3, dtype=np.uint32) + index) % 251).astype(np.uint8)
    msg = numpy_to_image(pixels.reshape(height, width, 3), "rgb8")
    msg.header.frame_id = f"frame{index}"
    msg.header.stamp.sec = index
    return msg

publish_in_child(Image, "/harness/image", make, count, rate_hz, reliability=reliability)
"""

IMAGE_SUMMARY_NODE = """
import signal

# rclpy's own SIGINT handler shuts the context down and then calls this one: no KeyboardInterrupt raised
# into whatever runs at that moment (once it landed in a Future's __del__ and the child exited 1)
signal.signal(signal.SIGINT, lambda *_: None)
import rclpy
from rclpy.executors import ExternalShutdownException
from sensor_msgs.msg import Image
from std_msgs.msg import String
from ma_trt_ros.ros.image_conversion import image_to_numpy

rclpy.init()
node = rclpy.create_node("image_summary")
summaries = node.create_publisher(String, "/harness/summary", 10)

def on_image(msg):
    pixels = image_to_numpy(msg)
    summaries.publish(String(data=f"{msg.header.frame_id} {msg.encoding} {pixels.shape} {int(pixels.sum())}"))

node.create_subscription(Image, "/harness/summary_in", on_image, 10)
try:
    rclpy.spin(node)
except (KeyboardInterrupt, ExternalShutdownException):
    pass
"""


def expected_pixels(index: int) -> np.ndarray:
    """The rgb8 pattern IMAGE_PUBLISHER sends as frame ``index``."""
    flat = (np.arange(HEIGHT * WIDTH * 3, dtype=np.uint32) + index) % 251
    return flat.astype(np.uint8).reshape(HEIGHT, WIDTH, 3)


def test_child_process_gets_the_isolated_environment(ros_env: RosEnvironment) -> None:
    code = "import os; print([os.environ.get(n) for n in ('ROS_DOMAIN_ID', 'ROS_AUTOMATIC_DISCOVERY_RANGE', "
    code += "'ROS_HOME', 'FASTDDS_DEFAULT_PROFILES_FILE', 'ROS_LOCALHOST_ONLY')])"
    with run_python_in_ros_process(code, ros_env, "env_probe") as child:
        assert child.wait(timeout_s=30) == 0
        expected = [str(ros_env.domain_id), "LOCALHOST", str(ros_env.root / "ros_home"), str(FASTDDS_PROFILE), None]
        assert child.output().strip() == str(expected)


def test_module_in_child_process_sees_repository_and_harness_and_extra_env(ros_env: RosEnvironment) -> None:
    extra = {"MA_TRT_PROBE": "42"}
    with run_module_in_ros_process("site", ros_env, extra_env=extra) as child:
        assert child.wait(timeout_s=30) == 0
        assert f"'{REPO_ROOT}'," in child.output()
        assert f"'{TEST_DIR}'," in child.output()
    code = "import os, support.ros_harness, ma_trt_ros.ros.pair_sync; print(os.environ['MA_TRT_PROBE'])"
    with run_python_in_ros_process(code, ros_env, "import_probe", extra_env=extra) as child:
        assert child.wait(timeout_s=30) == 0, child.output()
        assert child.output() == "42\n"


def test_concurrent_reservations_get_distinct_domain_ids(tmp_path: Path) -> None:
    with reserved_domain_id(tmp_path) as first, reserved_domain_id(tmp_path) as second:
        assert first != second
        assert {first, second} <= set(range(1, 102))


@pytest.mark.timeout(60)
@pytest.mark.parametrize("reliability", ["reliable", "best_effort"])
def test_1080p_rgb8_images_cross_processes_all_delivered(
    ros_env: RosEnvironment, ros_node: RosTestNode, reliability: str
) -> None:
    from sensor_msgs.msg import Image

    from ma_trt_ros.ros.image_conversion import image_to_numpy

    count = 10
    collector = ros_node.collect(Image, "/harness/image", reliability=reliability)
    args = (str(HEIGHT), str(WIDTH), str(count), "5.0", reliability)
    with run_python_in_ros_process(IMAGE_PUBLISHER, ros_env, "image_publisher", args) as publisher:
        messages = collector.wait_for(count, timeout_s=30.0)
        wait_until(lambda: "published" in publisher.output(), 10.0, "the publisher to finish")
    assert publisher.output().splitlines()[-1] == f"published {count}"
    assert len(collector.messages) == count
    assert [m.header.frame_id for m in messages] == [f"frame{i}" for i in range(count)]
    for index, msg in enumerate(messages):
        assert (msg.height, msg.width, msg.encoding, msg.step) == (HEIGHT, WIDTH, "rgb8", WIDTH * 3)
        np.testing.assert_array_equal(image_to_numpy(msg), expected_pixels(index))


@pytest.mark.timeout(60)
def test_node_in_child_process_answers_each_published_image(ros_env: RosEnvironment, ros_node: RosTestNode) -> None:
    from sensor_msgs.msg import Image
    from std_msgs.msg import String

    from ma_trt_ros.ros.image_conversion import numpy_to_image

    collector = ros_node.collect(String, "/harness/summary")
    publisher = ros_node.publisher(Image, "/harness/summary_in")
    with run_python_in_ros_process(IMAGE_SUMMARY_NODE, ros_env, "image_summary") as child:
        wait_until(lambda: publisher.get_subscription_count() >= 1, 30.0, "the child's subscription")
        collector.wait_for_publishers(1, timeout_s=30.0)
        expected = []
        for index in range(5):
            pixels = np.full((480, 640), 1000 * index + 1, np.uint16)
            msg = numpy_to_image(pixels, "mono16")
            msg.header.frame_id = f"f{index}"
            publisher.publish(msg)
            expected.append(f"f{index} mono16 (480, 640) {int(pixels.sum())}")
        summaries = collector.wait_for(5, timeout_s=30.0)
        assert child.stop() == 0, child.output()
    assert [summary.data for summary in summaries] == expected
