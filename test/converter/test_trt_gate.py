"""The parser/build gate: both real model ports, fp32 and fp16, export -> verify -> check -> TensorRT-RTX build.

This is the only contact with NVIDIA's ONNX parser and builder on our CPU machines (TensorRT-RTX
builds without a GPU). Weights are synthetic files in the release layout (ELoFTR's rescaled by
``matching_state`` for ``verify --pair shifted``, so that ``verify`` compares many matches);
resolutions are small to keep CPU time down (the DINOv2 ViT-L weights make RoMa's ONNX 1.6 GB at
any resolution, which also exercises the external-data path for real). Large files are deleted as
soon as each case is done. fp16 graphs are verified the fp16 way (against PyTorch's own fp16
deviation from fp32, docs/conversion.md), with no tolerances of their own.
"""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from support.exported_models import ROMA_RES

from ma_trt_convert import cli
from ma_trt_convert.onnx.metadata import read_onnx_metadata
from ma_trt_convert.synthetic.eloftr_weights import matching_state
from ma_trt_convert.verify.parity import synthetic_inputs
from ma_trt_convert.weights.checkpoint import load_layout, random_state_dict, write_release_file
from ma_trt_ros.contract.sidecar import read_sidecar, sidecar_path
from ma_trt_ros.contract.tensors import TensorSpec

ELOFTR_SIZE = (160, 224)
ELOFTR_ROWS = 200  # the match budget: below the 560 cells x 9 = 5040 candidates at 160x224, so TopK selects
ELOFTR_MIN_MATCHES = 50  # 54 valid in both results (fp32 and fp16) with these weights and pair
CASES = {
    "eloftr": ["--height", str(ELOFTR_SIZE[0]), "--width", str(ELOFTR_SIZE[1]), "--max-matches", str(ELOFTR_ROWS)],
    "roma": ["--coarse-res", str(ROMA_RES[0]), "--upsample-res", str(ROMA_RES[1])],
}
# exports the runtime tests need too, made by a session fixture (test/conftest.py) with CASES' arguments
SHARED_EXPORTS = {("roma", "fp32"): "roma_model"}
VERIFY = {
    "eloftr": {
        "fp32": ["--pair", "shifted"],
        "fp16": ["--pair", "shifted"],
    },
    "roma": {"fp32": [], "fp16": []},
}


@pytest.fixture(scope="module")
def weights(
    tmp_path_factory: pytest.TempPathFactory, roma_release_files: tuple[Path, Path]
) -> Iterator[dict[str, list[str]]]:
    """``--checkpoint``/``--dinov2`` arguments per variant, for synthetic release-layout files."""
    folder = tmp_path_factory.mktemp("gate_weights")
    e = folder / "e.ckpt"
    r, d = roma_release_files
    layout = load_layout("matchanything_eloftr")
    specs = tuple(TensorSpec(name, (1, 1, *ELOFTR_SIZE), "float32", "") for name in ("image0", "image1"))
    pair = [torch.from_numpy(image) for image in synthetic_inputs(specs, pair="shifted")]
    write_release_file(matching_state(random_state_dict(layout, 0), *pair), layout, e)
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
    variant: str,
    precision: str,
    weights: dict[str, list[str]],
    tmp_path: Path,
    request: pytest.FixtureRequest,
    capsys: pytest.CaptureFixture[str],
) -> None:
    onnx_path, plan = tmp_path / f"{variant}_{precision}.onnx", tmp_path / f"{variant}_{precision}.plan"
    timings: list[str] = []
    try:
        if (variant, precision) in SHARED_EXPORTS:  # the same export command, run once for the whole test run
            onnx_path = request.getfixturevalue(SHARED_EXPORTS[variant, precision]).onnx
        else:
            export = ["export", "--variant", variant, *weights[variant], "--output", str(onnx_path), *CASES[variant]]
            assert _timed([*export, "--precision", precision], timings) == 0
        meta = read_onnx_metadata(onnx_path)
        assert (meta["variant"], meta["precision"], meta["opset"]) == (variant, precision, "17")
        assert onnx_path.with_name(onnx_path.name + ".data").is_file() == (variant == "roma" and precision == "fp32")

        verify = ["verify", "--onnx", str(onnx_path), *weights[variant], *VERIFY[variant][precision]]
        assert _timed(verify, timings) == 0
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
            if precision == "fp32":
                both = re.search(r"matches +in both (\d+), only in ONNX (\d+), only in PyTorch (\d+)", verify_out)
                assert both is not None and int(both[1]) >= ELOFTR_MIN_MATCHES and both.groups()[1:] == ("0", "0")
            else:  # fp16: both fp16 results against fp32; the graph's column is the last
                in_both = re.findall(r"Jaccard [\d.]+ \((\d+) in both\)", verify_out)
                assert len(in_both) == 2 and int(in_both[1]) >= ELOFTR_MIN_MATCHES
        print(f"{variant} {precision}: " + ", ".join(timings) + "\n" + verify_out)
    finally:
        for path in tmp_path.iterdir():
            path.unlink()
