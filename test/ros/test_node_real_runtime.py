"""matchanything_node with the real runtime (ONNX Runtime on the CPU, the shipped trained ELoFTR weights
exported to ONNX) over real DDS: a held-out photograph and its warps by known homographies go in; the
published matches and homographies must agree with the truth."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from support.node_process import start_node, wait_for_outputs
from support.ros_harness import RosEnvironment, RosTestNode, wait_until

pytestmark = pytest.mark.ros

REPO_ROOT = Path(__file__).resolve().parents[2]
WEIGHTS = REPO_ROOT / "weights" / "matchanything_eloftr_trained.ckpt"
PHOTOGRAPH = REPO_ROOT / "scripts" / "demo_data" / "astronaut.png"  # held out from training
SIZE = (256, 320)  # camera = network height, width
PAIRS = 3


@pytest.fixture(scope="module")
def trained_onnx(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped trained weights exported fp32 at :data:`SIZE`."""
    from ma_trt_convert import cli

    onnx = tmp_path_factory.mktemp("trained") / "eloftr_trained.onnx"
    args = ["export", "--variant", "eloftr", "--checkpoint", str(WEIGHTS), "--output", str(onnx)]
    assert cli.main([*args, "--height", str(SIZE[0]), "--width", str(SIZE[1]), "--precision", "fp32"]) == 0
    return onnx


def _image_message(pixels: np.ndarray, stamp_s: int, frame: str) -> object:
    from std_msgs.msg import Header

    from ma_trt_ros.ros.image_conversion import numpy_to_image

    header = Header(frame_id=frame)
    header.stamp.sec = stamp_s
    return numpy_to_image(pixels, "mono8", header=header)


@pytest.mark.timeout(420)
def test_the_node_on_onnx_runtime_publishes_matches_and_homographies_that_agree_with_the_truth(
    ros_env: RosEnvironment, ros_node: RosTestNode, trained_onnx: Path
) -> None:
    import cv2
    from sensor_msgs.msg import Image

    from ma_trt_convert.training.metrics import corner_error, match_errors
    from ma_trt_convert.training.photo_pairs import known_homography, warped_pair
    from ma_trt_ros_interfaces.msg import Matches

    height, width = SIZE
    photo = cv2.resize(cv2.imread(str(PHOTOGRAPH), cv2.IMREAD_GRAYSCALE), (width, height), interpolation=cv2.INTER_AREA)
    truths = [known_homography(k, height, width) for k in range(PAIRS)]
    ns = "/real_runtime"
    matches = ros_node.collect(Matches, f"{ns}/matchanything_node/matches")
    publishers = [ros_node.publisher(Image, f"{ns}/{topic}") for topic in ("image0", "image1")]
    params = {
        "model_path": str(trained_onnx),
        "backend": "onnxruntime",
        "expected_variant": "eloftr",
        "queue_policy": "lossless",
        "geometry": "homography",
    }
    with start_node(ros_env, ns, params, factory=None) as node:
        wait_for_outputs([matches])
        for publisher in publishers:
            wait_until(lambda p=publisher: p.get_subscription_count() > 0, 60.0, "the node's image subscriptions")
        for k, truth in enumerate(truths):
            image0, image1 = warped_pair(photo, truth, k)
            publishers[0].publish(_image_message(image0, 100 + k, "cam0"))
            publishers[1].publish(_image_message(image1, 100 + k, "cam1"))
        received = matches.wait_for(PAIRS, timeout_s=300.0)
        assert node.returncode is None, node.output()
    assert "on onnxruntime" in node.output()
    assert [m.header0.stamp.sec for m in received] == [100 + k for k in range(PAIRS)]
    for msg, truth in zip(received, truths, strict=True):
        assert (msg.model_variant, msg.engine_id.split("@")[0]) == ("eloftr", trained_onnx.name)
        points0 = np.frombuffer(msg.points0, np.float32).reshape(-1, 2).astype(np.float64)
        points1 = np.frombuffer(msg.points1, np.float32).reshape(-1, 2).astype(np.float64)
        assert msg.count == len(points0) >= 100
        within_3px = float(np.mean(match_errors(truth, points0, points1) < 3.0))
        assert within_3px >= 0.9, within_3px
        assert msg.geometry_type == Matches.GEOMETRY_HOMOGRAPHY
        published = np.array(msg.geometry).reshape(3, 3)
        assert corner_error(truth, published / published[2, 2], height, width) < 3.0
