"""The ONNX Runtime and torch backends on the same model: same I/O contract, and outputs that agree as
the converter's ``verify`` requires of an fp32 export (the same comparison and tolerances)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from support.exported_models import ELOFTR_SIZE, ExportedModel, textured_images

from ma_trt_convert.torch_backend import TorchBackend
from ma_trt_convert.torch_backend.backend import memory_order
from ma_trt_convert.verify.compare import Tolerances, compare_outputs
from ma_trt_ros.contract.roma import SAMPLED_OUTPUTS, SAMPLER_INPUTS
from ma_trt_ros.runtime import BackendSettings, MatchOptions, ModelError, open_matcher
from ma_trt_ros.runtime.backends.onnxruntime_backend import OnnxRuntimeBackend
from ma_trt_ros.runtime.images import to_nchw, to_rgb, uint8_to_float
from ma_trt_ros.runtime.result import ImageSize
from ma_trt_ros.runtime.sampling import noise_length, sampler_noise
from ma_trt_ros.runtime.variants.roma import RomaIO

torch = pytest.importorskip("torch")


def _backends(model: ExportedModel) -> tuple[OnnxRuntimeBackend, TorchBackend]:
    settings = BackendSettings(device="cpu", dinov2=model.dinov2 and str(model.dinov2), build_args=model.build_args)
    return OnnxRuntimeBackend(model.onnx), TorchBackend(model.checkpoint, settings)


def _same_contract(ort: OnnxRuntimeBackend, torch_backend: TorchBackend) -> None:
    """The torch backend has the ONNX graph's tensors, then (RoMa) the draw's: it samples on the device."""
    assert ort.variant == torch_backend.variant
    extra = (SAMPLER_INPUTS, SAMPLED_OUTPUTS) if ort.variant == "roma" else ((), ())
    pairs = ((ort.inputs, torch_backend.inputs), (ort.outputs, torch_backend.outputs))
    for (ours, theirs), added in zip(pairs, extra, strict=True):
        assert [(s.name, s.shape, s.dtype) for s in ours] == [(s.name, s.shape, s.dtype) for s in theirs[: len(ours)]]
        assert tuple(s.name for s in theirs[len(ours) :]) == added


def _sampler_inputs(backend: TorchBackend, num: int) -> dict[str, np.ndarray]:
    """The draw's inputs of a RoMa torch backend (seed 0, threshold 0, 640x480 images); none for ELoFTR."""
    outputs = {s.name: s for s in backend.outputs}
    if "certainty" not in outputs:
        return {}
    cells = 2 * int(np.prod(outputs["certainty"].shape[1:]))
    return {
        "sampler_noise": sampler_noise(0, noise_length(cells, num))[None],
        "sampler_threshold": np.zeros(1, np.float32),
        "image_sizes": np.array([[640, 480, 640, 480]], np.float32),
    }


def _raw_agreement(ort: OnnxRuntimeBackend, torch_backend: TorchBackend, inputs: dict[str, np.ndarray]) -> None:
    names = tuple(s.name for s in ort.outputs)
    reference, _ = torch_backend.run({**inputs, **_sampler_inputs(torch_backend, 100)})
    candidate, stages = ort.run(inputs)
    comparison = compare_outputs(names, [reference[n] for n in names], [candidate[n] for n in names])
    assert comparison.failures(Tolerances.default("fp32")) == []
    assert stages["execute"] > 0


def test_eloftr_backends_agree(eloftr_model: ExportedModel) -> None:
    ort, torch_backend = _backends(eloftr_model)
    _same_contract(ort, torch_backend)
    image0, image1 = textured_images(*ELOFTR_SIZE)
    _raw_agreement(ort, torch_backend, {"image0": image0[None, None], "image1": image1[None, None]})
    # through the matcher, with images larger than the engine (stretched, then mapped back)
    big0, big1 = (np.kron(image, np.ones((2, 2), np.float32)) for image in (image0, image1))
    results = []
    for backend in ("onnxruntime", "torch"):
        model = eloftr_model.onnx if backend == "onnxruntime" else eloftr_model.checkpoint
        settings = BackendSettings(device="cpu", build_args=eloftr_model.build_args)
        with open_matcher(model, backend, settings=settings) as matcher:
            assert matcher.backend_name == backend and matcher.variant == "eloftr"
            results.append(matcher.match(to_rgb(big0), big1))
    ort_result, torch_result = results
    assert ort_result.count == torch_result.count >= 50
    np.testing.assert_allclose(ort_result.points0, torch_result.points0, atol=0.1)
    np.testing.assert_allclose(ort_result.points1, torch_result.points1, atol=0.1)


