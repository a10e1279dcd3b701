"""The runtime on a dynamic-size ELoFTR graph: each call runs at the size the camera image asks for.

One ONNX exported with ``--size-range 224x224:512x512`` runs in ONNX Runtime; each call's network
size is ``SizeRange.fit`` of the camera size; the matches in camera pixels must equal those of the
fixed-size PyTorch port built for that network size (the torch backend), which the parity tests tie
to upstream.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import onnx
import pytest
import torch
from support.exported_models import textured_images

from ma_trt_convert import cli
from ma_trt_convert.synthetic.eloftr_weights import matching_state
from ma_trt_convert.verify.compare import Tolerances
from ma_trt_convert.weights.checkpoint import load_layout, random_state_dict, write_release_file
from ma_trt_ros.contract.sizes import SizeRange
from ma_trt_ros.runtime import BackendSettings, ModelError, open_matcher

TRACED = (224, 288)
RANGE = "224x224:512x512"
ROWS = 500


@pytest.fixture(scope="module")
def dynamic_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """``(checkpoint, dynamic ONNX)``: weights rescaled to match the textured pair, exported over :data:`RANGE`."""
    folder = tmp_path_factory.mktemp("eloftr_dynamic_runtime")
    checkpoint, path = folder / "matchanything_eloftr.ckpt", folder / "eloftr_dynamic.onnx"
    pair = [torch.from_numpy(image)[None, None] for image in textured_images(*TRACED)]
    layout = load_layout("matchanything_eloftr")
    write_release_file(matching_state(random_state_dict(layout, 0), *pair), layout, checkpoint)
    args = ["export", "--variant", "eloftr", "--checkpoint", str(checkpoint), "--output", str(path), "--precision"]
    args += ["fp32", "--height", str(TRACED[0]), "--width", str(TRACED[1]), "--max-matches", str(ROWS)]
    assert cli.main([*args, "--size-range", RANGE]) == 0
    return checkpoint, path


def _camera_pair(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """The textured pair drawn at ``height × width`` camera pixels, as uint8 grayscale."""
    return tuple((image * 255).round().astype(np.uint8) for image in textured_images(height, width))


def test_backend_reports_the_range_and_open_axes(dynamic_model: tuple[Path, Path]) -> None:
    with open_matcher(dynamic_model[1], backend="onnxruntime") as matcher:
        backend = matcher._backend
        assert backend.size_range == SizeRange.parse(RANGE)
        assert [spec.shape for spec in backend.inputs] == [(1, 1, -1, -1)] * 2
        assert matcher.input_specs((480, 640), (224, 288))["image0"].shape == (1, 1, 384, 512)  # scaled to fit 512
        assert matcher.input_specs((224, 288), (480, 640))["image1"].shape == (1, 1, 224, 288)  # follows image 0


@pytest.mark.parametrize(("camera", "network"), [((224, 288), (224, 288)), ((480, 640), (384, 512))])
def test_matches_equal_the_fixed_size_port_at_the_chosen_size(
    dynamic_model: tuple[Path, Path], camera: tuple[int, int], network: tuple[int, int]
) -> None:
    checkpoint, path = dynamic_model
    image0, image1 = _camera_pair(*network)
    if camera != network:  # the camera sees the same scene at its own resolution
        image0, image1 = (cv2.resize(i, camera[::-1], interpolation=cv2.INTER_LINEAR) for i in (image0, image1))
    build_args = {"height": network[0], "width": network[1], "max_matches": ROWS}
    fixed = open_matcher(checkpoint, "torch", settings=BackendSettings(device="cpu", build_args=build_args))
    with open_matcher(path, backend="onnxruntime") as dynamic, fixed:
        ours, reference = dynamic.match(image0, image1), fixed.match(image0, image1)
    tolerances = Tolerances.default("fp32")  # ONNX Runtime and PyTorch round differently on the CPU
    assert len(ours.points0) == len(reference.points0) >= 20
    np.testing.assert_allclose(ours.points0, reference.points0, atol=tolerances.px_p99)
    np.testing.assert_allclose(ours.points1, reference.points1, atol=tolerances.px_p99)
    np.testing.assert_allclose(ours.confidence, reference.confidence, atol=tolerances.score_max)
    assert ours.image0.width == camera[1] and ours.image0.height == camera[0]
    assert ours.points0[:, 0].max() > 0.6 * camera[1]  # pixels of the camera image, not of the network


def test_successive_calls_at_other_sizes_each_get_their_own_size(dynamic_model: tuple[Path, Path]) -> None:
    with open_matcher(dynamic_model[1], backend="onnxruntime") as matcher:
        first = matcher.match(*_camera_pair(224, 288))
        other = matcher.match(*_camera_pair(256, 256))
        again = matcher.match(*_camera_pair(224, 288))
    assert len(first.points0) >= 20 and len(other.points0) >= 20
    np.testing.assert_array_equal(first.points1, again.points1)
    assert other.points0[:, 1].max() > 200  # the 256-row image was not cut to 224 rows


def test_dynamic_axes_without_a_size_range_are_refused(dynamic_model: tuple[Path, Path], tmp_path: Path) -> None:
    model = onnx.load(str(dynamic_model[1]))
    kept = [entry for entry in model.metadata_props if entry.key not in ("size_range", "size_multiple")]
    del model.metadata_props[:]
    model.metadata_props.extend(kept)
    stripped = tmp_path / "no_range.onnx"
    onnx.save(model, str(stripped))
    with pytest.raises(ModelError, match="without a size range"):
        open_matcher(stripped, backend="onnxruntime")
