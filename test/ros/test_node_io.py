"""matchanything_node on real DDS with the fake matcher: message contents, headers and pixel mapping per input mode."""

from __future__ import annotations

import numpy as np
import pytest
from support.fake_matcher import DENSE_COLS, DENSE_ROWS, GRID_COLS, GRID_ROWS, expected_points1, grid_points
from support.image_publisher import FIRST_STAMP_S
from support.node_process import start_node, wait_for_outputs
from support.ros_harness import RosEnvironment, RosTestNode, run_module_in_ros_process, wait_until

from ma_trt_ros.runtime.pictures import GAP_PX

pytestmark = pytest.mark.ros

N_POINTS = GRID_COLS * GRID_ROWS


def publish(env: RosEnvironment, namespace: str, mode: str, count: int, rate_hz: float, *extra: str):
    """Start the image publisher child (see support.image_publisher)."""
    args = (mode, str(count), str(rate_hz), "--namespace", namespace, *extra)
    return run_module_in_ros_process("support.image_publisher", env, args)


def points(field: object) -> np.ndarray:
    """float32 [N, 2] from an interleaved float32[] field."""
    return np.frombuffer(field, np.float32).reshape(-1, 2)


@pytest.mark.timeout(120)
def test_pair_mode_roma_odd_sizes_gives_input_headers_exact_mapping_and_thinned_dense(
    ros_env: RosEnvironment, ros_node: RosTestNode
) -> None:
    from sensor_msgs.msg import Image

    from ma_trt_ros.ros.image_conversion import image_to_numpy
    from ma_trt_ros_interfaces.msg import DenseCorrespondence, Matches

    ns = "/pair_roma"
    matches = ros_node.collect(Matches, f"{ns}/matchanything_node/matches")
    dense = ros_node.collect(DenseCorrespondence, f"{ns}/matchanything_node/dense")
    matches_image = ros_node.collect(Image, f"{ns}/matchanything_node/matches_image")
    certainty_image = ros_node.collect(Image, f"{ns}/matchanything_node/certainty_image")
    params = {
        "model_path": "fake:roma",
        "input_reliability": "reliable",
        "queue_policy": "lossless",
        "queue_size": 10,
        "dense_stride": 2,
        "geometry": "homography",
    }
    with start_node(ros_env, ns, params) as node:
        wait_for_outputs([matches, dense, matches_image, certainty_image])
        with publish(ros_env, ns, "pair", 3, 5.0, "--size0", "37x29", "--size1", "45x31"):
            received = matches.wait_for(3, timeout_s=60.0)
            dense_received = dense.wait_for(3, timeout_s=10.0)
            pictures = matches_image.wait_for(3, timeout_s=10.0)[2], certainty_image.wait_for(3, timeout_s=10.0)[2]
        assert node.returncode is None, node.output()
    assert [m.header0.stamp.sec for m in received] == [FIRST_STAMP_S + i for i in range(3)]
    assert [m.header1.stamp.sec for m in received] == [FIRST_STAMP_S + i for i in range(3)]
    msg = received[2]
    assert (msg.header0.frame_id, msg.header1.frame_id, msg.count) == ("cam0", "cam1", N_POINTS)
    assert (msg.model_variant, msg.engine_id) == ("roma", "fake:roma@00000000")
    np.testing.assert_array_equal(points(msg.points0), grid_points((37, 29)))
    np.testing.assert_allclose(
        points(msg.points1), expected_points1(grid_points((37, 29)), (37, 29), (45, 31)), atol=1e-5
    )
    np.testing.assert_allclose(np.frombuffer(msg.confidence, np.float32)[:2], [2 / 255, 2 / 255], rtol=1e-6)
    # The double's mapping is affine: the homography is that affine map and every match is an inlier.
    H = np.array(msg.geometry).reshape(3, 3)
    expected_H = np.array([[45 / 37, 0, 0.25], [0, 31 / 29, -0.5], [0, 0, 1]])
    np.testing.assert_allclose(H / H[2, 2], expected_H, atol=1e-3)
    assert (msg.geometry_type, list(msg.inliers)) == (Matches.GEOMETRY_HOMOGRAPHY, [1] * N_POINTS)

    d = dense_received[1]
    assert (d.header0.stamp.sec, d.header0.frame_id, d.header1.frame_id) == (FIRST_STAMP_S + 1, "cam0", "cam1")
    assert (d.image0_width, d.image0_height, d.image1_width, d.image1_height) == (37, 29, 45, 31)
    warp, certainty = image_to_numpy(d.warp), image_to_numpy(d.certainty)
    assert warp.shape == (DENSE_ROWS // 2, DENSE_COLS // 2, 2) and certainty.shape == (DENSE_ROWS // 2, DENSE_COLS // 2)
    assert (d.grid_scale_x, d.grid_scale_y) == pytest.approx((37 / DENSE_COLS * 2, 29 / DENSE_ROWS * 2))
    rows, cols = certainty.shape
    centres = np.stack(
        np.meshgrid((np.arange(cols) + 0.5) * d.grid_scale_x, (np.arange(rows) + 0.5) * d.grid_scale_y), -1
    )
    np.testing.assert_allclose(
        warp,
        expected_points1(centres.reshape(-1, 2).astype(np.float32), (37, 29), (45, 31)).reshape(rows, cols, 2),
        atol=1e-4,
    )
    np.testing.assert_allclose(certainty, 1 / 255, rtol=1e-6)
    # Pictures (subscribed here): side by side (37 + gap + 45 wide, as tall as the taller image); the
    # certainty heatmap at image 0's size.
    assert [(p.encoding, p.height, p.width, p.header.stamp.sec) for p in pictures] == [
        ("rgb8", 31, 37 + GAP_PX + 45, FIRST_STAMP_S + 2),
        ("rgb8", 29, 37, FIRST_STAMP_S + 2),
    ]


def confidences(msg: object) -> tuple[float, float]:
    """The fake's encoded (image-0 value, image-1 value) of a Matches message, as 0..255 integers."""
    values = np.frombuffer(msg.confidence, np.float32)
    return round(float(values[0]) * 255), round(float(values[1]) * 255)


@pytest.mark.timeout(120)
def test_sequential_mode_pairs_frame_t_with_frame_t_minus_k(ros_env: RosEnvironment, ros_node: RosTestNode) -> None:
    from ma_trt_ros_interfaces.msg import Matches

    ns = "/sequential"
    matches = ros_node.collect(Matches, f"{ns}/matchanything_node/matches")
    params = {
        "model_path": "fake:eloftr",
        "input_mode": "sequential",
        "sequential_stride": 2,
        "input_reliability": "reliable",
        "queue_policy": "lossless",
        "queue_size": 10,
    }
    with start_node(ros_env, ns, params):
        wait_for_outputs([matches])
        with publish(ros_env, ns, "single", 6, 10.0, "--size0", "33x21") as child:
            received = matches.wait_for(4, timeout_s=60.0)
            wait_until(lambda: "published" in child.output(), 10.0, "the publisher to finish")
    assert len(received) == 4
    assert [(m.header0.stamp.sec, m.header1.stamp.sec) for m in received] == [(100 + t, 98 + t) for t in range(2, 6)]
    assert [confidences(m) for m in received] == [(t, t - 2) for t in range(2, 6)]
    assert {(m.header0.frame_id, m.header1.frame_id) for m in received} == {("cam", "cam")}
    np.testing.assert_allclose(
        points(received[0].points1), expected_points1(grid_points((33, 21)), (33, 21), (33, 21)), atol=1e-5
    )


@pytest.mark.timeout(120)
def test_reference_mode_with_latched_reference_topic(ros_env: RosEnvironment, ros_node: RosTestNode) -> None:
    from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import Image
    from std_msgs.msg import Header

    from ma_trt_ros.ros.image_conversion import numpy_to_image
    from ma_trt_ros_interfaces.msg import Matches

    ns = "/reference_topic"
    latched = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)
    reference_publisher = ros_node.node.create_publisher(Image, f"{ns}/reference", latched)
    header = Header(frame_id="map")
    header.stamp.sec = 7
    reference_publisher.publish(numpy_to_image(np.full((19, 23), 200, np.uint8), "mono8", header=header))
    matches = ros_node.collect(Matches, f"{ns}/matchanything_node/matches")
    params = {
        "model_path": "fake:roma",
        "input_mode": "reference",
        "input_reliability": "reliable",
        "queue_policy": "lossless",
        "queue_size": 10,
        "publish_dense": False,
    }
    with start_node(ros_env, ns, params):
        wait_for_outputs([matches])
        with publish(ros_env, ns, "single", 3, 5.0, "--size0", "31x27"):
            received = matches.wait_for(3, timeout_s=60.0)
    assert [(m.header0.stamp.sec, m.header0.frame_id) for m in received] == [(100, "cam"), (101, "cam"), (102, "cam")]
    assert {(m.header1.stamp.sec, m.header1.frame_id) for m in received} == {(7, "map")}
    assert [confidences(m) for m in received] == [(0, 200), (1, 200), (2, 200)]
    np.testing.assert_allclose(
        points(received[2].points1), expected_points1(grid_points((31, 27)), (31, 27), (23, 19)), atol=1e-5
    )


