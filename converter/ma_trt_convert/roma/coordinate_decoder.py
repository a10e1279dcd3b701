"""Transformer coordinate decoder at scale 16 and its anchor-classification → flow read-out.

Keys (under ``decoder.embedding_decoder.``): ``blocks.0..4.*`` (width 1024, 8 heads, no qkv bias, no
LayerScale, LayerNorm eps 1e-5) and ``to_out`` (Linear 1024 → 64·64 + 1). No positional encoding.
"""

from __future__ import annotations

import torch
from torch import nn

from ma_trt_convert.roma.precision import linear
from ma_trt_convert.roma.transformer import TransformerBlock

ANCHOR_RES = 64
DECODER_DIM = 1024
NUM_BLOCKS = 5
NUM_HEADS = 8


def anchor_table(res: int = ANCHOR_RES) -> torch.Tensor:
    """Normalised centres of the ``res``×``res`` anchor grid in row-major order: ``[res², 2]`` fp32, (x, y)."""
    axis = torch.linspace(-1 + 1 / res, 1 - 1 / res, steps=res)
    gy, gx = torch.meshgrid(axis, axis, indexing="ij")
    return torch.stack((gx, gy), dim=-1).reshape(res * res, 2)


class CoordinateDecoder(nn.Module):
    """Tokens ``cat(gp, features)`` → 5 transformer blocks → 4096 anchor logits + 1 certainty logit per cell."""

    def __init__(self) -> None:
        super().__init__()
        self.blocks = nn.Sequential(
            *(
                TransformerBlock(DECODER_DIM, NUM_HEADS, qkv_bias=False, layer_scale=False, eps=1e-5)
                for _ in range(NUM_BLOCKS)
            )
        )
        self.to_out = nn.Linear(DECODER_DIM, ANCHOR_RES * ANCHOR_RES + 1)
        self.register_buffer("anchors", anchor_table(), persistent=False)
        neighbours = torch.tensor([-1, 0, 1, -ANCHOR_RES, ANCHOR_RES]).reshape(1, 5, 1, 1)
        self.register_buffer("neighbour_offsets", neighbours, persistent=False)

    def forward(self, gp_posterior: torch.Tensor, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Decode one scale-16 grid.

        Args:
            gp_posterior: ``[B, 512, h, w]`` fp32 from the GP.
            features: ``[B, 512, h, w]`` projected image-0 features (fp32 or fp16).

        Returns:
            ``(flow, certainty)``: flow ``[B, 2, h, w]`` fp32, normalised image-1 coordinates (x, y);
            certainty logit ``[B, 1, h, w]`` in the decoder's Linear dtype.
        """
        B, _, h, w = gp_posterior.shape
        tokens = torch.cat((gp_posterior.float(), features.float()), dim=1).flatten(2).transpose(1, 2)
        out = linear(self.to_out, self.blocks(tokens))
        out = out.transpose(1, 2).reshape(B, ANCHOR_RES * ANCHOR_RES + 1, h, w)
        return self.classification_to_flow(out[:, :-1]), out[:, -1:]

    def classification_to_flow(self, logits: torch.Tensor) -> torch.Tensor:
        """Probability-weighted mean of the arg-max anchor and its four index neighbours.

        The neighbours are the anchor indices ``m−1, m, m+1, m−64, m+64`` clamped to ``[0, 4095]`` (as in
        the reference: ``m±1`` wraps to the adjacent row at the grid's left/right edge). The softmax is
        computed in fp32 and rounded to the logits' dtype before the arg-max, like the reference's
        softmax on fp16 logits.

        Args:
            logits: ``[B, 4096, h, w]``.

        Returns:
            ``[B, 2, h, w]`` fp32 normalised (x, y).
        """
        # softmax along the last axis of a channels-last view (same values; the 4096-way softmax across
        # dim 1 of [2, 4096, 40, 40] took 4.4 ms on an H200 as a "spatial" softmax). Explicit permutes:
        # the ONNX exporter writes movedim's negative axes into Transpose's perm, which is invalid.
        probs = torch.softmax(logits.float().permute(0, 2, 3, 1), dim=-1).permute(0, 3, 1, 2).to(logits.dtype)
        return self.flow_around_mode(probs, self.anchor_mode(probs))

    def anchor_mode(self, probs: torch.Tensor) -> torch.Tensor:
        """Index of the most probable anchor per cell: ``[B, 1, h, w]`` int64 from ``probs`` ``[B, 4096, h, w]``."""
        return probs.argmax(dim=1, keepdim=True)

    def flow_around_mode(self, probs: torch.Tensor, mode: torch.Tensor) -> torch.Tensor:
        """Probability-weighted mean of anchor ``mode`` (``[B, 1, h, w]``) and its four index neighbours.

        Returns:
            ``[B, 2, h, w]`` fp32 normalised (x, y).
        """
        index = (mode + self.neighbour_offsets).clamp(0, ANCHOR_RES * ANCHOR_RES - 1)
        neighbours = torch.gather(probs, 1, index).float()
        anchors = self.anchors[index.flatten()].reshape(*index.shape, 2)
        flow = (neighbours[..., None] * anchors).sum(dim=1) / neighbours.sum(dim=1)[..., None]
        return flow.permute(0, 3, 1, 2)
