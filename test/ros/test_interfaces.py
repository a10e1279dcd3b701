"""The generated ma_trt_ros_interfaces messages: fields, constants, and both messages crossing processes."""

from __future__ import annotations

import array

import numpy as np
import pytest
from support.ros_harness import RosEnvironment, RosTestNode, run_python_in_ros_process, wait_until

pytestmark = pytest.mark.ros

GRID_H, GRID_W, MATCHES = 60, 80, 1000

PUBLISHER = """
import array
import numpy as np
from support.ros_harness import publish_in_child
from ma_trt_ros_interfaces.msg import DenseCorrespondence, Matches
from ma_trt_ros.ros.image_conversion import numpy_to_image

GRID_H, GRID_W, N = 60, 80, 1000

def dense(index):
    msg = DenseCorrespondence()
    msg.header0.frame_id, msg.header1.frame_id = "cam_left", "cam_thermal"
    msg.header0.stamp.sec, msg.header1.stamp.nanosec = index, 500
    msg.image0_width, msg.image0_height, msg.image1_width, msg.image1_height = 640, 480, 320, 256
    warp = np.stack(np.meshgrid(np.arange(GRID_W), np.arange(GRID_H)), -1).astype(np.float32) + index
    msg.warp = numpy_to_image(warp, "32FC2")
    ramp = np.linspace(0, 1, GRID_H * GRID_W, dtype=np.float32)
    msg.certainty = numpy_to_image(ramp.reshape(GRID_H, GRID_W), "32FC1")
    msg.grid_scale_x, msg.grid_scale_y = 8.0, 8.0
    msg.model_variant, msg.engine_id, msg.inference_latency_ms = "roma", "roma_560_864.plan@abc123", 12.5
    return msg

def matches(index):
    msg = Matches()
    msg.header0.frame_id = "cam_left"
    msg.count = N
    points = np.arange(2 * N, dtype=np.float32) * 0.5 + index
    msg.points0 = array.array("f", points.tobytes())
    msg.points1 = array.array("f", (points + 1).tobytes())
    msg.confidence = array.array("f", np.linspace(0, 1, N, dtype=np.float32).tobytes())
    msg.geometry_type = Matches.GEOMETRY_HOMOGRAPHY
    msg.geometry = [1.0, 0.0, 2.0, 0.0, 1.0, 3.0, 0.0, 0.0, 1.0]
    msg.inliers = bytes([i % 2 for i in range(N)])
    msg.model_variant = "eloftr"
    return msg

kind = __import__("sys").argv[1]
if kind == "dense":
    publish_in_child(DenseCorrespondence, "/interfaces/dense", dense, 3, 5.0)
else:
    publish_in_child(Matches, "/interfaces/matches", matches, 3, 5.0)
"""


def test_generated_classes_have_the_documented_fields_and_constants() -> None:
    from ma_trt_ros_interfaces.msg import DenseCorrespondence, Matches

    dense_fields = DenseCorrespondence.get_fields_and_field_types()
    assert dense_fields["warp"] == dense_fields["certainty"] == "sensor_msgs/Image"
    assert dense_fields["header0"] == dense_fields["header1"] == "std_msgs/Header"
    assert dense_fields["grid_scale_x"] == "float" and dense_fields["inference_latency_ms"] == "float"
    match_fields = Matches.get_fields_and_field_types()
    assert match_fields["points0"] == "sequence<float>" and match_fields["geometry"] == "double[9]"
    assert match_fields["inliers"] == "sequence<uint8>"
    assert (Matches.GEOMETRY_NONE, Matches.GEOMETRY_HOMOGRAPHY, Matches.GEOMETRY_FUNDAMENTAL) == (0, 1, 2)


@pytest.mark.timeout(90)
def test_dense_correspondence_crosses_processes_intact(ros_env: RosEnvironment, ros_node: RosTestNode) -> None:
    from ma_trt_ros.ros.image_conversion import image_to_numpy
    from ma_trt_ros_interfaces.msg import DenseCorrespondence

    collector = ros_node.collect(DenseCorrespondence, "/interfaces/dense")
    with run_python_in_ros_process(PUBLISHER, ros_env, "dense_publisher", ("dense",)) as child:
        messages = collector.wait_for(3, timeout_s=40.0)
        wait_until(lambda: "published" in child.output(), 10.0, "the publisher to finish")
    assert [m.header0.stamp.sec for m in messages] == [0, 1, 2]
    msg = messages[2]
    assert (msg.header0.frame_id, msg.header1.frame_id, msg.header1.stamp.nanosec) == ("cam_left", "cam_thermal", 500)
    assert (msg.image0_width, msg.image0_height, msg.image1_width, msg.image1_height) == (640, 480, 320, 256)
    warp = image_to_numpy(msg.warp)
    assert msg.warp.encoding == "32FC2" and warp.shape == (GRID_H, GRID_W, 2)
    assert warp[5, 7].tolist() == [7.0 + 2, 5.0 + 2]
    certainty = image_to_numpy(msg.certainty)
    assert msg.certainty.encoding == "32FC1" and certainty[-1, -1] == 1.0 and certainty[0, 0] == 0.0
    assert (msg.grid_scale_x, msg.model_variant, msg.engine_id) == (8.0, "roma", "roma_560_864.plan@abc123")
    assert msg.inference_latency_ms == pytest.approx(12.5)


@pytest.mark.timeout(90)
def test_matches_cross_processes_intact(ros_env: RosEnvironment, ros_node: RosTestNode) -> None:
    from ma_trt_ros_interfaces.msg import Matches

    collector = ros_node.collect(Matches, "/interfaces/matches")
    with run_python_in_ros_process(PUBLISHER, ros_env, "matches_publisher", ("matches",)) as child:
        messages = collector.wait_for(3, timeout_s=40.0)
        wait_until(lambda: "published" in child.output(), 10.0, "the publisher to finish")
    msg = messages[1]
    assert msg.count == MATCHES and isinstance(msg.points0, array.array)
    points0 = np.frombuffer(msg.points0, np.float32)
    np.testing.assert_array_equal(points0, np.arange(2 * MATCHES, dtype=np.float32) * 0.5 + 1)
    np.testing.assert_array_equal(np.frombuffer(msg.points1, np.float32), points0 + 1)
    assert np.frombuffer(msg.confidence, np.float32)[-1] == 1.0
    assert msg.geometry_type == Matches.GEOMETRY_HOMOGRAPHY
    assert list(msg.geometry) == [1.0, 0.0, 2.0, 0.0, 1.0, 3.0, 0.0, 0.0, 1.0]
    assert sum(msg.inliers) == MATCHES // 2 and len(msg.inliers) == MATCHES