@pytest.mark.timeout(120)
def test_reference_mode_with_reference_file(ros_env: RosEnvironment, ros_node: RosTestNode, tmp_path) -> None:
    import cv2

    from ma_trt_ros_interfaces.msg import Matches

    reference = tmp_path / "template.png"
    assert cv2.imwrite(str(reference), np.full((17, 41), 99, np.uint8))
    ns = "/reference_file"
    matches = ros_node.collect(Matches, f"{ns}/matchanything_node/matches")
    params = {
        "model_path": "fake:eloftr",
        "input_mode": "reference",
        "reference_image": str(reference),
        "reference_frame_id": "template",
        "input_reliability": "reliable",
        "queue_policy": "lossless",
        "queue_size": 10,
        "geometry": "fundamental",
    }
    with start_node(ros_env, ns, params):
        wait_for_outputs([matches])
        with publish(ros_env, ns, "single", 2, 5.0, "--size0", "29x35"):
            received = matches.wait_for(2, timeout_s=60.0)
    assert [confidences(m) for m in received] == [(0, 99), (1, 99)]
    assert {(m.header1.frame_id, m.header1.stamp.sec) for m in received} == {("template", 0)}
    np.testing.assert_allclose(
        points(received[1].points1), expected_points1(grid_points((29, 35)), (29, 35), (41, 17)), atol=1e-5
    )
    # An affine map satisfies the epipolar constraint of the fitted F exactly: every match is an inlier.
    msg = received[1]
    F = np.array(msg.geometry).reshape(3, 3)
    p0 = np.c_[points(msg.points0), np.ones(msg.count)]
    p1 = np.c_[points(msg.points1), np.ones(msg.count)]
    assert msg.geometry_type == Matches.GEOMETRY_FUNDAMENTAL and list(msg.inliers) == [1] * msg.count
    assert np.abs(np.einsum("ni,ij,nj->n", p1, F / np.linalg.norm(F), p0)).max() < 1e-3
