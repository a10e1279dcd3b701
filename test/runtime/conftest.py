"""Fixtures of the runtime tests: synthetic RoMa release files and their exported ONNX (ELoFTR's is in
``test/conftest.py``, shared with the ROS tests)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from support.exported_models import ROMA_RES, ExportedModel


@pytest.fixture(scope="module")
def roma_model(
    tmp_path_factory: pytest.TempPathFactory, roma_release_files: tuple[Path, Path]
) -> Iterator[ExportedModel]:
    """The session's RoMa release files exported fp32 at 56/64 (the ONNX deleted after the module)."""
    import shutil

    from ma_trt_convert import cli

    folder = tmp_path_factory.mktemp("roma_model")
    checkpoint, dinov2 = roma_release_files
    onnx = folder / "roma.onnx"
    coarse, upsample = ROMA_RES
    args = ["export", "--variant", "roma", "--checkpoint", str(checkpoint), "--dinov2", str(dinov2)]
    args += ["--coarse-res", str(coarse), "--upsample-res", str(upsample), "--precision", "fp32", "--output", str(onnx)]
    assert cli.main(args) == 0
    yield ExportedModel(onnx, checkpoint, dinov2, {"coarse_res": coarse, "upsample_res": upsample})
    shutil.rmtree(folder)
