"""ONNX Runtime vs PyTorch parity on the same synthetic image pair.

Inputs (:data:`PAIRS`): ``octaves`` (default), a seeded smooth texture (image 0) and a shifted,
re-lit copy of it (image 1); or ``shifted``, a finer texture moved by a few pixels
(:func:`ma_trt_convert.synthetic.pairs.textured_pair`), the pair on which ELoFTR with synthetic
:func:`~ma_trt_convert.synthetic.eloftr_weights.matching_state` weights gives many matches. The pair is
resized to every input's resolution (inputs whose name starts with ``image0``/``image1`` get the
same picture at their own size: RoMa's coarse and upsample inputs stay consistent), one picture per
batch item.

The comparison itself (per-output kinds, match-set agreement, tolerances) is
:mod:`ma_trt_convert.verify.compare`, shared with the runtime's contract tests.
"""

from __future__ import annotations

import contextlib
import os

import numpy as np
import onnxruntime as ort
import torch
import torch.nn.functional as F

from ma_trt_convert.synthetic.pairs import octave_pair, textured_pair
from ma_trt_convert.verify.half_on_cpu import half_convolutions_in_float
from ma_trt_ros.contract.tensors import TensorSpec
from ma_trt_ros.runtime.images import to_bytes

PAIRS = ("octaves", "shifted")


def synthetic_inputs(specs: tuple[TensorSpec, ...], seed: int = 0, pair: str = "octaves") -> list[np.ndarray]:
    """One array per input spec ``[B, C, H, W]`` (see module docstring); C is 1 or 3: float32 in [0, 1], or
    uint8 0..255 for a uint8 spec (camera bytes).

    ``pair`` is one of :data:`PAIRS`; ``shifted`` draws batch item ``i`` with seed ``seed + i`` at the
    largest input height and width.

    Raises:
        ValueError: unknown ``pair``.
    """
    batch = specs[0].shape[0]
    if pair == "octaves":
        generator = torch.Generator().manual_seed(seed)
        size = 2 * max(max(spec.shape[2:]) for spec in specs)
        pictures = [octave_pair(size, generator) for _ in range(batch)]
    elif pair == "shifted":
        height, width = (max(spec.shape[axis] for spec in specs) for axis in (2, 3))
        grey = [textured_pair(height, width, seed=seed + item) for item in range(batch)]
        pictures = [(first[0].expand(3, -1, -1), second[0].expand(3, -1, -1)) for first, second in grey]
    else:
        raise ValueError(f"unknown pair {pair!r}; expected one of {', '.join(PAIRS)}")
    arrays = []
    for spec in specs:
        which = 1 if spec.name.startswith("image1") else 0
        stack = torch.stack([pair[which] for pair in pictures])
        resized = F.interpolate(stack, size=spec.shape[2:], mode="area")
        if spec.shape[1] == 1:
            resized = resized.mean(dim=1, keepdim=True)
        image = resized.contiguous().numpy().astype(np.float32)
        arrays.append(to_bytes(image) if spec.dtype == "uint8" else image)
    return arrays


def run_onnxruntime(onnx_path: str | os.PathLike[str], names: tuple[str, ...], inputs: list[np.ndarray]) -> list:
    """Outputs of the ONNX file on ONNX Runtime's CPU provider (graph optimisations on)."""
    session = ort.InferenceSession(os.fspath(onnx_path), providers=["CPUExecutionProvider"])
    return session.run(None, dict(zip(names, inputs, strict=True)))


def run_torch(module: torch.nn.Module, inputs: list[np.ndarray]) -> list[np.ndarray]:
    """Outputs of the PyTorch module on the same inputs (moved to the module's device).

    On the CPU, fp16 convolutions run as fp32 arithmetic rounded to fp16 (:mod:`ma_trt_convert.verify.half_on_cpu`).
    """
    device = next(module.parameters()).device
    fast_half = half_convolutions_in_float() if device.type == "cpu" else contextlib.nullcontext()
    with torch.no_grad(), fast_half:
        outputs = module(*(torch.from_numpy(a).to(device) for a in inputs))
    return [o.detach().cpu().numpy() for o in outputs]
