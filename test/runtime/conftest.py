"""Fixtures of the runtime tests: synthetic release-layout weights and their exported ONNX files."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from support.exported_models import ELOFTR_ROWS, ELOFTR_SIZE, ROMA_RES, ExportedModel, textured_images


@pytest.fixture(scope="session")
def eloftr_model(tmp_path_factory: pytest.TempPathFactory) -> ExportedModel:
    """ELoFTR weights rescaled to match the textured pair (many matches), exported fp32 at 160x224."""
    import torch

    from ma_trt_convert import cli
    from ma_trt_convert.synthetic.eloftr_weights import matching_state
    from ma_trt_convert.weights.checkpoint import load_layout, random_state_dict, write_release_file

    folder = tmp_path_factory.mktemp("eloftr_model")
    checkpoint, onnx = folder / "matchanything_eloftr.ckpt", folder / "eloftr.onnx"
    pair = [torch.from_numpy(image)[None, None] for image in textured_images(*ELOFTR_SIZE)]
    layout = load_layout("matchanything_eloftr")
    write_release_file(matching_state(random_state_dict(layout, 0), *pair), layout, checkpoint)
    height, width = ELOFTR_SIZE
    args = ["export", "--variant", "eloftr", "--checkpoint", str(checkpoint), "--output", str(onnx)]
    args += ["--height", str(height), "--width", str(width), "--max-matches", str(ELOFTR_ROWS), "--precision", "fp32"]
    assert cli.main(args) == 0
    return ExportedModel(onnx, checkpoint, None, {"height": height, "width": width, "max_matches": ELOFTR_ROWS})


@pytest.fixture(scope="module")
def roma_model(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ExportedModel]:
    """Seeded RoMa release files (1.6 GB with DINOv2) exported fp32 at 56/64; deleted after the module."""
    import shutil

    from ma_trt_convert import cli

    folder = tmp_path_factory.mktemp("roma_model")
    checkpoint, dinov2, onnx = folder / "r.ckpt", folder / "d.pth", folder / "roma.onnx"
    assert (
        cli.main(
            ["random-checkpoint", "--variant", "roma", "--output", str(checkpoint), "--dinov2-output", str(dinov2)]
        )
        == 0
    )
    coarse, upsample = ROMA_RES
    args = ["export", "--variant", "roma", "--checkpoint", str(checkpoint), "--dinov2", str(dinov2)]
    args += ["--coarse-res", str(coarse), "--upsample-res", str(upsample), "--precision", "fp32", "--output", str(onnx)]
    assert cli.main(args) == 0
    yield ExportedModel(onnx, checkpoint, dinov2, {"coarse_res": coarse, "upsample_res": upsample})
    shutil.rmtree(folder)
