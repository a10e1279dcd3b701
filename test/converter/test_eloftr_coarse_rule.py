"""The fixed-size top-k coarse rule against MatchAnything's threshold rule (upstream code path)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from oracles.eloftr_reference import _threshold_rule

from ma_trt_convert.eloftr.coarse_matching import (
    candidates_per_cell,
    confidence_matrix,
    interior_mask,
    top_candidates,
)


@pytest.mark.parametrize(("threshold", "k"), [(0.1, 9), (0.2, 4), (0.15, 6), (0.05, 19), (0.5, 1), (0.3, 3)])
def test_candidates_per_cell_is_the_row_bound(threshold: float, k: int) -> None:
    assert candidates_per_cell(threshold) == k


@pytest.mark.parametrize("threshold", [0.0, 1.0, -0.1, 1.5])
def test_candidates_per_cell_rejects_thresholds_outside_0_1(threshold: float) -> None:
    with pytest.raises(ValueError, match="threshold"):
        candidates_per_cell(threshold)


def _clustered_features(h: int, w: int, k: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Features where interior image-0 cells have 1..k identical interior partners in image 1 (cycling).

    A row with ``n`` identical partners gets confidence ≈ 1/n on each of them (> threshold for
    ``n <= k``), so rows with every count from 1 to k occur; the large norm makes the softmax sharp.
    """
    gen = torch.Generator().manual_seed(seed)
    cells = h * w
    feat0 = torch.nn.functional.normalize(torch.randn(cells, 256, generator=gen), dim=-1) * 300.0
    feat1 = torch.nn.functional.normalize(torch.randn(cells, 256, generator=gen), dim=-1) * 300.0
    interior = interior_mask(h, w).nonzero()[:, 0]
    partners = interior[torch.randperm(len(interior), generator=gen)].tolist()
    start = 0
    for count, row in enumerate(interior.tolist()):
        n = 1 + count % k
        if start + n > len(partners):
            break
        feat1[partners[start : start + n]] = feat0[row]
        start += n
    return feat0[None], feat1[None]


@pytest.mark.parametrize("threshold", [0.1, 0.2, 0.05])
def test_top_k_candidates_reproduce_the_threshold_rule(threshold: float) -> None:
    h, w = 24, 28
    k = candidates_per_cell(threshold)
    conf = confidence_matrix(*_clustered_features(h, w, k, seed=3))
    upstream = _threshold_rule(
        SimpleNamespace(thr=threshold, border_rm=2),
        conf,
        {"hw0_c": (h, w), "hw1_c": (h, w), "hw0_i": (8 * h, 8 * w)},
    )
    interior = interior_mask(h, w)
    score, j, valid = top_candidates(conf, interior, interior, k, threshold)
    rows = torch.arange(h * w)[:, None].expand(-1, k)[valid[0]]
    ours = sorted(zip(rows.tolist(), j[0][valid[0]].tolist(), strict=True))
    theirs = list(zip(upstream["i_ids"].tolist(), upstream["j_ids"].tolist(), strict=True))
    assert ours == theirs
    per_row = torch.bincount(upstream["i_ids"], minlength=h * w)
    assert int(per_row.max()) == k  # the bound is reached: a smaller k would lose matches
    assert len(theirs) > 100
    assert torch.equal(score[0][valid[0]].sort().values, upstream["mconf"].sort().values)


def test_interior_mask_drops_two_cells_at_each_border() -> None:
    mask = interior_mask(6, 7).reshape(6, 7)
    assert int(mask.sum()) == 2 * 3
    assert mask[2:4, 2:5].eq(1).all()
