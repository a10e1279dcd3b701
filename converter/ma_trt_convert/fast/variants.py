"""The one place that maps an export-module type to its fast-path rewrite.

A preparer takes a private copy of the export module and the wanted precision and returns the module
to run (same inputs and outputs as the export module's ``forward``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import nn

from ma_trt_convert.eloftr.export_module import ELoFTRExportModule
from ma_trt_convert.fast import eloftr, roma, triton_support
from ma_trt_convert.roma.camera_input import RomaCameraExportModule
from ma_trt_convert.roma.export_module import RomaExportModule
from ma_trt_convert.roma.gp import GaussianProcess
from ma_trt_convert.roma.refiner import ConvRefiner
from ma_trt_convert.roma.sampling import RomaSampledExportModule
from ma_trt_convert.roma.transformer import TransformerBlock
from ma_trt_convert.roma.vgg import VGG19BNFeatures

Preparer = Callable[..., nn.Module]


def prepare_inner(module: nn.Module, precision: str, **options: object) -> nn.Module:
    """The preparer of a wrapper whose ``roma`` is the module to rewrite (the draw after it stays as it is)."""
    preparer_for(module.roma)(module.roma, precision, **options)
    return module


PREPARERS: dict[type[nn.Module], Preparer] = {
    RomaExportModule: roma.prepare,
    RomaCameraExportModule: roma.prepare_camera_input,
    RomaSampledExportModule: prepare_inner,
    ELoFTRExportModule: eloftr.prepare,
}


# RoMa's export modules: the plain one and the runtime's wrappers of it (camera input, sparse draw), which
# the fast path rewrites alike.
ROMA_MODULES = (RomaExportModule, RomaCameraExportModule, RomaSampledExportModule)


# Rewrites on by default when compiled (``torch.compile``); explicit options win (docs/benchmarks.md).
# ELoFTR's fine windows blended from the half-resolution map pay only compiled: 4.16 -> 3.48 / 3.43 ms
# (two runs, H100, 2026-12-07; the same matches and flips), but 7.1 -> 8.1 ms uncompiled. Its fine matching
# in fp32 is what lets the compiled fp16 path pass the fidelity gate (trained weights, all 4,996 matches,
# H100, 2026-12-07: flips 80 / 91 against the reference fp16's 76 / 86 without it, 13 / 19 with it) for
# 3.74 -> 3.80 ms at the default budget; uncompiled fp16 passes without it.
COMPILED_OPTIONS: dict[type[nn.Module], dict[str, object]] = {
    ELoFTRExportModule: {"half_resolution_windows": True, "fine_fp32": True},
}


# Rewrites by the fast path's own Triton kernels, on by default where they run (CUDA builds of PyTorch on
# a CUDA device; elsewhere, e.g. CPU builds or Jetson builds without Triton, the PyTorch forms of the same
# contract); explicit options win. RoMa's correlation dot products: 60.0 -> 51.1 ms uncompiled and 43.7 ->
# 36.5 ms compiled by regions (H100, 560/864 fp16, 2026-12-07), the gate's deviations equal within 1e-4 px.
# ELoFTR's row top-k is not here: compiled it saved nothing (4.44 against 4.44 ms, same run).
TRITON_OPTIONS: dict[type[nn.Module], dict[str, object]] = {
    roma_type: {"correlation": "triton"} for roma_type in ROMA_MODULES
}


# Submodule types compiled on their own when the variant is compiled (``build_fast_runner(regional=None)``
# or True): RoMa's whole forward took > 99 s to compile (H200, 2026-12-03), its repeated blocks are where
# Inductor's fusions pay (refiners: bias + ReLU epilogues; DINOv2 and decoder blocks: LayerScale and
# residual adds), and the 24 DINOv2 blocks share one compiled graph.
ROMA_REGIONS = (ConvRefiner, TransformerBlock, VGG19BNFeatures, GaussianProcess)
COMPILE_REGIONS: dict[type[nn.Module], tuple[type[nn.Module], ...]] = {
    roma_type: ROMA_REGIONS for roma_type in ROMA_MODULES
}


def _registered_for(table: Mapping[type[nn.Module], Any], module: nn.Module) -> Any | None:
    """The entry of ``table`` for ``module``'s type or the nearest base class of it; None without one."""
    return next((table[cls] for cls in type(module).__mro__ if cls in table), None)


def compiled_options_for(module: nn.Module) -> dict[str, object]:
    """The preparer options :data:`COMPILED_OPTIONS` turns on for ``module``'s type when it is compiled."""
    return dict(_registered_for(COMPILED_OPTIONS, module) or {})


def triton_options_for(module: nn.Module, device: torch.device) -> dict[str, object]:
    """The preparer options :data:`TRITON_OPTIONS` turns on for ``module``'s type on ``device``: none unless
    Triton is installed and ``device`` is CUDA."""
    if not (triton_support.AVAILABLE and device.type == "cuda"):
        return {}
    return dict(_registered_for(TRITON_OPTIONS, module) or {})


def compile_regions_for(module: nn.Module) -> tuple[type[nn.Module], ...]:
    """The region types :data:`COMPILE_REGIONS` gives ``module``'s type; empty: compile the whole forward."""
    return tuple(_registered_for(COMPILE_REGIONS, module) or ())


def preparer_for(module: nn.Module) -> Preparer:
    """The preparer registered for ``module``'s type (or a base class of it).

    Raises:
        KeyError: none is registered.
    """
    preparer = _registered_for(PREPARERS, module)
    if preparer is None:
        known = ", ".join(c.__name__ for c in PREPARERS)
        raise KeyError(f"no fast path for {type(module).__name__}; known: {known}")
    return preparer
