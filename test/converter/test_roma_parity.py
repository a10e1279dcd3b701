"""All-fp32 parity of the RoMa port with the romatch oracle (driven MatchAnything's way), and its ONNX export.

Both sides get the same seed-0 synthetic release files and the same images at coarse 224 / upsample
336 on CPU. Random weights make arg-max near-ties in the coordinate decoder possible; should a cell
ever differ, the failure message reports the smallest top-2 probability gap of the reference's own
anchor classification, to show whether the reference itself sits on a tie.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from oracles.roma_reference import build_reference, match_reference

from ma_trt_convert.roma import RomaExportModule, build_export_module
from ma_trt_convert.weights.checkpoint import read_state_dict

COARSE, UPSAMPLE = 224, 336
TOLERANCE = 1e-4
OUTPUTS = ("warp", "certainty", "warp_1to0", "certainty_1to0")
FORBIDDEN_OPS = {"Inverse", "Cholesky", "NonZero", "Loop", "If", "Scan", "TopK", "Multinomial", "Unique", "Compress"}

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def port(roma_release_files: tuple[Path, Path]) -> torch.nn.Module:
    return build_export_module(*roma_release_files, coarse_res=COARSE, upsample_res=UPSAMPLE)


@pytest.fixture(scope="module")
def images(port: torch.nn.Module) -> tuple[torch.Tensor, ...]:
    return port.example_inputs(1)


@pytest.fixture(scope="module")
def port_outputs(port: torch.nn.Module, images: tuple[torch.Tensor, ...]) -> dict[str, torch.Tensor]:
    with torch.no_grad():
        return dict(zip(port.output_names, port(*images), strict=True))


@pytest.fixture(scope="module")
def reference_outputs(
    roma_release_files: tuple[Path, Path], images: tuple[torch.Tensor, ...]
) -> dict[str, torch.Tensor]:
    roma_state, _ = read_state_dict(roma_release_files[0])
    dinov2_state, _ = read_state_dict(roma_release_files[1])
    model = build_reference(roma_state, dinov2_state, coarse_res=COARSE, upsample_res=UPSAMPLE)
    return match_reference(model, *images)


def _tie_report(reference: dict[str, torch.Tensor]) -> str:
    probs = reference["anchor_logits"].softmax(dim=1)
    top2 = probs.topk(2, dim=1).values
    gap = top2[:, 0] - top2[:, 1]
    return f"reference anchor arg-max: smallest top-2 probability gap {gap.min().item():.3e} over {gap.numel()} cells"


def test_interface(port: torch.nn.Module, images: tuple[torch.Tensor, ...]) -> None:
    assert port.input_names == ("image0_coarse", "image1_coarse", "image0_upsample", "image1_upsample")
    assert port.output_names == OUTPUTS
    assert [tuple(x.shape) for x in images] == [(1, 3, COARSE, COARSE)] * 2 + [(1, 3, UPSAMPLE, UPSAMPLE)] * 2
    meta = port.metadata()
    assert meta["coarse_res"] == "224" and meta["upsample_res"] == "336" and meta["precision"] == "fp32"
    assert meta["gp_solver"] == "newton_schulz" and meta["gp_iterations"] == "15"
    assert not port.training
    assert not any(p.requires_grad for p in port.parameters())  # else export tracing keeps all activations


@pytest.mark.parametrize("name", OUTPUTS)
def test_fp32_parity_with_reference(
    port_outputs: dict[str, torch.Tensor], reference_outputs: dict[str, torch.Tensor], name: str
) -> None:
    ours, ref = port_outputs[name], reference_outputs[name]
    side = UPSAMPLE
    assert ours.dtype == torch.float32
    assert tuple(ours.shape) == ((1, side, side, 2) if name.startswith("warp") else (1, side, side))
    error = (ours - ref).abs().max().item()
    assert error <= TOLERANCE, f"{name}: max |Δ| {error:.3e}; {_tie_report(reference_outputs)}"


def test_outputs_are_in_range(port_outputs: dict[str, torch.Tensor]) -> None:
    for name in ("warp", "warp_1to0"):
        assert port_outputs[name].abs().max().item() <= 1.0
    for name in ("certainty", "certainty_1to0"):
        values = port_outputs[name]
        assert values.min().item() >= 0.0 and values.max().item() <= 1.0
        assert values.std().item() > 0  # not a constant map


def test_single_pass_matches_reference_pass_one(
    port: torch.nn.Module, images: tuple[torch.Tensor, ...], reference_outputs: dict[str, torch.Tensor]
) -> None:
    """``upsample_res=None``: the output is pass 1's, finished like upstream's ``upsample_preds=False``."""
    matcher = port.matcher
    matcher.upsample_res = None
    try:
        single = RomaExportModule(matcher, "fp32")
        assert single.input_names == ("image0_coarse", "image1_coarse")
        with torch.no_grad():
            outputs = dict(zip(single.output_names, single(*images[:2]), strict=True))
    finally:
        matcher.upsample_res = UPSAMPLE
    flow = reference_outputs["flow_coarse"]
    attenuation = 0.5 * torch.nn.functional.interpolate(
        reference_outputs["certainty_16_logits"], size=(COARSE, COARSE), mode="bilinear", align_corners=False
    ).clamp(max=0)
    certainty = torch.sigmoid(reference_outputs["certainty_coarse_logits"] - attenuation)[:, 0]
    certainty = torch.where(flow.abs().amax(dim=1) > 1, torch.zeros_like(certainty), certainty)
    expected = {"warp": flow[:1].clamp(-1, 1).permute(0, 2, 3, 1), "certainty": certainty[:1]}
    expected |= {"warp_1to0": flow[1:].clamp(-1, 1).permute(0, 2, 3, 1), "certainty_1to0": certainty[1:]}
    for name in OUTPUTS:
        assert outputs[name].shape == expected[name].shape
        error = (outputs[name] - expected[name]).abs().max().item()
        assert error <= TOLERANCE, f"single pass {name}: max |Δ| {error:.3e}"


def test_onnx_export_matches_pytorch(
    port: torch.nn.Module,
    images: tuple[torch.Tensor, ...],
    port_outputs: dict[str, torch.Tensor],
    tmp_path: Path,
) -> None:
    path = tmp_path / "roma_224_336.onnx"
    torch.onnx.export(
        port,
        images,
        str(path),
        opset_version=17,
        dynamo=False,
        input_names=list(port.input_names),
        output_names=list(port.output_names),
    )
    model = onnx.load(str(path), load_external_data=False)
    ops = Counter(node.op_type for node in model.graph.node)
    assert not FORBIDDEN_OPS & set(ops), f"not exportable to TensorRT: {FORBIDDEN_OPS & set(ops)}"
    # 5 + 4 refiner samplings; local correlation samples one window row per GridSample:
    # pass 1 scales 16/8/4 (radius 7/3/2: 15 + 7 + 5 rows), pass 2 scales 8/4 (7 + 5 rows)
    assert ops["GridSample"] == 5 + 4 + (15 + 7 + 5) + (7 + 5)
    assert not [t.name for t in model.graph.initializer if t.data_type == onnx.TensorProto.DOUBLE]
    for value in (*model.graph.input, *model.graph.output):
        dims = [d.dim_value for d in value.type.tensor_type.shape.dim]
        assert all(d > 0 for d in dims), f"{value.name} has a dynamic shape {dims}"
        assert value.type.tensor_type.elem_type == onnx.TensorProto.FLOAT

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    results = session.run(None, {n: x.numpy() for n, x in zip(port.input_names, images, strict=True)})
    for name, value in zip(port.output_names, results, strict=True):
        error = float(np.abs(value - port_outputs[name].numpy()).max())
        assert error <= TOLERANCE, f"ONNX Runtime vs PyTorch {name}: max |Δ| {error:.3e}"
