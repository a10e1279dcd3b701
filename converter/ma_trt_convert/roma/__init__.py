"""MatchAnything-RoMa in PyTorch, written for export: strict loading of the released files,
reference precision regions, static shapes and an ONNX-expressible GP solve.

Entry point for the converter: :func:`build_export_module`.
"""

from __future__ import annotations

import os

from torch import nn

from ma_trt_convert.errors import ConversionError
from ma_trt_convert.roma.camera_input import RomaCameraExportModule
from ma_trt_convert.roma.export_module import RomaExportModule
from ma_trt_convert.roma.loading import build_matcher
from ma_trt_convert.variants.roma import GP_SOLVERS
from ma_trt_ros.contract.sizes import SizeRange

DEFAULT_GP_SOLVER = GP_SOLVERS[0]

__all__ = ["DEFAULT_GP_SOLVER", "RomaCameraExportModule", "RomaExportModule", "build_export_module"]


def build_export_module(
    checkpoint: str | os.PathLike[str],
    dinov2: str | os.PathLike[str],
    *,
    coarse_res: int = 560,
    upsample_res: int | None = 864,
    precision: str = "fp32",
    gp_solver: str = DEFAULT_GP_SOLVER,
    gp_iterations: int | None = None,
    camera_sizes: str | None = None,
    camera_dtype: str | None = None,
) -> nn.Module:
    """Build the eval-mode export module from the two released files.

    Args:
        checkpoint: ``matchanything_roma.ckpt`` as released (checked strictly).
        dinov2: ``dinov2_vitl14_pretrain.pth`` as released (checked strictly).
        coarse_res: pass-1 side in pixels, multiple of 14 and 8 (reference 560).
        upsample_res: pass-2 side, multiple of 8 (reference 864), or None for pass 1 only.
        precision: ``"fp32"`` everywhere, or ``"fp16"`` for the reference's fp16 regions as explicit casts.
        gp_solver: ``"newton_schulz"``, ``"neumann"``, ``"conjugate_gradient"`` (exportable) or ``"dense"``.
        gp_iterations: solver steps; default: converged in the worst case for the coarse grid
            (Newton–Schulz/Neumann) or 200 (conjugate gradient). See ``docs/gp_solve.md``.
        camera_sizes: ``"MIN_HxMIN_W:MAX_HxMAX_W"``: the graph takes the camera images themselves, any
            size in that range, and resizes them inside (:class:`RomaCameraExportModule`,
            docs/roma_resize.md); None: the four fixed-size inputs.
        camera_dtype: with ``camera_sizes``, the camera inputs' element type: ``"float32"`` (in [0, 1]; None
            means it) or ``"uint8"`` (the camera's bytes, divided by 255 inside the graph).

    Returns:
        A :class:`RomaExportModule` (attributes ``input_names``, ``output_names``; methods
        ``example_inputs``, ``metadata``), in eval mode with ``requires_grad`` off on every parameter:
        ``torch.onnx.export`` traces with autograd enabled, and trainable parameters would make it keep
        every activation of the forward pass (15 GB instead of 7.4 GB peak at 224/336 on CPU).

    Raises:
        ma_trt_convert.errors.CheckpointError: a file is unreadable or not the released layout.
        ma_trt_convert.errors.ConversionError: ``camera_dtype`` other than float32 without ``camera_sizes``.
    """
    if camera_sizes is None and camera_dtype not in (None, "float32"):
        raise ConversionError(
            f"camera_dtype {camera_dtype} needs camera_sizes: only a camera-input graph takes the camera's bytes"
        )
    matcher = build_matcher(
        checkpoint,
        dinov2,
        coarse_res=coarse_res,
        upsample_res=upsample_res,
        gp_solver=gp_solver,
        gp_iterations=gp_iterations,
    )
    module = RomaExportModule(matcher)
    if camera_sizes is not None:
        module = RomaCameraExportModule(module, SizeRange.parse(camera_sizes, multiple=1), camera_dtype or "float32")
    return module.set_precision(precision).eval().requires_grad_(False)
