"""The runtime's ``torch`` backend: the ported model built from the release checkpoints.

A plugin of :mod:`ma_trt_ros.runtime` (entry point ``ma_trt_ros.backends: torch``): it lives with the
ports it runs, so the runtime never imports the converter. For machines without TensorRT, and as the
reference the engines are checked against. The model is the export module (the same
graph the ONNX holds), in eval mode, on ``settings.device``; on CUDA, ``settings.cuda_graph`` runs the
fast path of :mod:`ma_trt_convert.fast` (rewritten copy of the module, replayed as a CUDA graph, one
graph per input size). Build arguments with a ``size_range`` (ELoFTR) give a dynamic-size model.
"""

from __future__ import annotations

import os
import time
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ma_trt_convert.errors import USER_ERRORS
from ma_trt_convert.fast import build_fast_runner
from ma_trt_convert.variants import SPECS, VariantSpec, models, release_file
from ma_trt_convert.weights.checkpoint import closest_layout, read_weight_file
from ma_trt_ros.contract.sizes import size_range_of
from ma_trt_ros.contract.tensors import DYNAMIC, TensorSpec
from ma_trt_ros.contract.variants import variant_contract
from ma_trt_ros.runtime.errors import BackendUnavailableError, ModelError
from ma_trt_ros.runtime.model_files import model_id
from ma_trt_ros.runtime.options import BackendSettings


def _variant_spec(files: Mapping[str, str | None]) -> VariantSpec:
    """The variant whose released files are exactly the files given (RoMa: checkpoint + DINOv2).

    A lone checkpoint is read once to tell a RoMa checkpoint (whose DINOv2 file is missing) from ELoFTR's.
    """
    given = {dest for dest, path in files.items() if path is not None}
    spec = next(s for s in SPECS.values() if {r.dest for r in s.release_files} == given)
    if len(spec.release_files) == 1:
        layout = closest_layout(read_weight_file(files["checkpoint"]))
        owner = None if layout is None else SPECS[release_file(layout.name)[0]]
        if owner is not None and owner is not spec:
            needed = [r.file_name for r in owner.release_files if r.dest not in given]
            raise ModelError(
                f"{files['checkpoint']} is a {owner.name} checkpoint, which also needs {', '.join(needed)}: "
                f"set the dinov2 setting (node parameter dinov2_path, ma-trt-match --dinov2)"
            )
    return spec


