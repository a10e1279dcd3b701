"""Strict loading of the released RoMa files into :class:`~ma_trt_convert.roma.network.RomaNetwork`.

``matchanything_roma.ckpt`` (Lightning dict, 603 ``matcher.model.*`` tensors) and
``dinov2_vitl14_pretrain.pth`` (343 flat tensors) are each checked against their release layout
first (:func:`ma_trt_convert.weights.checkpoint.load_release_file`: any missing, unexpected or mis-shaped key is
a :class:`~ma_trt_convert.weights.checkpoint.CheckpointError` naming the file, and a file given for the other
option is recognised), then renamed to this package's module tree and loaded with
``load_state_dict(strict=True)``.
"""

from __future__ import annotations

import os

import torch
from torch import nn

from ma_trt_convert.roma.folding import fold_batch_norms
from ma_trt_convert.roma.gp import GP_SOLVERS, squaring_iterations
from ma_trt_convert.roma.network import RomaNetwork
from ma_trt_convert.weights.checkpoint import load_layout, load_release_file

DEFAULT_CG_ITERATIONS = 200
# Release key prefix -> RomaNetwork attribute prefix.
KEY_PREFIXES = (
    ("matcher.model.encoder.cnn.", "vgg."),
    ("matcher.model.decoder.embedding_decoder.", "coordinate_decoder."),
    ("matcher.model.decoder.gps.16.", "gp."),
    ("matcher.model.decoder.proj.", "proj."),
    ("matcher.model.decoder.conv_refiner.", "refiners."),
)


def rename_roma_keys(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Map release keys (``matcher.model.decoder.proj.16.0.weight``) to module keys (``proj.16.0.weight``).

    Raises:
        KeyError: a key has none of the known prefixes (cannot happen for a layout-checked file).
    """
    renamed = {}
    for key, value in state.items():
        for old, new in KEY_PREFIXES:
            if key.startswith(old):
                renamed[new + key[len(old) :]] = value
                break
        else:
            raise KeyError(f"no module for release key {key}")
    return renamed


def read_release_weights(checkpoint: str | os.PathLike[str], dinov2: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """Check both released files against their layouts and return one state dict for :class:`RomaNetwork`.

    Raises:
        CheckpointError: either file is unreadable or deviates from its layout (the message names the
            file and the keys, and recognises the two files passed the wrong way round).
    """
    roma_state = load_release_file(checkpoint, load_layout("matchanything_roma"))
    dinov2_state = load_release_file(dinov2, load_layout("dinov2_vitl14_pretrain"))
    state = rename_roma_keys(roma_state)
    state.update({f"dinov2.{key}": value for key, value in dinov2_state.items()})
    return state


def _half_weights(module: nn.Module, *kinds: type[nn.Module]) -> None:
    for layer in module.modules():
        if isinstance(layer, kinds):
            layer.half()


def apply_reference_precision(matcher: RomaNetwork) -> None:
    """Give ``matcher`` the reference's fp16 regions, as parameter dtypes.

    fp16: all of DINOv2 (the reference converts the ViT to fp16), VGG, projection and refiner-block
    convolutions, ``disp_emb``, the coordinate decoder's Linear layers. fp32: BatchNorm and LayerNorm
    parameters of the autocast regions (autocast leaves them fp32), the GP and every ``out_conv``.
    """
    matcher.dinov2.half()
    _half_weights(matcher.vgg, nn.Conv2d)
    _half_weights(matcher.proj, nn.Conv2d)
    _half_weights(matcher.coordinate_decoder, nn.Linear)
    for refiner in matcher.refiners.values():
        _half_weights(refiner.block1, nn.Conv2d)
        _half_weights(refiner.hidden_blocks, nn.Conv2d)
        refiner.disp_emb.half()


def default_gp_iterations(solver: str, coarse_res: int) -> int:
    """Iterations giving a worst-case-converged solve at ``coarse_res`` (``(coarse/14)²`` unknowns)."""
    if solver == "conjugate_gradient":
        return DEFAULT_CG_ITERATIONS
    return squaring_iterations((coarse_res // 14) ** 2)


def build_matcher(
    checkpoint: str | os.PathLike[str],
    dinov2: str | os.PathLike[str],
    *,
    coarse_res: int,
    upsample_res: int | None,
    gp_solver: str,
    gp_iterations: int | None = None,
) -> RomaNetwork:
    """An eval-mode fp32 :class:`RomaNetwork` with the released weights, BatchNorms folded into their
    convolutions (:mod:`.folding`, before any fp16 conversion), pos-embed baked; the export module's
    ``set_precision`` gives it fp16 regions."""
    if gp_solver not in GP_SOLVERS:
        raise ValueError(f"gp_solver must be one of {GP_SOLVERS}, got {gp_solver!r}")
    iterations = gp_iterations if gp_iterations is not None else default_gp_iterations(gp_solver, coarse_res)
    state = read_release_weights(checkpoint, dinov2)
    matcher = RomaNetwork(coarse_res, upsample_res, gp_solver, iterations)
    matcher.load_state_dict(state, strict=True)
    fold_batch_norms(matcher.eval())
    matcher.dinov2.bake_pos_embed(coarse_res)
    return matcher.eval()