def test_backends_return_only_the_outputs_asked_for(eloftr_model: ExportedModel) -> None:
    image0, image1 = textured_images(*ELOFTR_SIZE)
    inputs = {"image0": image0[None, None], "image1": image1[None, None]}
    wanted = ("keypoints1", "valid")
    for backend in _backends(eloftr_model):
        everything, _ = backend.run(inputs)
        assert sorted(everything) == sorted(s.name for s in backend.outputs)
        some, _ = backend.run(inputs, wanted)
        assert sorted(some) == sorted(wanted)
        for name in wanted:
            np.testing.assert_array_equal(some[name], everything[name])


@pytest.mark.slow
def test_roma_backends_agree(roma_model: ExportedModel) -> None:
    ort, torch_backend = _backends(roma_model)
    _same_contract(ort, torch_backend)
    rng = np.random.default_rng(0)
    inputs = {s.name: rng.random(s.shape, dtype=np.float32) for s in ort.inputs}
    _raw_agreement(ort, torch_backend, inputs)
    image0, image1 = (to_rgb(image) for image in textured_images(120, 90))
    options = MatchOptions(num_matches=300, certainty_threshold=0.0)
    ort_result = open_matcher(roma_model.onnx, options=options).match(image0, image1)
    torch_result = torch_backend_matcher(roma_model, options).match(image0, image1)
    assert ort_result.dense.warp.shape == (64, 64, 2)
    np.testing.assert_allclose(ort_result.dense.warp, torch_result.dense.warp, atol=0.05)
    np.testing.assert_allclose(ort_result.dense.certainty, torch_result.dense.certainty, atol=1e-3)
    assert ort_result.count == torch_result.count == 300
    # the draw in the torch backend's graph is the runtime's draw from the same dense outputs
    specs, output_specs = ({s.name: s for s in group} for group in (torch_backend.inputs, torch_backend.outputs))
    io = RomaIO()
    prepared = io.prepare(image0, image1, specs, output_specs, options)
    outputs, _ = torch_backend.run(prepared)
    sizes = (ImageSize(90, 120), ImageSize(90, 120))
    device = io.decode({n: v[0] for n, v in outputs.items()}, specs, sizes, options)
    # what the matcher downloads: the draw and the 0->1 field, not the normalised warps nor the 1->0 field
    read = io.outputs_read(output_specs)
    assert read == ("certainty", *SAMPLED_OUTPUTS)
    trimmed, _ = torch_backend.run(prepared, read)
    assert sorted(trimmed) == sorted(read)
    from_trimmed = io.decode({n: v[0] for n, v in trimmed.items()}, specs, sizes, options)
    np.testing.assert_array_equal(from_trimmed.points1, device.points1)
    np.testing.assert_array_equal(from_trimmed.dense.warp, device.dense.warp)
    dense_only = {n: v[0] for n, v in outputs.items() if n not in SAMPLED_OUTPUTS}
    cpu = io.decode(dense_only, specs, sizes, options)
    assert device.points0.shape == (300, 2)
    for ours, theirs in ((device.points0, cpu.points0), (device.points1, cpu.points1)):
        np.testing.assert_array_equal(ours, theirs)
    np.testing.assert_array_equal(device.confidence, cpu.confidence)
    np.testing.assert_array_equal(device.dense.warp, cpu.dense.warp)


def torch_backend_matcher(model: ExportedModel, options: MatchOptions):
    settings = BackendSettings(device="cpu", dinov2=str(model.dinov2), build_args=model.build_args)
    return open_matcher(model.checkpoint, "torch", options, settings)


CAMERA_SIZES = "32x32:720x1280"


def _camera_export(roma_model: ExportedModel, folder: Path, camera_dtype: str) -> Path:
    """The RoMa weights of ``roma_model`` exported as a camera-input graph (resize inside, 1.6 GB)."""
    from ma_trt_convert import cli

    path = folder / f"roma_camera_{camera_dtype}.onnx"
    args = ["export", "--variant", "roma", "--checkpoint", str(roma_model.checkpoint), "--dinov2"]
    args += [str(roma_model.dinov2), "--output", str(path), "--precision", "fp32", "--camera-sizes", CAMERA_SIZES]
    coarse, upsample = roma_model.build_args["coarse_res"], roma_model.build_args["upsample_res"]
    args += ["--coarse-res", str(coarse), "--upsample-res", str(upsample), "--camera-dtype", camera_dtype]
    assert cli.main(args) == 0
    return path