class TorchBackend:
    """The PyTorch port of a variant (see :class:`~ma_trt_ros.runtime.backends.base.Backend`).

    The variant follows from the files: RoMa needs ``settings.dinov2`` beside its checkpoint, ELoFTR
    has one checkpoint. uint8 images (0..255) are taken for the float image inputs: uploaded as bytes (a
    quarter of the float32 upload) and divided by 255 on the device, the same float32 values as the
    runtime's :func:`~ma_trt_ros.runtime.images.uint8_to_float` on the host.
    """

    name = "torch"
    takes_uint8_images = True

    def __init__(self, checkpoint: str | os.PathLike[str], settings: BackendSettings) -> None:
        files = {"checkpoint": os.fspath(checkpoint), "dinov2": settings.dinov2}
        try:
            spec = _variant_spec(files)
            self.variant = spec.name
            self._device = _device(settings.device)
            args, _ = spec.resolve(settings.build_args)
            module = models.build_module(self.variant, files, precision=settings.precision, args=args)
        except USER_ERRORS as exc:
            raise ModelError(str(exc)) from exc
        module = models.with_device_decoding(self.variant, module)
        contract = variant_contract(self.variant)
        examples = module.example_inputs(1)
        self.size_range = size_range_of(module.metadata())
        dynamic = module.dynamic_axes()
        self.inputs = _specs(module.input_names, examples, dynamic, contract.descriptions)
        self._fast = settings.cuda_graph
        if settings.cuda_graph:
            # the fast path rewrites a copy of the module, which stays on the CPU: no eager pass on the device
            self._runner = self._fast_runner(module, settings)
        else:
            self._runner = module.to(self._device)
        with torch.no_grad():
            outputs = self._runner(*(t.to(self._device) for t in examples))
        self.outputs = _specs(module.output_names, outputs, dynamic, contract.descriptions)
        self.model_id = model_id(Path(checkpoint))
        # read-only host arrays seen again (the sampler's noise): name -> (array, its device copy)
        self._constants: dict[str, tuple[np.ndarray, torch.Tensor]] = {}
        # CUDA: per input, the pinned host buffer it goes through and the device buffer it lands in, kept
        # (run synchronises before it returns, so the next run may overwrite both)
        self._staging: dict[str, tuple[np.ndarray, torch.Tensor, torch.Tensor]] = {}
        # the divisor of uint8 images, on the device: a device tensor makes CUDA divide (by a Python number
        # PyTorch multiplies by the reciprocal instead, one float32 rounding more)
        self._byte_scale = torch.full((1,), 255.0, device=self._device)

    def _fast_runner(self, module: Any, settings: BackendSettings) -> Any:
        if self._device.type != "cuda":
            raise BackendUnavailableError("cuda_graph needs a CUDA device; set device to cuda or turn it off")
        if settings.compile and settings.compile_cache_dir:
            use_compile_cache(Path(settings.compile_cache_dir).expanduser())
        return build_fast_runner(
            module, device=str(self._device), precision=settings.precision, cuda_graph=True, compile=settings.compile
        )

    def run(
        self, inputs: Mapping[str, np.ndarray], wanted: Collection[str] | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, float]]:
        stages: dict[str, float] = {}
        start = time.perf_counter()
        tensors = [self._upload(s.name, inputs[s.name]) for s in self.inputs]
        stages["upload"] = (time.perf_counter() - start) * 1e3
        start = time.perf_counter()
        with torch.no_grad():
            # the fast runner's own output buffers: downloaded below, before the next call replaces them
            outputs = self._runner(*tensors, fresh_outputs=False) if self._fast else self._runner(*tensors)
            if self._device.type == "cuda":
                torch.cuda.synchronize(self._device)
        stages["execute"] = (time.perf_counter() - start) * 1e3
        start = time.perf_counter()
        arrays = {
            s.name: self._download(o)
            for s, o in zip(self.outputs, outputs, strict=True)
            if wanted is None or s.name in wanted
        }
        if self._device.type == "cuda":
            torch.cuda.synchronize(self._device)
        stages["download"] = (time.perf_counter() - start) * 1e3
        return arrays, stages

    def _upload(self, name: str, array: np.ndarray) -> torch.Tensor:
        """``array`` on the device, C-contiguous: through pinned memory on CUDA; a read-only array given again
        (the same object) is not copied again. A transposed view of a C-contiguous array (the NCHW view of
        an HWC camera image) crosses in its own memory order and is transposed on the device. A uint8 array
        (an image, 0..255) crosses as bytes and comes back float32 in [0, 1].

        On CUDA the host copy is NumPy's (into the kept pinned buffer) and the device one a single PyTorch
        call: each PyTorch call lets go of Python's GIL and must win it back, which costs the most where the
        node's other threads hold it (docs/node.md, "Threading and queue")."""
        kept = self._constants.get(name)
        if kept is not None and kept[0] is array:
            return kept[1]
        order = memory_order(array)
        stored = array.transpose(order)  # C-contiguous where the order exists
        if self._device.type == "cuda":
            tensor = self._through_staging(name, stored)
        elif stored.flags.c_contiguous and array.flags.writeable:
            tensor = torch.from_numpy(stored)
        else:  # a C-ordered copy: torch takes no negative strides, and the caller may not write to it
            tensor = torch.from_numpy(np.array(stored, order="C"))
        if order != tuple(range(array.ndim)):
            tensor = tensor.permute(*np.argsort(order).tolist())
        if array.dtype == np.uint8:
            return torch.div(tensor, self._byte_scale).contiguous()  # an image: never kept as a constant
        if not tensor.is_contiguous():
            tensor = tensor.contiguous()
        if not array.flags.writeable:
            tensor = tensor.clone()  # its own memory: the staging buffers serve the next array of this name
            self._constants[name] = (array, tensor)
        return tensor

    def _through_staging(self, name: str, array: np.ndarray) -> torch.Tensor:
        """``array`` copied into ``name``'s pinned host buffer and from there (asynchronously) into its device
        buffer, which is returned; both buffers are made again when the shape or dtype changes."""
        staging = self._staging.get(name)
        if staging is None or staging[0].shape != array.shape or staging[0].dtype != array.dtype:
            pinned = torch.from_numpy(np.array(array, order="C")).pin_memory()  # a writable copy, made once
            staging = self._staging[name] = (pinned.numpy(), pinned, torch.empty_like(pinned, device=self._device))
        host, pinned, device = staging
        np.copyto(host, array)
        return device.copy_(pinned, non_blocking=True)

    def _download(self, tensor: torch.Tensor) -> np.ndarray:
        """A host array of ``tensor`` that the caller owns (on CUDA: pinned, copied without waiting; the
        caller synchronises before reading)."""
        if self._device.type != "cuda":
            return tensor.detach().numpy()
        host = torch.empty(tensor.shape, dtype=tensor.dtype, pin_memory=True)
        return host.copy_(tensor, non_blocking=True).numpy()

    def gpu_memory_bytes(self) -> int | None:
        if self._device.type != "cuda":
            return None
        return int(torch.cuda.memory_reserved(self._device))

    def close(self) -> None:
        if getattr(self, "_runner", None) is None:
            return
        self._runner = None
        self._constants.clear()
        self._staging.clear()
        if self._device.type == "cuda":
            torch.cuda.empty_cache()


