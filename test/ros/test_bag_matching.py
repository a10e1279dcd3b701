"""ma-trt-bag: offline matching of a bag with the node's pairing rules, written to a new bag (no DDS)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from support.fake_matcher import DENSE_COLS, DENSE_ROWS, expected_points1, grid_points
from support.node_process import FAKE_FACTORY

from ma_trt_ros.runtime.pictures import GAP_PX

pytestmark = pytest.mark.ros


@pytest.fixture
def fake_factory(monkeypatch: pytest.MonkeyPatch) -> None:
    from ma_trt_ros.ros.matcher_factory import FACTORY_VARIABLE

    monkeypatch.setenv(FACTORY_VARIABLE, FAKE_FACTORY)


def image(value: int, size: tuple[int, int], stamp_ms: int, frame_id: str) -> object:
    """mono8 Image of (width, height) filled with ``value``, stamped ``stamp_ms`` ms."""
    from std_msgs.msg import Header

    from ma_trt_ros.ros.image_conversion import numpy_to_image

    header = Header(frame_id=frame_id)
    header.stamp.sec, header.stamp.nanosec = stamp_ms // 1000, (stamp_ms % 1000) * 1_000_000
    return numpy_to_image(np.full((size[1], size[0]), value, np.uint8), "mono8", header=header)


def read_outputs(bag: Path, topic: str, msg_type: type) -> list[tuple[int, object]]:
    """(bag time ns, message) of ``topic`` in ``bag``."""
    from ma_trt_ros.ros.bag_io import deserialize, read_messages

    return [(m.time_ns, deserialize(m.cdr, msg_type)) for m in read_messages(bag, [topic])]


def test_pair_mode_batches_every_synchronised_pair_into_the_output_bag(fake_factory: None, tmp_path: Path) -> None:
    from sensor_msgs.msg import Image

    from ma_trt_ros.ros.bag_io import write_image_bag
    from ma_trt_ros.ros.bag_matching import main
    from ma_trt_ros_interfaces.msg import DenseCorrespondence, Matches

    frames = []
    for k in range(7):
        frames.append(("/left", image(k, (41, 33), 1000 + 100 * k, "left")))
        frames.append(("/right", image(100 + k, (35, 27), 1000 + 100 * k + 3, "right")))  # 3 ms later: within slop
    frames.append(("/right", image(9, (35, 27), 1650, "right")))  # no partner within 10 ms
    write_image_bag(tmp_path / "in", frames)
    argv = [str(tmp_path / "in"), str(tmp_path / "out"), "--model", "fake:roma", "--image0", "/left"]
    argv += ["--image1", "/right", "--batch", "3", "--dense-stride", "4", "--pictures", "--no-progress"]
    assert main(argv) == 0
    matches = read_outputs(tmp_path / "out", "/matchanything/matches", Matches)
    assert [t for t, _ in matches] == [(1000 + 100 * k) * 1_000_000 for k in range(7)]
    assert [(m.header0.frame_id, m.header1.stamp.nanosec) for _, m in matches][:2] == [
        ("left", 3_000_000),
        ("left", 103_000_000),
    ]
    values = [np.rint(np.frombuffer(m.confidence, np.float32)[:2] * 255).tolist() for _, m in matches]
    assert values == [[k, 100 + k] for k in range(7)]
    points1 = np.frombuffer(matches[4][1].points1, np.float32).reshape(-1, 2)
    np.testing.assert_allclose(points1, expected_points1(grid_points((41, 33)), (41, 33), (35, 27)), atol=1e-5)
    dense = read_outputs(tmp_path / "out", "/matchanything/dense", DenseCorrespondence)
    assert len(dense) == 7 and (dense[0][1].warp.height, dense[0][1].warp.width) == (DENSE_ROWS // 4, DENSE_COLS // 4)
    pictures = read_outputs(tmp_path / "out", "/matchanything/matches_image", Image)
    assert len(pictures) == 7 and (pictures[0][1].width, pictures[0][1].height) == (41 + GAP_PX + 35, 33)
    assert len(read_outputs(tmp_path / "out", "/matchanything/certainty_image", Image)) == 7


def test_sequential_mode_and_mcap_output(fake_factory: None, tmp_path: Path) -> None:
    from ma_trt_ros.ros.bag_io import write_image_bag
    from ma_trt_ros.ros.bag_matching import main
    from ma_trt_ros_interfaces.msg import Matches

    write_image_bag(tmp_path / "in", [("/cam", image(k, (20, 16), 100 * k, "cam")) for k in range(5)], "mcap")
    argv = [str(tmp_path / "in"), str(tmp_path / "out"), "--model", "fake:eloftr", "--image", "/cam"]
    argv += ["--mode", "sequential", "--stride", "2", "--storage", "mcap", "--geometry", "homography", "--no-progress"]
    assert main(argv) == 0
    matches = [m for _, m in read_outputs(tmp_path / "out", "/matchanything/matches", Matches)]
    assert [(m.header0.stamp.nanosec // 1_000_000, m.header1.stamp.nanosec // 1_000_000) for m in matches] == [
        (200, 0),
        (300, 100),
        (400, 200),
    ]
    assert all(m.geometry_type == Matches.GEOMETRY_HOMOGRAPHY and sum(m.inliers) == m.count for m in matches)
