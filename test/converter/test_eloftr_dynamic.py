"""ELoFTR with dynamic input size: one ONNX for a size range, checked against fixed-size PyTorch modules,
built by TensorRT-RTX with an optimisation profile, and the profile options of ``build``/``info``.

The dynamic graph is exported once over the default range 224²…896², traced at 224×320. At each size
below, ONNX Runtime runs that one graph and the reference is the PyTorch module built for exactly that
size (the fixed-size port the parity tests tie to upstream), compared row by row by coarse cells with
``verify``'s fp32 tolerances.
"""

from __future__ import annotations

from pathlib import Path

import onnx
import onnxruntime as ort
import pytest
import torch

from ma_trt_convert import cli
from ma_trt_convert.eloftr import ELoFTRExportModule, build_export_module
from ma_trt_convert.errors import ConversionError
from ma_trt_convert.onnx.metadata import decode_io_contract, read_onnx_metadata
from ma_trt_convert.synthetic.eloftr_weights import matching_state
from ma_trt_convert.synthetic.pairs import textured_pair
from ma_trt_convert.tensorrt.profiles import ProfileSizes, optimisation_profiles
from ma_trt_convert.verify.compare import Tolerances, compare_outputs
from ma_trt_convert.weights.checkpoint import load_layout, random_state_dict, write_release_file
from ma_trt_ros.contract.sidecar import read_sidecar, sidecar_path
from ma_trt_ros.contract.sizes import SizeRange

TRACED = (224, 320)
RANGE = "224x224:896x896"
FP16_RANGE = "160x160:896x896"
ROWS = 1000
# heights x widths: the traced size, portrait, square, the usual camera size, the widest the range allows
SIZES = [(224, 320), (288, 224), (352, 352), (480, 640), (224, 896)]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    layout = load_layout("matchanything_eloftr")
    state = matching_state(random_state_dict(layout, 0), *textured_pair(*TRACED))
    path = tmp_path_factory.mktemp("eloftr_dynamic") / "matchanything_eloftr.ckpt"
    write_release_file(state, layout, path)
    return path


def _export(
    checkpoint: Path, path: Path, *extra: str, precision: str = "fp32", traced: tuple[int, int] = TRACED
) -> Path:
    args = ["export", "--variant", "eloftr", "--checkpoint", str(checkpoint), "--output", str(path), "--precision"]
    args += [precision, "--height", str(traced[0]), "--width", str(traced[1]), "--max-matches", str(ROWS), *extra]
    assert cli.main(args) == 0
    return path


@pytest.fixture(scope="module")
def dynamic_onnx(checkpoint: Path) -> Path:
    return _export(checkpoint, checkpoint.with_name("eloftr_dynamic.onnx"), "--size-range", RANGE)


def test_graph_has_named_dynamic_height_width_and_fixed_outputs(dynamic_onnx: Path) -> None:
    model = onnx.load(str(dynamic_onnx))
    dims = {v.name: [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim] for v in model.graph.input}
    assert dims == {"image0": [1, 1, "height", "width"], "image1": [1, 1, "height", "width"]}
    inputs, outputs = decode_io_contract(read_onnx_metadata(dynamic_onnx))
    assert [s.shape for s in inputs] == [(1, 1, -1, -1)] * 2
    assert {s.name: s.shape for s in outputs}["keypoints1"] == (1, ROWS, 2)
    meta = read_onnx_metadata(dynamic_onnx)
    assert (meta["size_range"], meta["size_multiple"], meta["height"], meta["width"]) == (RANGE, "32", "224", "320")
    assert meta["rope_reference_size"] == "input long side"
    ops = {node.op_type for node in model.graph.node}
    assert {"Cos", "Sin"} <= ops  # RoPE tables are computed for each input size in the graph