def memory_order(array: np.ndarray) -> tuple[int, ...]:
    """The axes of ``array`` from the largest stride to the smallest when that order makes it a C-contiguous
    array (``array.transpose(order)`` is then its memory as it lies); the identity order otherwise (the
    array is copied to C order)."""
    order = tuple(sorted(range(array.ndim), key=lambda axis: -array.strides[axis]))
    if array.transpose(order).flags.c_contiguous:
        return order
    return tuple(range(array.ndim))


def use_compile_cache(folder: Path) -> None:
    """Keep Inductor's and Triton's compiled kernels in ``folder`` (created), so later starts reuse them."""
    folder.mkdir(parents=True, exist_ok=True)
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = str(folder / "inductor")
    os.environ["TRITON_CACHE_DIR"] = str(folder / "triton")


def _device(name: str | None) -> torch.device:
    """The torch device ``name`` (None: CUDA when available, else the CPU); ModelError for a bad name."""
    try:
        return torch.device(name or ("cuda" if torch.cuda.is_available() else "cpu"))
    except RuntimeError as exc:
        raise ModelError(f"device {name!r} is not a torch device; use cuda, cuda:N or cpu") from exc


def _specs(
    names: tuple[str, ...], tensors: Any, dynamic: Mapping[str, Mapping[int, str]], descriptions: Mapping[str, str]
) -> tuple[TensorSpec, ...]:
    """The specs of ``tensors`` named ``names``: their shapes with the ``dynamic`` axes open, dtypes, meanings."""
    return tuple(
        TensorSpec(n, _open_axes(tuple(t.shape), dynamic.get(n, {})), _dtype_name(t), descriptions.get(n, ""))
        for n, t in zip(names, tensors, strict=True)
    )


def _open_axes(shape: tuple[int, ...], axes: Mapping[int, str]) -> tuple[int, ...]:
    """``shape`` with the given dynamic axes set to :data:`DYNAMIC`."""
    return tuple(DYNAMIC if axis in axes else size for axis, size in enumerate(shape))


def _dtype_name(tensor: Any) -> str:
    """numpy name of a torch dtype (``torch.float32`` -> ``float32``)."""
    return str(tensor.dtype).removeprefix("torch.")
