"""Building a variant's export module from its weight files (PyTorch; imported only by the commands
that need it).

Each port (:mod:`ma_trt_convert.eloftr`, :mod:`ma_trt_convert.roma`) exposes
``build_export_module(*release files, precision=..., **build options) -> torch.nn.Module`` with
``input_names``, ``output_names``, ``example_inputs(batch)``, ``dynamic_axes()``, ``metadata()`` and
``forward(*inputs) -> tuple[Tensor, ...]``; the files and options are the variant's
(:mod:`ma_trt_convert.variants`). ``export`` records the options in the ONNX (``build_args``) and
``verify`` rebuilds the same module from them.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

import torch

from ma_trt_convert.errors import CheckpointError, ConversionError
from ma_trt_convert.variants import variant_spec
from ma_trt_convert.variants.spec import VariantSpec

REQUIRED_ATTRIBUTES = ("input_names", "output_names", "example_inputs", "dynamic_axes", "metadata")


class ExportModule(Protocol):
    """What a model port's ``build_export_module`` returns (an eval ``torch.nn.Module``)."""

    input_names: tuple[str, ...]
    output_names: tuple[str, ...]

    def example_inputs(self, batch: int = 1) -> tuple[torch.Tensor, ...]: ...

    def dynamic_axes(self) -> dict[str, dict[int, str]]:
        """Input name -> {axis: symbolic name} of the axes the graph leaves dynamic (empty: fixed shapes)."""
        ...

    def metadata(self) -> dict[str, str]: ...

    def __call__(self, *inputs: torch.Tensor) -> tuple[torch.Tensor, ...]: ...


def release_paths(spec: VariantSpec, files: Mapping[str, str | None]) -> list[str]:
    """The variant's weight files in the port's order, from ``files`` (option destination -> path).

    Raises:
        ConversionError: a file the variant needs is not given or does not exist.
    """
    paths = []
    for release in spec.release_files:
        path = files.get(release.dest)
        if path is None:
            raise ConversionError(f"--variant {spec.name} needs {release.input_option} {release.file_name}")
        if not Path(path).is_file():
            raise ConversionError(f"{path}: no such file ({release.input_option}, the {release.file_name})")
        paths.append(str(path))
    return paths


def _port(variant: str) -> Any:
    module = variant_spec(variant).port
    try:
        port = importlib.import_module(module)
    except ImportError as exc:
        raise ConversionError(f"the {variant} model port cannot be imported ({exc})") from exc
    if not hasattr(port, "build_export_module"):
        raise ConversionError(f"{module} has no build_export_module: this checkout lacks the {variant} export entry")
    return port


def build_module(
    variant: str, files: Mapping[str, str | None], *, precision: str, args: Mapping[str, Any]
) -> ExportModule:
    """Load the weights and build ``variant``'s eval export module at ``precision`` with build ``args``.

    Raises:
        CheckpointError: a weight file without the released layout.
        ConversionError: a missing file, a missing port, build arguments the port refuses together (e.g.
            a size range without a match budget), or a module that lacks part of the interface.
    """
    paths = release_paths(variant_spec(variant), files)
    try:
        module = _port(variant).build_export_module(*paths, precision=precision, **args)
    except CheckpointError:
        raise
    except ValueError as exc:
        raise ConversionError(f"--variant {variant}: {exc}") from exc
    missing = [name for name in REQUIRED_ATTRIBUTES if not hasattr(module, name)]
    if missing:
        raise ConversionError(f"the {variant} export module lacks {', '.join(missing)}")
    return module.eval()


def encode_build_args(args: Mapping[str, Any]) -> str:
    """JSON form stored in the ONNX metadata."""
    return json.dumps(dict(args), sort_keys=True)


def decode_build_args(text: str) -> dict[str, Any]:
    """Inverse of :func:`encode_build_args`."""
    return dict(json.loads(text))


def with_device_decoding(variant: str, module: ExportModule) -> ExportModule:
    """``module`` followed by the variant's post-processing on the device (``VariantSpec.device_decoding``),
    or ``module`` itself when the variant has none."""
    target = variant_spec(variant).device_decoding
    if target is None:
        return module
    name, function = target.split(":")
    return getattr(importlib.import_module(name), function)(module).eval()