@pytest.mark.parametrize(("height", "width"), SIZES)
def test_one_dynamic_onnx_equals_the_fixed_size_port_at_each_size(
    dynamic_onnx: Path, checkpoint: Path, height: int, width: int
) -> None:
    image0, image1 = textured_pair(height, width)
    fixed = build_export_module(checkpoint, height=height, width=width, max_matches=ROWS)
    with torch.no_grad():
        reference = [t.numpy() for t in fixed(image0, image1)]
    session = ort.InferenceSession(str(dynamic_onnx), providers=["CPUExecutionProvider"])
    candidate = session.run(None, {"image0": image0.numpy(), "image1": image1.numpy()})
    comparison = compare_outputs(ELoFTRExportModule.output_names, reference, candidate)
    tolerances = Tolerances.default("fp32")
    assert comparison.failures(tolerances) == [], "\n".join(e.line() for e in comparison.errors)
    assert comparison.agreement.jaccard == 1.0
    assert int(reference[4][0]) == int(candidate[4][0]) >= 30  # many matches at every size
    print(f"{height}x{width}: {comparison.agreement.line('PyTorch fixed', 'ONNX dynamic')}")


@pytest.fixture(scope="module")
def fixed_onnx(checkpoint: Path) -> Path:
    return _export(checkpoint, checkpoint.with_name("eloftr_fixed.onnx"))


def test_fixed_export_keeps_rope_tables_as_constants(fixed_onnx: Path) -> None:
    ops = {node.op_type for node in onnx.load(str(fixed_onnx)).graph.node}
    assert not ops & {"Cos", "Sin"}
    assert "size_range" not in read_onnx_metadata(fixed_onnx)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_matches": None}, "needs a match budget"),
        ({"max_matches": 8000}, "the smallest size of 224x224:896x896 has 7056 candidates"),
        ({"max_matches": 100, "height": 192}, "must lie in the size range"),
    ],
)
def test_size_ranges_the_graph_cannot_serve_are_refused(kwargs: dict, message: str) -> None:
    args = {"height": 224, "width": 320, "size_range": SizeRange.parse(RANGE), **kwargs}
    with pytest.raises(ValueError, match=message):
        ELoFTRExportModule(**args)


