"""PyTorch export module -> cleaned ONNX file with metadata and I/O contract.

Export uses the TorchScript-based ``torch.onnx.export`` (``dynamo=False``): it needs no
``onnxscript``, takes any opset from 16, and produces the plain ops TensorRT's parser knows. Shapes
are fixed unless the module names dynamic axes (``dynamic_axes()``: ELoFTR exported with a size
range has dynamic input height and width); the batch size is always fixed.

Opset: default 17. TensorRT 8.5 (JetPack 5) parses up to opset 17; GridSample exists from opset 16
and TensorRT 10.13 computes GridSample wrongly at opset 20 (right at 18 and below). Opset 17 also
emits ``LayerNormalization``, which TensorRT 10 runs as one fused layer but TensorRT 8.5 does not
parse: for ``jetson-xavier-jp5`` export with ``--opset 16`` (LayerNorm decomposed into primitives).
"""

from __future__ import annotations

import logging
import os
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import onnx
import torch

from ma_trt_convert import __version__
from ma_trt_convert.engine_limits import DEFAULT_OPSET, SUPPORTED_OPSETS
from ma_trt_convert.errors import ConversionError
from ma_trt_convert.onnx.cleanup import cleanup, op_histogram, save_onnx
from ma_trt_convert.onnx.metadata import IO_CONTRACT_KEY, encode_io_contract, graph_io, set_metadata
from ma_trt_convert.variants.models import ExportModule
from ma_trt_ros.contract.tensors import DYNAMIC, TensorSpec

LOG = logging.getLogger(__name__)
# what a graph input may be: float32 images in [0, 1], or uint8 camera bytes the graph divides by 255
INPUT_DTYPES = (torch.float32, torch.uint8)


@dataclass(frozen=True)
class ExportResult:
    """What :func:`export_onnx` wrote.

    Attributes:
        files: the ``.onnx`` and, with external data, its ``.onnx.data``.
        op_counts: operator type -> node count of the cleaned graph.
        float16_initializers: how many weight tensors are float16 (0 for an fp32 export).
        metadata: everything stored in ``metadata_props``.
    """

    files: list[Path]
    op_counts: dict[str, int]
    float16_initializers: int
    metadata: dict[str, str]


def exporter_version() -> str:
    """``ma_trt_convert X / torch Y / onnx Z`` (stored as the ``exporter`` metadata)."""
    return f"ma_trt_convert {__version__} / torch {torch.__version__} / onnx {onnx.__version__}"


def _trace_to_onnx(
    module: ExportModule, inputs: tuple[torch.Tensor, ...], path: Path, opset: int
) -> list[tuple[int, ...]]:
    """Trace ``module`` on ``inputs`` into the ONNX file ``path``; returns the shapes of the traced run's outputs."""
    shapes: list[tuple[int, ...]] = []

    def keep_shapes(_module: torch.nn.Module, _inputs: tuple, outputs: tuple[torch.Tensor, ...]) -> None:
        shapes[:] = [tuple(int(size) for size in t.shape) for t in outputs]

    hook = module.register_forward_hook(keep_shapes)
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.filterwarnings("ignore", category=DeprecationWarning)
            warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
            warnings.filterwarnings("ignore", category=UserWarning, module=r"torch\.onnx")
            torch.onnx.export(
                module,
                inputs,
                os.fspath(path),
                dynamo=False,
                opset_version=opset,
                input_names=list(module.input_names),
                output_names=list(module.output_names),
                dynamic_axes=module.dynamic_axes() or None,
                do_constant_folding=True,
            )
    finally:
        hook.remove()
    return shapes


def _check_dynamic_axes(inputs: tuple[TensorSpec, ...], declared: dict[str, dict[int, str]]) -> None:
    """ConversionError unless exactly the declared input axes are dynamic."""
    problems = [
        f"input {spec.name} axes {found} dynamic, {sorted(declared.get(spec.name, {}))} declared"
        for spec in inputs
        if (found := [axis for axis, d in enumerate(spec.shape) if d == DYNAMIC]) != sorted(declared.get(spec.name, {}))
    ]
    if problems:
        raise ConversionError(f"the traced graph's input shapes differ from the port's: {'; '.join(problems)}")


