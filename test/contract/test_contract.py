"""The shared I/O contract: torch-free imports, one description per tensor, the ports use its names."""

from __future__ import annotations

import subprocess
import sys

import pytest

from ma_trt_ros.contract.variant_contract import VariantContract
from ma_trt_ros.contract.variants import CONTRACTS, VARIANTS, output_kind, variant_contract

HEAVY = ("torch", "onnx", "onnxruntime", "tensorrt", "tensorrt_rtx", "rclpy", "cv2")


def _imported_after(statement: str) -> list[str]:
    code = f"import sys; {statement}; print(sorted(m for m in {(*HEAVY, 'numpy')!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return eval(out.stdout)  # a printed list of module names


@pytest.mark.parametrize(
    "module",
    ["sidecar", "tensors", "sizes", "files", "errors", "variants", "eloftr", "roma", "variant_contract"],
)
def test_contract_modules_are_standard_library_only(module: str) -> None:
    assert _imported_after(f"import ma_trt_ros.contract.{module}") == []


def test_package_root_imports_nothing_heavy() -> None:
    assert _imported_after("import ma_trt_ros") == []


def test_registry_lists_both_variants_by_name() -> None:
    assert set(VARIANTS) == {"roma", "eloftr"}
    assert all(CONTRACTS[name].name == name for name in VARIANTS)
    assert variant_contract("eloftr").input_color == "gray"
    assert variant_contract("roma").input_color == "rgb"
    with pytest.raises(ValueError, match="known variants: roma, eloftr"):
        variant_contract("loftr")


def test_output_kinds() -> None:
    assert output_kind("keypoints1") == "pixels"
    assert output_kind("warp_1to0") == "normalized"
    assert output_kind("num_valid") == "count"
    assert output_kind("something_else") == "value"


def test_contract_rejects_undocumented_tensors_and_unknown_kinds() -> None:
    with pytest.raises(ValueError, match="without a description"):
        VariantContract("x", ("a",), ("b",), {"a": "input"}, {}, "gray", {})
    with pytest.raises(ValueError, match="without a description"):
        VariantContract("x", ("a",), ("b",), {"a": "in", "b": "out"}, {}, "gray", {"camera": 0})
    with pytest.raises(ValueError, match="unknown output kinds"):
        VariantContract("x", ("a",), ("b",), {"a": "in", "b": "out"}, {"b": "pixel"}, "gray", {})
