"""The parser/build gate: both real model ports, fp32 and fp16, export -> verify -> check -> TensorRT-RTX build.

This is the only contact with NVIDIA's ONNX parser and builder on our CPU machines (TensorRT-RTX
builds without a GPU). Weights are synthetic files in the release layout; resolutions are small to
keep CPU time down (the DINOv2 ViT-L weights make RoMa's ONNX 1.6 GB at any resolution, which also
exercises the external-data path for real). Large files are deleted as soon as each case is done.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ma_trt_convert import cli
from ma_trt_convert.engine_sidecar import read_sidecar, sidecar_path
from ma_trt_convert.onnx_metadata import read_onnx_metadata

ELOFTR_ROWS = 100  # the match budget: below the 96 cells x 9 = 864 candidates at 64x96, so TopK selects
CASES = {
    "eloftr": ["--height", "64", "--width", "96", "--max-matches", str(ELOFTR_ROWS)],
    "roma": ["--coarse-res", "56", "--upsample-res", "64"],
}


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, list[str]]]:
    """``--checkpoint``/``--dinov2`` arguments per variant, for synthetic release-layout files."""
    folder = tmp_path_factory.mktemp("gate_weights")
    e, r, d = folder / "e.ckpt", folder / "r.ckpt", folder / "d.pth"
    assert cli.main(["random-checkpoint", "--variant", "eloftr", "--output", str(e)]) == 0
    assert cli.main(["random-checkpoint", "--variant", "roma", "--output", str(r), "--dinov2-output", str(d)]) == 0
    yield {"eloftr": ["--checkpoint", str(e)], "roma": ["--checkpoint", str(r), "--dinov2", str(d)]}
    shutil.rmtree(folder)


def _timed(args: list[str], timings: list[str]) -> int:
    start = time.monotonic()
    code = cli.main(args)
    timings.append(f"{args[0]} {time.monotonic() - start:.1f}s")
    return code


@pytest.mark.slow
@pytest.mark.parametrize("precision", ["fp32", "fp16"])
@pytest.mark.parametrize("variant", ["eloftr", "roma"])
def test_export_verify_build_with_tensorrt_rtx(
    variant: str, precision: str, weights: dict[str, list[str]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    onnx_path, plan = tmp_path / f"{variant}_{precision}.onnx", tmp_path / f"{variant}_{precision}.plan"
    timings: list[str] = []
    try:
        export = ["export", "--variant", variant, *weights[variant], "--output", str(onnx_path), *CASES[variant]]
        assert _timed([*export, "--precision", precision], timings) == 0
        meta = read_onnx_metadata(onnx_path)
        assert (meta["variant"], meta["precision"], meta["opset"]) == (variant, precision, "17")
        assert onnx_path.with_name(onnx_path.name + ".data").is_file() == (variant == "roma" and precision == "fp32")

        assert _timed(["verify", "--onnx", str(onnx_path), *weights[variant]], timings) == 0
        verify_out = capsys.readouterr().out
        assert "verify passed" in verify_out

        assert _timed(["check", "--onnx", str(onnx_path), "--target", "desktop-rtx"], timings) == 0
        assert "real parser tensorrt_rtx" in capsys.readouterr().out

        build = ["build", "--onnx", str(onnx_path), "--target", "desktop-rtx", "--output", str(plan)]
        assert _timed(build, timings) == 0
        sidecar = read_sidecar(sidecar_path(plan))
        assert (sidecar.variant, sidecar.precision, sidecar.target) == (variant, precision, "desktop-rtx")
        assert sidecar.plan.size == plan.stat().st_size > 100_000
        assert [t.name for t in sidecar.outputs] == meta["outputs"].split(",")
        if variant == "eloftr":
            assert meta["max_matches"] == str(ELOFTR_ROWS) and f'"max_matches": {ELOFTR_ROWS}' in meta["build_args"]
            assert {t.name: t.shape for t in sidecar.outputs}["keypoints0"] == (1, ELOFTR_ROWS, 2)
            assert "Jaccard 1.0000" in verify_out
        print(f"{variant} {precision}: " + ", ".join(timings) + "\n" + verify_out)
    finally:
        for path in tmp_path.iterdir():
            path.unlink()
