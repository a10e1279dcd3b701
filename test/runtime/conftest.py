"""Fixtures of the runtime tests: synthetic release-layout weights and their exported ONNX files."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

ELOFTR_SIZE = (160, 224)  # network height, width
ELOFTR_ROWS = 200
ROMA_RES = (56, 64)  # coarse, upsample


@dataclass(frozen=True)
class ExportedModel:
    """Release-layout weights, the ONNX exported from them, and the ``--checkpoint``/``--dinov2`` paths."""

    onnx: Path
    checkpoint: Path
    dinov2: Path | None
    build_args: dict[str, int]


def textured_images(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """The converter's shifted textured pair as float32 ``[H, W]`` arrays in [0, 1]."""
    from ma_trt_convert.synthetic.pairs import textured_pair

    first, second = textured_pair(height, width)
    return first[0, 0].numpy(), second[0, 0].numpy()


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