def test_export_cli_reports_a_range_without_budget_as_a_user_error(
    checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["export", "--variant", "eloftr", "--checkpoint", str(checkpoint), "--output", str(tmp_path / "x.onnx")]
    assert cli.main([*args, "--size-range", "default", "--max-matches", "all", "--precision", "fp32"]) == 2
    assert "needs a match budget" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main([*args, "--size-range", "224x224:900x900"])
    assert "multiple of 32" in capsys.readouterr().err


def test_profile_defaults_to_the_range_and_the_traced_size(dynamic_onnx: Path) -> None:
    meta = read_onnx_metadata(dynamic_onnx)
    inputs = decode_io_contract(meta)[0]
    profiles = optimisation_profiles(inputs, meta, ProfileSizes())
    assert [(p.name, p.min, p.opt, p.max) for p in profiles] == [
        (name, (1, 1, 224, 224), (1, 1, 224, 320), (1, 1, 896, 896)) for name in ("image0", "image1")
    ]
    narrowed = optimisation_profiles(inputs, meta, ProfileSizes(min=(256, 256), opt=(480, 640), max=(480, 640)))
    assert narrowed[0].min == (1, 1, 256, 256) and narrowed[0].max == (1, 1, 480, 640)
    with pytest.raises(ConversionError, match="max size 960x960: 960x960 is outside 224x224:896x896"):
        optimisation_profiles(inputs, meta, ProfileSizes(max=(960, 960)))
    with pytest.raises(ConversionError, match="min 480x640 <= opt 224x320"):
        optimisation_profiles(inputs, meta, ProfileSizes(min=(480, 640)))


def test_tensorrt_rtx_builds_the_dynamic_graph_with_its_profile(
    dynamic_onnx: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("tensorrt_rtx", reason="the TensorRT-RTX builder (pip install tensorrt-rtx-cu13)")
    plan = tmp_path / "eloftr_dynamic.plan"
    build = ["build", "--onnx", str(dynamic_onnx), "--target", "desktop-rtx", "--output", str(plan)]
    assert cli.main([*build, "--opt-size", "480x640"]) == 0
    assert "optimisation profile image0: min 1x1x224x224, opt 1x1x480x640, max 1x1x896x896" in capsys.readouterr().out
    sidecar = read_sidecar(sidecar_path(plan))
    assert [s.shape for s in sidecar.inputs] == [(1, 1, -1, -1)] * 2
    assert {s.name: s.shape for s in sidecar.outputs}["cells"] == (1, ROWS, 2)  # TensorRT sees fixed outputs
    assert sidecar.size_range() == SizeRange.parse(RANGE)
    assert [s.shape for s in sidecar.buffer_shapes()] == [(1, 1, 896, 896)] * 2
    assert cli.main(["info", str(plan)]) == 0
    assert "image1: min 1x1x224x224, opt 1x1x480x640, max 1x1x896x896" in capsys.readouterr().out


def test_profile_options_on_a_fixed_graph_are_refused(fixed_onnx: Path) -> None:
    meta = read_onnx_metadata(fixed_onnx)
    with pytest.raises(ConversionError, match="apply to dynamic-size graphs"):
        optimisation_profiles(decode_io_contract(meta)[0], meta, ProfileSizes(max=(480, 640)))
    assert optimisation_profiles(decode_io_contract(meta)[0], meta, ProfileSizes()) == ()


def test_verify_checks_a_dynamic_graph_at_each_size_asked(
    dynamic_onnx: Path, fixed_onnx: Path, checkpoint: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    verify = ["verify", "--checkpoint", str(checkpoint), "--pair", "shifted"]
    assert cli.main([*verify, "--onnx", str(dynamic_onnx), "--size", "288x224", "--size", "224x320"]) == 0
    out = capsys.readouterr().out
    assert out.count("verify passed") == 2
    assert "--- input sizes image0 288x224, image1 288x224" in out and "image1 224x320" in out
    assert cli.main([*verify, "--onnx", str(dynamic_onnx), "--size", "960x960"]) == 2
    assert "960x960 is outside 224x224:896x896" in capsys.readouterr().err
    assert cli.main([*verify, "--onnx", str(fixed_onnx), "--size", "224x320"]) == 2
    assert "--size applies to dynamic-size graphs" in capsys.readouterr().err


@pytest.mark.slow
def test_fp16_dynamic_graph_verifies_at_two_sizes_and_builds_with_tensorrt_rtx(
    checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Traced small (tracing runs PyTorch's fp16 convolutions, slow on CPUs without fp16 arithmetic), in a
    # range that starts lower, and verified at two other sizes.
    path = tmp_path / "eloftr_dynamic_fp16.onnx"
    onnx_path = _export(checkpoint, path, "--size-range", FP16_RANGE, precision="fp16", traced=(160, 224))
    assert read_onnx_metadata(onnx_path)["precision"] == "fp16"
    verify = ["verify", "--onnx", str(onnx_path), "--checkpoint", str(checkpoint), "--pair", "shifted"]
    assert cli.main([*verify, "--size", "224x320", "--size", "288x352"]) == 0
    assert capsys.readouterr().out.count("verify passed") == 2  # judged against PyTorch's own fp16 at each size
    pytest.importorskip("tensorrt_rtx", reason="the TensorRT-RTX builder (pip install tensorrt-rtx-cu13)")
    plan = tmp_path / "eloftr_dynamic_fp16.plan"
    assert cli.main(["build", "--onnx", str(onnx_path), "--target", "desktop-rtx", "--output", str(plan)]) == 0
    sidecar = read_sidecar(sidecar_path(plan))
    assert sidecar.precision == "fp16" and sidecar.size_range() == SizeRange.parse(FP16_RANGE)
