"""The ELoFTR training package (issue 18): supervision geometry, a few CPU training steps that lower the
loss, and the saved file loading strictly and exporting to ONNX unchanged."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

from ma_trt_convert.cli import main
from ma_trt_convert.eloftr import ELoFTRExportModule, load_release_state
from ma_trt_convert.training.config import BatchShape, TrainingConfig
from ma_trt_convert.training.geometry import WarpRange, apply_homography, homography_from_corners, image_corners
from ma_trt_convert.training.metrics import error_auc
from ma_trt_convert.training.objective import LossWeights, compute_losses
from ma_trt_convert.training.pair_batches import ImageBank, PairBatch, procedural_images, render_pairs
from ma_trt_convert.training.photos import extract_photos
from ma_trt_convert.training.supervision import coarse_targets, offset_targets, window_targets
from ma_trt_convert.training.trainer import WEIGHTS_FILE, RunOptions, Trainer

HEIGHT, WIDTH = 64, 96


def _translation(dx: float, dy: float) -> torch.Tensor:
    return torch.tensor([[[1.0, 0.0, dx], [0.0, 1.0, dy], [0.0, 0.0, 1.0]]])


def test_homography_from_corners_maps_the_corners() -> None:
    corners = image_corners(HEIGHT, WIDTH, 1)
    target = corners + torch.tensor([[[3.0, -2.0], [5.0, 1.0], [-4.0, 6.0], [2.0, 2.0]]])
    mapped = apply_homography(homography_from_corners(corners, target), corners)
    assert torch.allclose(mapped, target, atol=1e-3)


def test_supervision_of_a_known_translation() -> None:
    """Shift by (+16, +8) px: cell (cx, cy) -> (cx + 2, cy + 1); window pixel a lands at padded index a + 1 (+1 row)."""
    homography = _translation(16.0, 8.0)
    valid = torch.ones(1, 1, HEIGHT, WIDTH, dtype=torch.bool)
    target = coarse_targets(homography, valid, valid)
    w = WIDTH // 8
    assert target[0, 0].item() == 1 * w + 2
    assert target[0, w - 1].item() == -1  # lands right of image 1
    cell0 = torch.tensor([[0]])
    index, mapped = window_targets(homography, cell0, target[:, :1], valid, valid)
    assert index[0, 0, 0].item() == 1 * 10 + 1  # pixel (0, 0) -> padded (1, 1)
    assert index[0, 0, 63].item() == 8 * 10 + 8  # pixel (7, 7) -> padded (8, 8)
    offset = offset_targets(mapped, target[:, :1], torch.tensor([[9]]), torch.tensor([[9]]), w)
    assert torch.allclose(offset, torch.zeros(1, 1, 2))  # the exact pixel: no sub-pixel offset


def test_held_out_and_forbidden_photographs_are_refused(tmp_path: Path) -> None:
    for name in ("motorcycle_left", "lfw_subset", "not_a_photo"):
        with pytest.raises(ValueError):
            extract_photos(tmp_path, (name,))


def test_error_auc_of_known_errors() -> None:
    assert error_auc([0.0, 0.0], 5.0) == pytest.approx(1.0)
    assert error_auc([10.0, 10.0], 5.0) == pytest.approx(0.0)
    assert error_auc([0.0, np.inf], 5.0) == pytest.approx(0.5, abs=0.06)


def _batch() -> PairBatch:
    bank = ImageBank(procedural_images(2, 128, 4, seed=0), "cpu")
    return render_pairs(bank, 2, HEIGHT, WIDTH, WarpRange(rotation_deg=10, min_scale=0.9, max_scale=1.1), 0.0, seed=1)


def test_training_steps_lower_the_loss() -> None:
    torch.manual_seed(0)
    module = ELoFTRExportModule(HEIGHT, WIDTH).train()
    optimizer = torch.optim.AdamW(module.parameters(), lr=1e-4)
    batch = _batch()
    totals = []
    for _ in range(5):
        losses = compute_losses(module, batch, 8, LossWeights(), torch.Generator().manual_seed(0))
        optimizer.zero_grad()
        losses.total.backward()
        optimizer.step()
        totals.append(float(losses.total.detach()))
    assert all(np.isfinite(totals))
    assert totals[0] == pytest.approx(22.0, abs=1.0)  # untrained: coarse ~12, fine ~ln(6400) = 8.8, offset ~0.5
    assert totals[-1] < totals[0] - 0.3, totals


def test_trained_file_loads_strictly_and_exports(tmp_path: Path) -> None:
    config = TrainingConfig(
        seed=3,
        steps=2,
        shapes=(BatchShape(HEIGHT, WIDTH, 2),),
        fine_rows=8,
        warmup_steps=1,
        procedural_images=2,
        procedural_size=128,
        procedural_shapes=4,
        validation_pairs=1,
        validation_height=HEIGHT,
        validation_width=WIDTH,
        validate_every=2,
    )
    entry = Trainer(config, RunOptions(None, tmp_path, device="cpu")).run()
    assert entry["step"] == 2
    assert len((tmp_path / "log.jsonl").read_text().splitlines()) == 1
    path = tmp_path / WEIGHTS_FILE
    state = load_release_state(path)  # raises unless the keys and shapes are exactly the release layout
    assert len(state) == 447
    assert {v.dtype for k, v in state.items() if not k.endswith("num_batches_tracked")} == {torch.float16}
    assert torch.load(path, weights_only=True)["global_step"] == 2
    assert json.loads(torch.load(path, weights_only=True)["hyper_parameters"])["seed"] == 3
    onnx_path = tmp_path / "trained.onnx"
    arguments = ["export", "--variant", "eloftr", "--checkpoint", str(path), "--output", str(onnx_path)]
    assert main([*arguments, "--height", str(HEIGHT), "--width", str(WIDTH), "--precision", "fp32"]) == 0
    graph = onnx.load(str(onnx_path), load_external_data=False)
    assert [o.name for o in graph.graph.output] == list(ELoFTRExportModule.output_names)
