"""matchanything_node on real DDS with the fake matcher: message contents, headers and pixel mapping per input mode."""

from __future__ import annotations

import numpy as np
import pytest
from ros_harness import RosEnvironment, RosTestNode, run_module_in_ros_process
from support.fake_matcher import DENSE_COLS, DENSE_ROWS, GRID_COLS, GRID_ROWS, expected_points1, grid_points
from support.image_publisher import FIRST_STAMP_S
from support.node_process import start_node

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
    from ma_trt_ros.ros.image_conversion import image_to_numpy
    from ma_trt_ros_interfaces.msg import DenseCorrespondence, Matches

    ns = "/pair_roma"
    matches = ros_node.collect(Matches, f"{ns}/matchanything_node/matches")
    dense = ros_node.collect(DenseCorrespondence, f"{ns}/matchanything_node/dense")
    params = {"model_path": "fake:roma", "input_reliability": "reliable", "queue_policy": "lossless",
              "queue_size": 10, "dense_stride": 2, "geometry": "homography"}
    with start_node(ros_env, ns, params) as node, publish(ros_env, ns, "pair", 3, 5.0, "--size0", "37x29", "--size1", "45x31"):
        received = matches.wait_for(3, timeout_s=60.0)
        dense_received = dense.wait_for(3, timeout_s=10.0)
        assert node.returncode is None, node.output()
    assert [m.header0.stamp.sec for m in received] == [FIRST_STAMP_S + i for i in range(3)]
    assert [m.header1.stamp.sec for m in received] == [FIRST_STAMP_S + i for i in range(3)]
    msg = received[2]
    assert (msg.header0.frame_id, msg.header1.frame_id, msg.count) == ("cam0", "cam1", N_POINTS)
    assert (msg.model_variant, msg.engine_id) == ("roma", "fake:roma@00000000")
    np.testing.assert_array_equal(points(msg.points0), grid_points((37, 29)))
    np.testing.assert_allclose(points(msg.points1), expected_points1(grid_points((37, 29)), (37, 29), (45, 31)), atol=1e-5)
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
    centres = np.stack(np.meshgrid((np.arange(cols) + 0.5) * d.grid_scale_x, (np.arange(rows) + 0.5) * d.grid_scale_y), -1)
    np.testing.assert_allclose(warp, expected_points1(centres.reshape(-1, 2).astype(np.float32), (37, 29), (45, 31)).reshape(rows, cols, 2), atol=1e-4)
    np.testing.assert_allclose(certainty, 1 / 255, rtol=1e-6)
