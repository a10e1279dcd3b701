"""Trained weights in and out of the release checkpoint format (``matchanything_eloftr.ckpt`` layout).

The file is a Lightning-style dict: ``state_dict`` (keys ``matcher.*``, the 447 entries of the release
layout, floating tensors in float16), ``epoch``, ``global_step`` (optimiser steps trained) and
``hyper_parameters`` (the training configuration as a JSON string). The strict loaders
(:func:`ma_trt_convert.eloftr.load_release_state`) read it like the released file.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from ma_trt_convert.eloftr import ELoFTRExportModule
from ma_trt_convert.eloftr.hf_layout import RELEASE_PREFIX
from ma_trt_convert.eloftr.loading import LAYOUT, load_module_state
from ma_trt_convert.weights.checkpoint import load_layout, require_layout
from ma_trt_ros.contract.files import atomic_writer


def release_state(module: ELoFTRExportModule, dtype: torch.dtype = torch.float16) -> dict[str, torch.Tensor]:
    """The module's weights under released keys, floating tensors cast to ``dtype`` (CPU, checked against the layout).

    Raises:
        ValueError: a weight is not finite in ``dtype`` (overflow).
    """
    state = {}
    for key, value in module.state_dict().items():
        value = value.detach().cpu()
        if value.is_floating_point():
            value = value.to(dtype)
            if not torch.isfinite(value).all():
                raise ValueError(f"{key} is not finite in {dtype}")
        state[RELEASE_PREFIX + key] = value
    return require_layout(state, load_layout(LAYOUT), "trained weights")


def write_release_checkpoint(path: str | Path, module: ELoFTRExportModule, step: int, config: dict) -> None:
    """Write the module's weights (float16) as a release-format checkpoint at ``path``, atomically."""
    payload = {
        "state_dict": release_state(module),
        "epoch": 0,
        "global_step": step,
        "hyper_parameters": json.dumps(config, sort_keys=True),
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_writer(path) as handle:
        torch.save(payload, handle)


def load_release_checkpoint(path: str | Path, module: ELoFTRExportModule) -> int:
    """Load a release-format checkpoint strictly into ``module`` (float32 copies); returns its ``global_step``
    (0 if absent)."""
    module.load_state_dict(load_module_state(path), strict=True)
    obj = torch.load(path, map_location="cpu", weights_only=True)
    return int(obj.get("global_step", 0)) if isinstance(obj, dict) else 0
