"""Strict loading of MatchAnything-ELoFTR weights, as released or in the ``transformers`` layout."""

from __future__ import annotations

import os
from pathlib import Path

import torch

from ma_trt_convert.eloftr.hf_layout import RELEASE_PREFIX, looks_like_hf_layout, to_release_layout
from ma_trt_convert.weights.checkpoint import (
    CheckpointError,
    compare_with_layout,
    describe_mismatch,
    listed_keys,
    load_layout,
    read_weight_file,
    require_layout,
    strip_prefix,
)

LAYOUT = "matchanything_eloftr"


def _from_hf(state: dict[str, torch.Tensor], path: Path) -> dict[str, torch.Tensor]:
    layout = load_layout(LAYOUT)
    renamed, unmapped = to_release_layout(state)
    report = compare_with_layout(renamed, layout)
    if unmapped or not report.ok:
        lines = [f"{path} uses the transformers EfficientLoFTR naming but does not map onto {layout.file_name}."]
        if unmapped:
            lines.append(f"keys without a released counterpart: {listed_keys(unmapped)}")
        if not report.ok:
            lines.append(describe_mismatch(report, path, renamed))
        lines.append("Pass an unmodified EfficientLoFTR/MatchAnything file from transformers, or the released .ckpt.")
        raise CheckpointError("\n  ".join(lines))
    return renamed


def load_release_state(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """Released-layout tensors (keys ``matcher.*``, 447 entries) from ``path``.

    ``path`` is either the released ``matchanything_eloftr.ckpt`` (checked key by key against the
    shipped layout) or a ``transformers`` EfficientLoFTR state dict (``.safetensors`` or torch file),
    which is renamed and then checked the same way.

    Raises:
        CheckpointError: unreadable file, or keys/shapes that do not match exactly (message lists them).
    """
    path = Path(path)
    state = read_weight_file(path)
    if looks_like_hf_layout(state):
        return _from_hf(state, path)
    return require_layout(state, load_layout(LAYOUT), path)


def load_module_state(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """:func:`load_release_state` with the ``matcher.`` prefix removed (the module's own keys)."""
    return strip_prefix(load_release_state(path), RELEASE_PREFIX)
