"""The training objective of the ELoFTR port: the network's differentiable intermediates and ELoFTR's losses.

The export module's :meth:`~ma_trt_convert.eloftr.ELoFTRExportModule.match` takes arg-maxes and
thresholds; training needs what comes before them, computed by the same submodules and functions:

* coarse: the dual-softmax confidence ``[N, L, S]`` (float32, outside autocast); loss = mean over
  image-0 cells with a ground-truth cell ``j`` of ``−log conf[i, j]``;
* fine stage 1: on ``K`` ground-truth cell pairs per image pair, the 64×100 window dual softmax
  (:func:`~ma_trt_convert.eloftr.fine_matching.stage1_probability`); loss = mean ``−log p[a, q(a)]``
  over window pixels ``a`` whose true position ``q(a)`` lies in the padded image-1 window;
* fine stage 2: at the network's own stage-1 picks ``(a, b)``, the sub-pixel offset ``e``
  (:func:`~ma_trt_convert.eloftr.fine_matching.stage2_offset`); loss = mean squared error (px²) to the
  offset that makes the reported point exact, where that target lies in ``[−1, 1]²``.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from ma_trt_convert.eloftr import ELoFTRExportModule
from ma_trt_convert.eloftr.coarse_matching import confidence_matrix
from ma_trt_convert.eloftr.fine_matching import stage1_argmax, stage1_probability, stage2_offset
from ma_trt_convert.eloftr.fine_preprocess import STRIDE, select_windows0, windows1
from ma_trt_convert.training.pair_batches import PairBatch
from ma_trt_convert.training.supervision import coarse_targets, offset_targets, window_targets

EPS = 1e-6


class Losses(NamedTuple):
    """Scalar float32 losses of one batch; ``total`` is the weighted sum that is minimised."""

    total: torch.Tensor
    coarse: torch.Tensor
    fine: torch.Tensor
    offset: torch.Tensor


class LossWeights(NamedTuple):
    """Weights of the fine stage-1 and stage-2 losses relative to the coarse loss (weight 1)."""

    fine: float = 1.0
    offset: float = 1.0


def _masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of ``values`` where ``mask``; 0 (with gradient) when the mask is empty."""
    mask = mask.to(values.dtype)
    return (values * mask).sum() / mask.sum().clamp_min(1.0)


def _features(module: ELoFTRExportModule, batch: PairBatch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(conf [N, L, S] float32, fine0, fine1 [N, 64, H, W])`` of the pair batch."""
    coarse, x2, x1 = module.backbone(torch.cat([batch.image0, batch.image1], dim=0))
    feat0, feat1 = module.loftr_coarse(*coarse.chunk(2))
    fine0, fine1 = module.fine_preprocess(torch.cat([feat0, feat1], dim=0), x2, x1).chunk(2)
    with torch.autocast(device_type=feat0.device.type, enabled=False):
        conf = confidence_matrix(feat0.flatten(2).transpose(1, 2).float(), feat1.flatten(2).transpose(1, 2).float())
    return conf, fine0, fine1


def _sample_rows(target: torch.Tensor, rows: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """``rows`` image-0 cells per pair with a ground truth (random order), and whether each one has one."""
    noise = torch.rand(target.shape, generator=generator, device=generator.device)
    _, cells = torch.topk((target >= 0).float() + noise, min(rows, target.shape[1]), dim=1)
    return cells, torch.gather(target, 1, cells) >= 0


def compute_losses(
    module: ELoFTRExportModule,
    batch: PairBatch,
    fine_rows: int,
    weights: LossWeights,
    generator: torch.Generator,
) -> Losses:
    """The losses of ``batch`` (module in train mode; call inside autocast on the GPU).

    Args:
        module: the port, unfused.
        batch: pairs with their homographies.
        fine_rows: ground-truth cell pairs per image pair that go through the fine stage.
        weights: loss weights.
        generator: draws the fine rows (on the batch's device).
    """
    conf, fine0, fine1 = _features(module, batch)
    target = coarse_targets(batch.homography, batch.valid0, batch.valid1)
    has_target = target >= 0
    picked = torch.gather(conf, 2, target.clamp_min(0)[..., None]).squeeze(-1)
    coarse = _masked_mean(-torch.log(picked + EPS), has_target)

    cell0, row_ok = _sample_rows(target, fine_rows, generator)
    cell1 = torch.gather(target, 1, cell0).clamp_min(0)
    w0 = select_windows0(fine0, cell0).unsqueeze(2)
    w1 = windows1(fine1, cell1).unsqueeze(2)
    index, mapped = window_targets(batch.homography, cell0, cell1, batch.valid0, batch.valid1)
    with torch.autocast(device_type=conf.device.type, enabled=False):
        w0, w1 = w0.float(), w1.float()
        probability = stage1_probability(w0, w1).squeeze(2)
        chosen = torch.gather(probability, 3, index.clamp_min(0)[..., None]).squeeze(-1)
        fine = _masked_mean(-torch.log(chosen + EPS), (index >= 0) & row_ok[..., None])
        a, b = stage1_argmax(w0, w1)
        offset = stage2_offset(w0, w1, a, b, module.regression_index).squeeze(2)
    wanted = offset_targets(mapped, cell1, a.squeeze(2), b.squeeze(2), batch.image0.shape[-1] // STRIDE)
    a_known = torch.gather(index, 2, a) >= 0
    in_reach = (wanted.abs() <= 1).all(dim=-1) & row_ok & a_known.squeeze(2)
    offset_loss = _masked_mean((offset - wanted).square().sum(dim=-1), in_reach)
    total = coarse + weights.fine * fine + weights.offset * offset_loss
    return Losses(total, coarse.detach(), fine.detach(), offset_loss.detach())
