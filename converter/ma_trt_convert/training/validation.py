"""Validation of the port during training: end-to-end matches on a fixed batch of held-out pairs."""

from __future__ import annotations

import numpy as np
import torch

from ma_trt_convert.eloftr import ELoFTRExportModule
from ma_trt_convert.training.metrics import PRECISION_THRESHOLDS_PX, match_errors
from ma_trt_convert.training.pair_batches import PairBatch
from ma_trt_convert.training.supervision import REPORTED_OFFSET

CHUNK = 4


@torch.no_grad()
def validate(module: ELoFTRExportModule, batch: PairBatch) -> dict[str, float]:
    """Matches per pair and precision at 1/3/5 px of the module's (eval-mode) output on ``batch``.

    The module is put in eval mode for the call and back in train mode after it. Reported keypoints
    plus :data:`~.supervision.REPORTED_OFFSET` are continuous pixels; the error is measured in image 1.
    """
    module.eval()
    counts, errors = [], []
    for start in range(0, batch.image0.shape[0], CHUNK):
        part = slice(start, start + CHUNK)
        result = module.match(batch.image0[part], batch.image1[part])
        for index in range(result.valid.shape[0]):
            valid = result.valid[index]
            points0 = (result.keypoints0[index][valid] + REPORTED_OFFSET).double().cpu().numpy()
            points1 = (result.keypoints1[index][valid] + REPORTED_OFFSET).double().cpu().numpy()
            homography = batch.homography[start + index].double().cpu().numpy()
            counts.append(len(points0))
            errors.append(match_errors(homography, points0, points1))
    module.train()
    every = np.concatenate(errors)
    summary = {"val_matches_per_pair": float(np.mean(counts))}
    for threshold in PRECISION_THRESHOLDS_PX:
        summary[f"val_precision_{threshold:g}px"] = float((every < threshold).mean()) if len(every) else 0.0
    return summary
