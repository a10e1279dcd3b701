"""Dynamic input sizes in the contract: size ranges, the network size for a camera, profiles in the sidecar."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from ma_trt_ros.contract.errors import SidecarError
from ma_trt_ros.contract.sidecar import (
    BuildDevice,
    EngineSidecar,
    FileRef,
    TensorRTBuild,
    read_sidecar,
    write_sidecar,
)
from ma_trt_ros.contract.sizes import ShapeProfile, SizeRange, parse_size, size_range_of
from ma_trt_ros.contract.tensors import DYNAMIC, TensorSpec

DEFAULT = SizeRange(224, 224, 896, 896)


def test_range_text_round_trips_and_default_is_224_to_896() -> None:
    assert SizeRange.parse("default") == DEFAULT == SizeRange.parse(" 224x224:896x896 ")
    assert SizeRange.parse("256x320:480x640").text() == "256x320:480x640"
    assert size_range_of({"size_range": "224x224:896x896", "size_multiple": "32"}) == DEFAULT
    assert size_range_of({"height": "480"}) is None
    assert parse_size("480x640") == (480, 640)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("224x224", "expected MIN_HxMIN_W:MAX_HxMAX_W"),
        ("224x224:900x896", "multiple of 32"),
        ("512x512:256x256", "minimum exceeds the maximum"),
        ("224:896", "expected HEIGHTxWIDTH"),
    ],
)
def test_bad_ranges_say_what_is_expected(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SizeRange.parse(text)


def test_problem_names_the_reason() -> None:
    assert DEFAULT.problem(480, 640) is None
    assert "not a multiple of 32" in DEFAULT.problem(480, 650)
    assert "outside 224x224:896x896" in DEFAULT.problem(192, 640)
    assert "outside" in DEFAULT.problem(480, 928)


@pytest.mark.parametrize(
    ("camera", "network"),
    [
        ((480, 640), (480, 640)),  # inside the range: its own size
        ((479, 641), (480, 640)),  # rounded to the nearest multiple of 32
        ((720, 1280), (512, 896)),  # scaled down to fit the width (504 -> 512: 1.75 against 1.78)
        ((240, 320), (256, 352)),  # 256x352 (1.375) is closer to 4:3 than 256x320 or 224x320
        ((1080, 1920), (512, 896)),
        ((1200, 900), (896, 672)),  # portrait: the height bounds
        ((120, 160), (224, 288)),  # too small: scaled up to the minimum height (298.7 -> 288)
        ((100, 2000), (224, 896)),  # extreme aspect: clamped on both sides
    ],
)
def test_fit_picks_the_network_size_for_a_camera(camera: tuple[int, int], network: tuple[int, int]) -> None:
    height, width = DEFAULT.fit(*camera)
    assert (height, width) == network
    assert DEFAULT.problem(height, width) is None


@pytest.mark.parametrize("camera", [(480, 640), (720, 1280), (600, 800), (1024, 768), (375, 500), (240, 320)])
def test_fit_keeps_the_aspect_within_the_warning_tolerance(camera: tuple[int, int]) -> None:
    height, width = DEFAULT.fit(*camera)
    assert abs((width / height) / (camera[1] / camera[0]) - 1) < 0.035


def _dynamic_sidecar(**changes: object) -> EngineSidecar:
    spec = TensorSpec("image0", (1, 1, DYNAMIC, DYNAMIC), "float32", "gray [0,1]")
    sidecar = EngineSidecar(
        variant="eloftr",
        precision="fp16",
        batch=1,
        target="desktop",
        tensorrt=TensorRTBuild("tensorrt", "10.13.0.35", "strong"),
        device=BuildDevice("NVIDIA H200", ("9.0",)),
        onnx=FileRef("e.onnx", "ab" * 32),
        plan=FileRef("e.plan", "cd" * 32, 99),
        inputs=(spec, replace(spec, name="image1")),
        outputs=(TensorSpec("keypoints0", (1, 3072, 2), "float32"),),
        model={"size_range": "224x224:896x896", "size_multiple": "32"},
        profiles=tuple(
            ShapeProfile(name, (1, 1, 224, 224), (1, 1, 480, 640), (1, 1, 896, 896)) for name in ("image0", "image1")
        ),
    )
    return replace(sidecar, **changes)


def test_sidecar_keeps_profiles_and_sizes_buffers_for_the_maximum(tmp_path: Path) -> None:
    path = tmp_path / "e.plan.json"
    write_sidecar(_dynamic_sidecar(), path)
    assert json.loads(path.read_text())["profiles"][0] == {
        "name": "image0",
        "min": [1, 1, 224, 224],
        "opt": [1, 1, 480, 640],
        "max": [1, 1, 896, 896],
    }
    sidecar = read_sidecar(path)
    assert sidecar == _dynamic_sidecar()
    assert sidecar.size_range() == DEFAULT
    assert [s.shape for s in sidecar.buffer_shapes()] == [(1, 1, 896, 896)] * 2
    assert sidecar.profiles[0].text() == "image0: min 1x1x224x224, opt 1x1x480x640, max 1x1x896x896"


def test_fixed_sidecars_without_profiles_still_read(tmp_path: Path) -> None:
    fixed = _dynamic_sidecar(
        inputs=(TensorSpec("image0", (1, 1, 480, 640), "float32"), TensorSpec("image1", (1, 1, 480, 640), "float32")),
        profiles=(),
    )
    path = tmp_path / "f.plan.json"
    data = fixed.to_dict()
    del data["profiles"]  # written before profiles existed
    path.write_text(json.dumps(data))
    assert read_sidecar(path).size_range() is None
    assert read_sidecar(path).buffer_shapes() == fixed.inputs


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d.update(profiles=[]), r"dynamic inputs \['image0', 'image1'\] and profiles \[\] differ"),
        (lambda d: d["profiles"][0].update(max=[1, 1, 100, 896]), "min <= opt <= max"),
        (lambda d: d["profiles"][0].update(min=[2, 1, 224, 224], opt=[2, 1, 480, 640], max=[2, 1, 896, 896]), "fit"),
        (lambda d: d["inputs"][0].update(shape=[1, 1, -2, 640]), "positive integers or -1"),
    ],
)
def test_inconsistent_profiles_are_refused(tmp_path: Path, edit, message: str) -> None:
    data = _dynamic_sidecar().to_dict()
    edit(data)
    path = tmp_path / "bad.plan.json"
    path.write_text(json.dumps(data))
    with pytest.raises(SidecarError, match=message):
        read_sidecar(path)


def test_tensor_spec_with_shape_fills_only_dynamic_axes() -> None:
    spec = TensorSpec("image0", (1, 1, DYNAMIC, DYNAMIC), "float32")
    assert spec.is_dynamic and spec.with_shape((1, 1, 256, 320)).shape == (1, 1, 256, 320)
    assert not spec.with_shape((1, 1, 256, 320)).is_dynamic
    with pytest.raises(ValueError, match="does not fit"):
        spec.with_shape((1, 3, 256, 320))
    with pytest.raises(ValueError, match="does not fit"):
        TensorSpec("x", (1, 8), "float32").with_shape((1, 9))
