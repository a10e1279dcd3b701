"""Building a variant's export module (the model ports' ``build_export_module``) from weight files.

The model ports live in :mod:`ma_trt_convert.eloftr` and :mod:`ma_trt_convert.roma`; both expose
``build_export_module(...) -> torch.nn.Module`` with ``input_names``, ``output_names``,
``example_inputs(batch)``, ``metadata()`` and ``forward(*inputs) -> tuple[Tensor, ...]``. This module
is the only place that knows their argument lists; ``export`` records the arguments in the ONNX
(``build_args``) and ``verify`` rebuilds the same module from them.
"""

from __future__ import annotations

import importlib
import json
from typing import Any, Protocol

import torch

from ma_trt_convert.errors import ConversionError
from ma_trt_convert.variants.release_files import VARIANTS

REQUIRED_ATTRIBUTES = ("input_names", "output_names", "example_inputs", "metadata")
# build arguments whose None is recorded, not dropped: it selects a graph of its own (RoMa without the
# second pass, ELoFTR without the match budget)
NONE_IS_A_CHOICE = ("upsample_res", "max_matches")


class ExportModule(Protocol):
    """What a model port's ``build_export_module`` returns (an eval ``torch.nn.Module``)."""

    input_names: tuple[str, ...]
    output_names: tuple[str, ...]

    def example_inputs(self, batch: int = 1) -> tuple[torch.Tensor, ...]: ...

    def metadata(self) -> dict[str, str]: ...

    def __call__(self, *inputs: torch.Tensor) -> tuple[torch.Tensor, ...]: ...


def build_args(variant: str, **options: Any) -> dict[str, Any]:
    """The resolution/solver keyword arguments of ``variant``'s ``build_export_module``.

    ELoFTR: ``height``, ``width`` (pixels, multiples of 32), ``threshold``, ``max_matches`` (output
    rows; None: every candidate, the unbudgeted graph; left out: the port's default budget). RoMa:
    ``coarse_res``, ``upsample_res`` (pixels, multiples of 14 and 8; None: single pass) and
    ``gp_solver`` (left out when None, i.e. the port's default). Unknown options are ignored; None
    values are dropped except those of :data:`NONE_IS_A_CHOICE`.
    """
    if variant == "eloftr":
        keys = ("height", "width", "threshold", "max_matches")
    elif variant == "roma":
        keys = ("coarse_res", "upsample_res", "gp_solver")
    else:
        raise ConversionError(f"unknown variant {variant!r}; choose one of {', '.join(VARIANTS)}")
    return {k: options[k] for k in keys if k in options and (options[k] is not None or k in NONE_IS_A_CHOICE)}


def _port(variant: str) -> Any:
    try:
        port = importlib.import_module(f"ma_trt_convert.{variant}")
    except ImportError as exc:
        raise ConversionError(f"the {variant} model port cannot be imported ({exc})") from exc
    if not hasattr(port, "build_export_module"):
        raise ConversionError(
            f"ma_trt_convert.{variant} has no build_export_module yet: this checkout does not contain the "
            f"{variant} model port's export entry point"
        )
    return port


def build_module(
    variant: str,
    checkpoint: str,
    dinov2: str | None,
    *,
    precision: str,
    args: dict[str, Any],
) -> ExportModule:
    """Load the weights and build ``variant``'s eval export module at ``precision``.

    Raises:
        ConversionError: missing port, missing ``--dinov2`` for RoMa, or a module that lacks part of
            the interface.
    """
    port = _port(variant)
    if variant == "roma":
        if dinov2 is None:
            raise ConversionError("--variant roma needs --dinov2 dinov2_vitl14_pretrain.pth as well as --checkpoint")
        module = port.build_export_module(checkpoint, dinov2, precision=precision, **args)
    else:
        module = port.build_export_module(checkpoint, precision=precision, **args)
    missing = [name for name in REQUIRED_ATTRIBUTES if not hasattr(module, name)]
    if missing:
        raise ConversionError(f"the {variant} export module lacks {', '.join(missing)}")
    return module.eval()


def encode_build_args(args: dict[str, Any]) -> str:
    """JSON form stored in the ONNX metadata."""
    return json.dumps(args, sort_keys=True)


def decode_build_args(text: str) -> dict[str, Any]:
    """Inverse of :func:`encode_build_args`."""
    return dict(json.loads(text))