def _set_output_shapes(model: onnx.ModelProto, shapes: list[tuple[int, ...]]) -> None:
    """Write the fixed output shapes of a dynamic-size graph (those of the traced run) into its outputs.

    ONNX shape inference leaves them open (TopK's K and the batch pass through shape arithmetic), but
    a dynamic-size port's outputs have one shape for every input size (its contract, e.g. ELoFTR's
    match budget): the shapes of one run are those of all runs.
    """
    for value, shape in zip(model.graph.output, shapes, strict=True):
        dims = value.type.tensor_type.shape.dim
        del dims[:]
        for size in shape:
            dims.add().dim_value = int(size)


def export_onnx(
    module: ExportModule,
    output: str | os.PathLike[str],
    *,
    opset: int = DEFAULT_OPSET,
    batch: int = 1,
    metadata: dict[str, str],
    descriptions: dict[str, str] | None = None,
    external_data: bool | None = None,
) -> ExportResult:
    """Trace ``module`` on ``module.example_inputs(batch)``, clean the graph, store metadata, save.

    Args:
        module: an export module (see :class:`ma_trt_convert.variants.models.ExportModule`); its
            inputs must be float32 (the runtime feeds float32 images in [0, 1]) or uint8 (camera bytes,
            which the graph divides by 255: RoMa's camera input with ``camera_dtype`` uint8).
        output: ``.onnx`` path; weights go to ``<output>.data`` when ``external_data`` says so.
        opset: ai.onnx opset, one of :data:`SUPPORTED_OPSETS`.
        batch: fixed batch size of every input.
        metadata: entries to store (variant, precision, hashes...); the module's own ``metadata()``,
            ``batch``, ``opset``, ``exporter`` and the I/O contract are added.
        descriptions: tensor name -> contract text (layout, range, convention).
        external_data: see :func:`ma_trt_convert.onnx.cleanup.save_onnx`.

    Raises:
        ConversionError: unsupported opset, inputs neither float32 nor uint8, or ops TensorRT rejects.
    """
    if opset not in SUPPORTED_OPSETS:
        raise ConversionError(f"opset {opset} is not supported; choose one of {SUPPORTED_OPSETS} (default 17)")
    if opset >= 20:
        LOG.warning("opset %d: TensorRT 10.13 computes GridSample wrongly at opset 20; 17 is the safe choice", opset)
    if batch < 1:
        raise ConversionError(f"--batch must be >= 1, got {batch}")
    device = next(module.parameters()).device
    inputs = tuple(t.to(device) for t in module.example_inputs(batch))
    wrong = [f"{n} ({t.dtype})" for n, t in zip(module.input_names, inputs, strict=True) if t.dtype not in INPUT_DTYPES]
    if wrong:
        raise ConversionError(f"inputs must be float32 images in [0, 1] or uint8 camera bytes; got {', '.join(wrong)}")
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".export.", dir=output.parent) as tmp:
        raw_path = Path(tmp) / "raw.onnx"
        LOG.info("tracing to ONNX (opset %d, batch %d)", opset, batch)
        shapes = _trace_to_onnx(module, inputs, raw_path, opset)
        model = onnx.load(os.fspath(raw_path))
    model = cleanup(model)
    if module.dynamic_axes():
        _set_output_shapes(model, shapes)
    model.producer_name, model.producer_version = "ma_trt_convert", __version__
    specs_in, specs_out = graph_io(model, descriptions)
    _check_dynamic_axes(specs_in, module.dynamic_axes())
    values = {**module.metadata(), **metadata}
    values.update(
        batch=str(batch),
        opset=str(opset),
        exporter=exporter_version(),
        **{IO_CONTRACT_KEY: encode_io_contract(specs_in, specs_out)},
    )
    set_metadata(model, values)
    counts = op_histogram(model)
    fp16 = sum(init.data_type == onnx.TensorProto.FLOAT16 for init in model.graph.initializer)
    files = save_onnx(model, output, external_data=external_data)
    return ExportResult(files, counts, fp16, values)
