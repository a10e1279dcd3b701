"""MatchAnything-ELoFTR in PyTorch: faithful port for ONNX/TensorRT export, fixed or dynamic input size.

:func:`build_export_module` is the converter's entry point; :class:`ELoFTRExportModule` documents the
output contract.
"""

from __future__ import annotations

from pathlib import Path

from ma_trt_convert.eloftr.export_module import INPUT_NAMES, OUTPUT_NAMES, ELoFTRExportModule, MatchResult
from ma_trt_convert.eloftr.loading import load_module_state, load_release_state
from ma_trt_convert.variants.eloftr import ELOFTR_DEFAULT_MAX_MATCHES as DEFAULT_MAX_MATCHES
from ma_trt_ros.contract.sizes import SizeRange

__all__ = [
    "DEFAULT_MAX_MATCHES",
    "INPUT_NAMES",
    "OUTPUT_NAMES",
    "ELoFTRExportModule",
    "MatchResult",
    "build_export_module",
    "load_release_state",
]


def build_export_module(
    checkpoint: str | Path,
    *,
    height: int,
    width: int,
    precision: str = "fp32",
    threshold: float = 0.1,
    top_k: int | None = None,
    rope_reference_size: int | None = None,
    max_matches: int | None = DEFAULT_MAX_MATCHES,
    size_range: str | None = None,
) -> ELoFTRExportModule:
    """Strictly load ``checkpoint`` (released ``.ckpt`` or ``transformers`` layout) into a fused, eval-mode module.

    Args:
        checkpoint: weight file path.
        height, width: fixed input size in pixels (multiples of 32).
        precision: ``"fp32"`` or ``"fp16"`` (explicit float16 regions, see docs/eloftr_model.md).
        threshold: coarse confidence threshold in (0, 1).
        top_k, rope_reference_size: see :class:`ELoFTRExportModule`.
        max_matches: global budget of output rows (default :data:`DEFAULT_MAX_MATCHES`; None: every
            candidate, the heavy unbudgeted graph); see :class:`ELoFTRExportModule`.
        size_range: ``"MIN_HxMIN_W:MAX_HxMAX_W"``: export with dynamic height and width over that range
            (``height × width`` is the traced size, inside it); None: fixed size.

    Raises:
        CheckpointError: the file does not have the released (or ``transformers``) layout exactly.
        ValueError: bad size, threshold or precision.
    """
    module = ELoFTRExportModule(
        height,
        width,
        threshold,
        top_k=top_k,
        rope_reference_size=rope_reference_size,
        max_matches=max_matches,
        size_range=None if size_range is None else SizeRange.parse(size_range),
    )
    module.load_state_dict(load_module_state(checkpoint), strict=True)
    return module.eval().fuse().set_precision(precision)
