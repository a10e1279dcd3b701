"""The in-graph RoMa resize (:mod:`ma_trt_convert.roma.camera_input`): ONNX with dynamic camera sizes
against PyTorch, the exported Resize's attributes, and the TensorRT-RTX parse + build with a profile.

Tolerances: ONNX Runtime's cubic Resize and PyTorch's bicubic both compute the source coordinate in
float32; on uniform-noise images (the worst case: neighbouring pixels differ by up to 1) they differ
by up to 1.9e-4 at 1920x1080 -> 560 (bench/results/roma_resize_cpu.json, where PyTorch fp32 itself
is 2.2e-4 from the float64 result). Bounds: max 5e-4, mean 2e-5 of the [0, 1] range.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from ma_trt_convert.roma.camera_input import LAYOUTS, RomaCameraInput, export_camera_input

COARSE, UPSAMPLE = 560, 864
SIZE_PAIRS = (((480, 640), (479, 641)), ((1080, 1920), (240, 320)), ((720, 1280), (720, 1280)))
MAX_ERROR, MEAN_ERROR = 5e-4, 2e-5
PROFILE = ((32, 32), (480, 640), (2160, 3840))


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[RomaCameraInput, Path]]:
    folder = tmp_path_factory.mktemp("camera_input")
    modules = {layout: RomaCameraInput(COARSE, UPSAMPLE, layout) for layout in LAYOUTS}
    return {layout: (m, export_camera_input(m, folder / f"{layout}.onnx")) for layout, m in modules.items()}


def test_graph_has_dynamic_sizes_and_upstreams_cubic_resize(exported: dict[str, tuple[RomaCameraInput, Path]]) -> None:
    module, path = exported["uint8_nhwc"]
    model = onnx.load(str(path))
    dims = {i.name: [d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim] for i in model.graph.input}
    assert dims == {"image0": [1, "height0", "width0", 3], "image1": [1, "height1", "width1", 3]}
    assert model.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.UINT8
    resizes = [n for n in model.graph.node if n.op_type == "Resize"]
    assert len(resizes) == 4
    for node in resizes:
        attributes = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        assert attributes["mode"] == b"cubic" and attributes["cubic_coeff_a"] == pytest.approx(-0.75)
        assert attributes["coordinate_transformation_mode"] == b"half_pixel"
        assert attributes.get("exclude_outside", 0) == 0 and attributes.get("antialias", 0) == 0
    assert [o.name for o in model.graph.output] == list(module.output_names)


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("sizes", SIZE_PAIRS, ids=lambda s: f"{s[0][1]}x{s[0][0]}+{s[1][1]}x{s[1][0]}")
def test_onnx_runtime_matches_torch_at_any_size(
    exported: dict[str, tuple[RomaCameraInput, Path]], layout: str, sizes: tuple[tuple[int, int], ...]
) -> None:
    module, path = exported[layout]
    images = module.example_inputs(sizes)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    outputs = session.run(None, {name: image.numpy() for name, image in zip(module.input_names, images, strict=True)})
    with torch.no_grad():
        expected = module(*images)
        exact = module(*(image.double() if image.is_floating_point() else image for image in images))
    sides = (COARSE, COARSE, UPSAMPLE, UPSAMPLE)
    for output, torch32, torch64, side in zip(outputs, expected, exact, sides, strict=True):
        assert output.shape == (1, 3, side, side) and output.dtype == np.float32
        for reference in (torch32.numpy(), torch64.numpy()):
            delta = np.abs(output.astype(np.float64) - reference)
            assert delta.max() < MAX_ERROR and delta.mean() < MEAN_ERROR


def test_layouts_compute_the_same_images() -> None:
    """uint8 bytes / 255 in the graph give exactly what float32 images in [0, 1] give."""
    uint8 = RomaCameraInput(COARSE, None, "uint8_nhwc")
    bytes0, bytes1 = uint8.example_inputs(((48, 64), (33, 71)))
    floats = (bytes0.float() / 255, bytes1.float() / 255)
    with torch.no_grad():
        from_bytes = uint8(bytes0, bytes1)
        nchw_bytes = (b.permute(0, 3, 1, 2) for b in (bytes0, bytes1))
        from_nchw_bytes = RomaCameraInput(COARSE, None, "uint8_nchw")(*nchw_bytes)
        from_nhwc = RomaCameraInput(COARSE, None, "float32_nhwc")(*floats)
        from_nchw = RomaCameraInput(COARSE, None, "float32_nchw")(*(f.permute(0, 3, 1, 2) for f in floats))
    assert len(from_bytes) == 2 and from_bytes[0].shape == (1, 3, COARSE, COARSE)
    for a, b, c, d in zip(from_bytes, from_nhwc, from_nchw, from_nchw_bytes, strict=True):
        assert torch.equal(a, b) and torch.equal(a, c) and torch.equal(a, d)


def test_unknown_layout_is_refused() -> None:
    with pytest.raises(ValueError, match="layout must be one of"):
        RomaCameraInput(COARSE, UPSAMPLE, "int16_nchw")


def test_camera_bytes_need_a_camera_input_graph() -> None:
    from ma_trt_convert.errors import ConversionError
    from ma_trt_convert.roma import build_export_module

    # refused before any file is read
    with pytest.raises(ConversionError, match="camera_dtype uint8 needs camera_sizes"):
        build_export_module("missing.ckpt", "missing.pth", camera_dtype="uint8")


@pytest.mark.parametrize("layout", LAYOUTS)
def test_tensorrt_rtx_builds_with_a_camera_size_profile(
    exported: dict[str, tuple[RomaCameraInput, Path]], layout: str
) -> None:
    pytest.importorskip("tensorrt_rtx", reason="tensorrt_rtx is not installed (pip install '.[rtx]')")
    from support.rtx_profile_gate import build_with_profile

    module, path = exported[layout]
    result = build_with_profile(path, module.profile_shapes(1, *PROFILE))
    assert result.errors == [] and result.built
    assert result.plan_bytes > 100_000 and result.layers >= 4