@pytest.fixture(scope="module")
def roma_camera_onnx(roma_model: ExportedModel, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The camera-input graph of ``roma_model`` taking float32 images (deleted after)."""
    folder = tmp_path_factory.mktemp("roma_camera")
    yield _camera_export(roma_model, folder, "float32")
    shutil.rmtree(folder)


@pytest.mark.slow
def test_roma_camera_input_graph_equals_resizing_before_the_graph(
    roma_model: ExportedModel, roma_camera_onnx: Path
) -> None:
    """The camera-input export (resize inside the graph, each image its own size) gives the dense fields of the
    fixed-size graph fed by the runtime's CPU resize, through the same matcher API (docs/roma_resize.md)."""
    image0 = to_rgb(textured_images(120, 90)[0])
    image1 = to_rgb(textured_images(97, 131)[1])  # another camera: its own size
    options = MatchOptions(num_matches=300, certainty_threshold=0.0)
    with (
        open_matcher(roma_camera_onnx, options=options) as camera,
        open_matcher(roma_model.onnx, options=options) as fixed,
    ):
        specs = camera.input_specs(image0.shape[:2], image1.shape[:2])
        assert (specs["image0"].shape, specs["image1"].shape) == ((1, 3, 120, 90), (1, 3, 97, 131))
        ours, reference = camera.match(image0, image1), fixed.match(image0, image1)
    np.testing.assert_allclose(ours.dense.warp, reference.dense.warp, atol=1e-3)  # pixels of image 1
    np.testing.assert_allclose(ours.dense.certainty, reference.dense.certainty, atol=1e-4)
    np.testing.assert_allclose(ours.points0, reference.points0, atol=1e-3)
    assert ours.count == reference.count == 300


@pytest.mark.slow
def test_a_camera_graph_that_takes_bytes_gives_the_matches_of_the_float_graph(
    roma_model: ExportedModel, roma_camera_onnx: Path, tmp_path: Path
) -> None:
    """``--camera-dtype uint8``: the camera's bytes cross as they are and the graph divides by 255, with the
    float graph's results; float images (e.g. from a 16-bit camera) are rounded to 8 bits for it."""
    bytes_onnx = _camera_export(roma_model, tmp_path, "uint8")
    images = [to_rgb(np.rint(image * 255).astype(np.uint8)) for image in textured_images(120, 90)]
    options = MatchOptions(num_matches=300, certainty_threshold=0.0)
    with (
        open_matcher(bytes_onnx, options=options) as camera_bytes,
        open_matcher(roma_camera_onnx, options=options) as floats,
    ):
        assert camera_bytes.takes_uint8_images and not floats.takes_uint8_images
        specs = camera_bytes.input_specs((120, 90), (120, 90))
        assert (specs["image0"].dtype, specs["image0"].shape) == ("uint8", (1, 3, 120, 90))
        ours, reference = camera_bytes.match(*images), floats.match(*images)
        rounded = camera_bytes.match(*(uint8_to_float(image) + np.float32(0.001) for image in images))
    np.testing.assert_allclose(ours.dense.warp, reference.dense.warp, atol=1e-5)
    np.testing.assert_allclose(ours.dense.certainty, reference.dense.certainty, atol=1e-6)
    np.testing.assert_allclose(ours.points0, reference.points0, atol=1e-5)
    assert ours.count == reference.count == 300
    np.testing.assert_array_equal(rounded.dense.warp, ours.dense.warp)  # 0.001 off the bytes: rounded back to them


@pytest.mark.slow
def test_tensorrt_rtx_builds_the_roma_camera_graph_with_its_profile(roma_camera_onnx: Path, tmp_path: Path) -> None:
    pytest.importorskip("tensorrt_rtx", reason="the TensorRT-RTX builder (pip install tensorrt-rtx-cu13)")
    from ma_trt_convert import cli
    from ma_trt_ros.contract.sidecar import read_sidecar, sidecar_path

    plan = tmp_path / "roma_camera.plan"
    build = ["build", "--onnx", str(roma_camera_onnx), "--target", "desktop-rtx", "--output", str(plan)]
    assert cli.main([*build, "--opt-size", "480x640"]) == 0
    sidecar = read_sidecar(sidecar_path(plan))
    assert [s.shape for s in sidecar.inputs] == [(1, 3, -1, -1)] * 2
    assert [(p.min, p.opt, p.max) for p in sidecar.profiles] == [
        ((1, 3, 32, 32), (1, 3, 480, 640), (1, 3, 720, 1280))
    ] * 2
    assert sidecar.size_range().text() == CAMERA_SIZES
    assert {s.name: s.shape for s in sidecar.outputs}["warp"] == (1, 64, 64, 2)


def test_compile_is_refused_without_the_fast_path() -> None:
    with pytest.raises(ValueError, match="turn cuda_graph on as well"):
        BackendSettings(device="cpu", compile="default")


def test_a_roma_checkpoint_without_its_dinov2_file_names_the_setting(tmp_path: Path) -> None:
    import torch

    from ma_trt_convert.weights.checkpoint import load_layout

    layout = load_layout("matchanything_roma")
    keys = sorted(layout.shapes)[:20]
    path = tmp_path / "matchanything_roma.ckpt"
    torch.save({"state_dict": {key: torch.zeros(1) for key in keys}}, path)
    with pytest.raises(
        ModelError, match=r"is a roma checkpoint, which also needs dinov2_vitl14_pretrain.pth: set the "
    ):
        TorchBackend(path, BackendSettings(device="cpu"))


def test_a_transposed_view_crosses_in_its_memory_order() -> None:
    image = np.random.default_rng(0).random((6, 10, 3), dtype=np.float32)
    view = to_nchw(image)  # [1, 3, 6, 10], a view of the HWC memory
    assert not view.flags.c_contiguous and np.shares_memory(view, image)
    order = memory_order(view)
    assert view.transpose(order).flags.c_contiguous and np.shares_memory(view.transpose(order), image)
    np.testing.assert_array_equal(view.transpose(order).transpose(np.argsort(order)), view)
    strided = np.zeros((8, 8), np.float32)[::2]  # no axis order makes it contiguous: left as it is (copied)
    assert memory_order(strided) == (0, 1)
    assert memory_order(np.zeros((2, 3), np.float32)) == (0, 1)


def test_the_torch_backend_takes_transposed_views(eloftr_model: ExportedModel) -> None:
    _, torch_backend = _backends(eloftr_model)
    image = np.random.default_rng(1).random((5, 7, 3), dtype=np.float32)
    uploaded = torch_backend._upload("image0", to_nchw(image))
    assert uploaded.is_contiguous()
    np.testing.assert_array_equal(uploaded.numpy(), np.ascontiguousarray(image.transpose(2, 0, 1)[None]))


def test_the_torch_backend_divides_uint8_images_by_255_itself(eloftr_model: ExportedModel) -> None:
    _, torch_backend = _backends(eloftr_model)
    assert torch_backend.takes_uint8_images and not OnnxRuntimeBackend(eloftr_model.onnx).takes_uint8_images
    rng = np.random.default_rng(2)
    for _ in range(2):  # a camera's read-only bytes, pair after pair: each uploaded, none kept as a constant
        image = rng.integers(0, 256, (5, 7, 3), dtype=np.uint8)
        image.flags.writeable = False
        uploaded = torch_backend._upload("image0", to_nchw(image))
        assert uploaded.dtype == torch.float32 and uploaded.is_contiguous()
        np.testing.assert_array_equal(uploaded.numpy(), to_nchw(uint8_to_float(image)))  # bit for bit
    assert torch_backend._constants == {}


def test_uint8_images_give_the_matches_of_their_float_images(eloftr_model: ExportedModel) -> None:
    floats = textured_images(*ELOFTR_SIZE)
    images = [np.round(image * 255).astype(np.uint8) for image in floats]
    settings = BackendSettings(device="cpu", build_args=eloftr_model.build_args)
    with open_matcher(eloftr_model.checkpoint, "torch", settings=settings) as matcher:
        assert matcher.takes_uint8_images
        for size in (1, 2):  # at the network's size the bytes cross as they are; twice as large, stretched first
            pair = [np.kron(image, np.ones((size, size), np.uint8)) for image in images]
            from_bytes = matcher.match(*pair)
            from_floats = matcher.match(*(uint8_to_float(image) for image in pair))
            assert from_bytes.count >= 50
            for name in ("points0", "points1", "confidence"):
                np.testing.assert_array_equal(getattr(from_bytes, name), getattr(from_floats, name))
