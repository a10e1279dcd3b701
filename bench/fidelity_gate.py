"""The fast path's fidelity gate: a candidate's deviation from an fp32 baseline against an allowance.

The allowance is the reference's own fp16 run against its fp32 run on the same inputs; a candidate
passes a criterion when its deviation is no larger (Jaccard: no smaller). Discrete decisions (arg-max
flips between near-tied choices) are counted apart from the rounding-level deviation, since on
synthetic weights they decide every tail statistic:

* **RoMa**: a pass-1 cell whose arg-max anchor differs from the baseline's is a *tie flip*
  (``docs/roma_model.md``). The output pixels of flipped cells, and of the cells within
  :data:`TIE_HALO_CELLS` of one (the refiners carry a flipped flow into its neighbours), are left out
  of the warp (pixels at the output resolution) and certainty (|Δ|) statistics; the flipped cells are
  counted per direction.
* **ELoFTR**: matches are paired by identity and a shared match whose keypoint moved by more than
  ``FLIP_PX`` is a flip (a fine-stage window arg-max that went the other way), as the converter's
  ``verify`` does (:mod:`ma_trt_convert.verify.compare`). Judged: match-set Jaccard, median keypoint
  error and number of flips per image.

Medians below :data:`ROUNDING_FLOOR_PX` pass as rounding (an fp32 pixel coordinate below 1000 px
rounds at 6e-5 px; an allowance whose median is exactly 0 would otherwise fail any candidate that
rounds differently at all).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ma_trt_convert.verify.compare import compare_outputs

TIE_HALO_CELLS = 1
ROUNDING_FLOOR_PX = 1e-3
ROMA_DIRECTIONS = {"0to1": ("warp", "certainty"), "1to0": ("warp_1to0", "certainty_1to0")}
ELOFTR_OUTPUTS = ("keypoints0", "keypoints1", "valid", "cells")


def _summary(values: torch.Tensor) -> dict[str, float]:
    flat = values.flatten().double().cpu()
    if flat.numel() == 0:
        return {"median": float("nan"), "p99": float("nan"), "max": float("nan")}
    return {"median": flat.median().item(), "p99": torch.quantile(flat, 0.99).item(), "max": flat.max().item()}


def tie_affected(candidate_modes: torch.Tensor, baseline_modes: torch.Tensor, size: int) -> torch.Tensor:
    """Pixels of a ``size``² output grid near a flipped pass-1 cell.

    Args:
        candidate_modes, baseline_modes: arg-max anchor per pass-1 cell, int ``[2, 1, g, g]`` (direction
            0→1, then 1→0).

    Returns:
        bool ``[2, size, size]``: the pixel's cell, or one within :data:`TIE_HALO_CELLS` cells, flipped.
    """
    flipped = (candidate_modes.cpu() != baseline_modes.cpu()).float()
    halo = F.max_pool2d(flipped, 2 * TIE_HALO_CELLS + 1, stride=1, padding=TIE_HALO_CELLS)
    return F.interpolate(halo, size=(size, size), mode="nearest")[:, 0] > 0


def roma_deviation(
    candidate: dict[str, torch.Tensor],
    baseline: dict[str, torch.Tensor],
    candidate_modes: torch.Tensor,
    baseline_modes: torch.Tensor,
) -> dict[str, object]:
    """Per direction: flipped cells, and warp px / certainty |Δ| (median, p99, max) away from them.

    Args:
        candidate, baseline: RoMa outputs (``warp`` ``[1, R, R, 2]`` normalised, ``certainty`` ``[1, R, R]``
            and the ``_1to0`` pair).
        candidate_modes, baseline_modes: their pass-1 arg-max anchors, int ``[2, 1, g, g]``.
    """
    return pooled_roma_deviation([(candidate, baseline, candidate_modes, baseline_modes)])


def pooled_roma_deviation(
    runs: list[tuple[dict[str, torch.Tensor], dict[str, torch.Tensor], torch.Tensor, torch.Tensor]],
) -> dict[str, object]:
    """:func:`roma_deviation` over several pairs at once: flipped cells summed, the pixels kept by every
    pair pooled before the median / p99 / max are taken.

    Args:
        runs: one ``(candidate, baseline, candidate_modes, baseline_modes)`` per image pair, as the
            arguments of :func:`roma_deviation`.
    """
    out: dict[str, object] = {}
    for index, (direction, (warp, certainty)) in enumerate(ROMA_DIRECTIONS.items()):
        flips, cells, kept_pixels, pixels, certainties = 0, 0, [], [], []
        for candidate, baseline, candidate_modes, baseline_modes in runs:
            size = baseline["warp"].shape[1]
            kept = ~tie_affected(candidate_modes, baseline_modes, size)[index]
            flipped = candidate_modes[index].cpu() != baseline_modes[index].cpu()
            flips, cells = flips + int(flipped.sum()), cells + flipped.numel()
            px = ((candidate[warp].float() - baseline[warp].float()).cpu()[0] * size / 2).norm(dim=-1)
            delta = (candidate[certainty].float() - baseline[certainty].float()).abs().cpu()[0]
            kept_pixels.append(kept.flatten())
            pixels.append(px.flatten())
            certainties.append(delta.flatten())
        kept, px, delta = torch.cat(kept_pixels), torch.cat(pixels), torch.cat(certainties)
        out[direction] = {
            "flipped_cells": flips,
            "cells": cells,
            "kept_pixel_fraction": kept.float().mean().item(),
            "warp_px": _summary(px[kept]),
            "certainty_abs": _summary(delta[kept]),
            "warp_px_all_pixels": _summary(px),
        }
    return out


def _criterion(candidate: float, allowance: float, *, floor: float = 0.0, larger_is_better: bool = False) -> dict:
    passed = candidate >= allowance if larger_is_better else candidate <= max(allowance, floor)
    return {"candidate": candidate, "allowance": allowance, "pass": bool(passed)}


def _verdict(criteria: dict[str, dict]) -> dict[str, object]:
    return {"pass": all(c["pass"] for c in criteria.values()), "criteria": criteria}


def roma_verdict(candidate: dict, allowance: dict) -> dict[str, object]:
    """Pass/fail of :func:`roma_deviation` ``candidate`` against ``allowance``: per direction the warp and
    certainty median and p99 away from tie cells, and the count of flipped cells."""
    criteria = {}
    for direction in ROMA_DIRECTIONS:
        c, a = candidate[direction], allowance[direction]
        for stat in ("median", "p99"):
            floor = ROUNDING_FLOOR_PX if stat == "median" else 0.0
            criteria[f"{direction} warp px {stat}"] = _criterion(c["warp_px"][stat], a["warp_px"][stat], floor=floor)
            criteria[f"{direction} certainty {stat}"] = _criterion(c["certainty_abs"][stat], a["certainty_abs"][stat])
        criteria[f"{direction} flipped cells"] = _criterion(c["flipped_cells"], a["flipped_cells"])
    return _verdict(criteria)


def eloftr_arrays(cells: torch.Tensor, valid: torch.Tensor, keypoints0: torch.Tensor, keypoints1: torch.Tensor) -> dict:
    """One ELoFTR result as numpy arrays named as the graph outputs: ``cells`` int ``[1, R, 2]``, ``valid``
    bool ``[1, R]``, ``keypoints0``/``keypoints1`` float ``[1, R, 2]`` pixels (an oracle's ``M`` matches
    give ``R = M``, all valid)."""
    return {
        "keypoints0": keypoints0.detach().float().cpu().numpy().reshape(1, -1, 2),
        "keypoints1": keypoints1.detach().float().cpu().numpy().reshape(1, -1, 2),
        "valid": valid.detach().bool().cpu().numpy().reshape(1, -1),
        "cells": cells.detach().long().cpu().numpy().reshape(1, -1, 2),
    }


def _padded(result: dict[str, np.ndarray], rows: int) -> list[np.ndarray]:
    """The arrays of :data:`ELOFTR_OUTPUTS` with invalid rows appended up to ``rows``."""
    out = []
    for name in ELOFTR_OUTPUTS:
        array = result[name]
        pad = [(0, 0)] * array.ndim
        pad[1] = (0, rows - array.shape[1])
        out.append(np.pad(array, pad))
    return out


def eloftr_deviation(candidate: dict[str, np.ndarray], baseline: dict[str, np.ndarray]) -> dict[str, object]:
    """Match-set agreement and keypoint error (px, median / p99 / max, flips) on the shared matches."""
    rows = max(candidate["valid"].shape[1], baseline["valid"].shape[1])
    comparison = compare_outputs(ELOFTR_OUTPUTS, _padded(baseline, rows), _padded(candidate, rows))
    agreement = comparison.agreement
    out: dict[str, object] = {
        "jaccard": agreement.jaccard,
        "shared": agreement.both,
        "only_baseline": agreement.only_reference,
        "only_candidate": agreement.only_candidate,
    }
    for error in comparison.errors:
        out[f"{error.name}_px"] = {
            "median": error.median,
            "p99": error.p99,
            "max": error.max,
            "flips": round(error.flips * error.count) if error.count else 0,
        }
    return out


def eloftr_verdict(candidate: dict, allowance: dict) -> dict[str, object]:
    """Pass/fail of :func:`eloftr_deviation` ``candidate`` against ``allowance``: Jaccard, and per image the
    median keypoint error and the number of flips."""
    criteria = {"match-set Jaccard": _criterion(candidate["jaccard"], allowance["jaccard"], larger_is_better=True)}
    for image in ("keypoints0", "keypoints1"):
        c, a = candidate[f"{image}_px"], allowance[f"{image}_px"]
        criteria[f"{image} median px"] = _criterion(c["median"], a["median"], floor=ROUNDING_FLOOR_PX)
        criteria[f"{image} flips"] = _criterion(c["flips"], a["flips"])
    return _verdict(criteria)
