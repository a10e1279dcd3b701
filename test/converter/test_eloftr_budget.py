"""The global match budget (``max_matches``): selection rule, exactness against the unbudgeted module."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import torch

from ma_trt_convert.eloftr import DEFAULT_MAX_MATCHES, ELoFTRExportModule, MatchResult
from ma_trt_convert.eloftr.coarse_matching import budget_selection
from ma_trt_convert.synthetic.eloftr_weights import matching_state
from ma_trt_convert.synthetic.pairs import textured_pair
from ma_trt_convert.weights.checkpoint import load_layout, random_state_dict, strip_prefix

HEIGHT, WIDTH = 224, 320
MATCHES = 82  # upstream's coarse match count on this fixture (test_eloftr_parity.py)
ROOMY, TINY = 128, 32


@dataclass(frozen=True)
class Runs:
    full: MatchResult
    roomy: MatchResult
    tiny: MatchResult


@pytest.fixture(scope="module")
def runs() -> Runs:
    """One fixture pair through the same fused weights without a budget, with 128 rows and with 32."""
    image0, image1 = textured_pair(HEIGHT, WIDTH)
    state = strip_prefix(
        matching_state(random_state_dict(load_layout("matchanything_eloftr"), 0), image0, image1), "matcher."
    )
    results = []
    for budget in (None, ROOMY, TINY):
        module = ELoFTRExportModule(HEIGHT, WIDTH, max_matches=budget)
        module.load_state_dict(state, strict=True)
        with torch.no_grad():
            results.append(module.eval().fuse().match(image0, image1))
    return Runs(*results)


def _valid_rows(result: MatchResult) -> torch.Tensor:
    return result.valid[0].nonzero()[:, 0]


def test_selection_ranks_valid_first_then_orders_by_candidate_index() -> None:
    score = torch.tensor([[0.9, 0.2, 0.5, 0.95, 0.3, 0.4], [0.1, 0.8, 0.7, 0.6, 0.0, 0.9]])
    valid = torch.tensor([[False, True, True, False, True, False], [False, False, False, False, False, False]])
    # row 0: the three valid ones (even the weakest, 0.2, beats invalid 0.95), then the best invalid
    # one (0.95 at index 3), groups in index order; row 1: no valid one, the four best invalid ones
    assert budget_selection(score, valid, 4).tolist() == [[1, 2, 4, 3], [1, 2, 3, 5]]
    # a budget smaller than the valid count keeps the most confident valid ones
    assert budget_selection(score, valid, 2).tolist() == [[2, 4], [1, 5]]


def test_budget_above_the_match_count_reproduces_the_unbudgeted_module_exactly(runs: Runs) -> None:
    full, roomy = runs.full, runs.roomy
    assert int(full.num_valid) == int(roomy.num_valid) == int(full.valid.sum()) == MATCHES
    assert roomy.valid.shape == (1, ROOMY)
    assert roomy.valid[0, :MATCHES].all() and not roomy.valid[0, MATCHES:].any()
    assert torch.equal(roomy.confidence[0, MATCHES:], torch.zeros(ROOMY - MATCHES))
    rows = _valid_rows(full)
    for name in ("keypoints0", "keypoints1", "confidence", "cell0", "cell1"):
        assert torch.equal(getattr(roomy, name)[0, :MATCHES], getattr(full, name)[0, rows]), name


def test_tiny_budget_keeps_the_most_confident_matches_and_reports_the_overflow(runs: Runs) -> None:
    full, tiny = runs.full, runs.tiny
    assert int(tiny.num_valid) == MATCHES > TINY == tiny.valid.shape[1]
    assert tiny.valid.all()
    rows = _valid_rows(full)
    best = rows[torch.argsort(full.confidence[0, rows], descending=True)[:TINY]].sort().values
    for name in ("keypoints0", "keypoints1", "confidence", "cell0", "cell1"):
        assert torch.equal(getattr(tiny, name)[0], getattr(full, name)[0, best]), name
    dropped = full.confidence[0, rows].sort(descending=True).values[TINY:]
    assert tiny.confidence.min() > dropped.max()


def test_budget_is_capped_at_the_candidate_count_and_recorded_in_the_metadata() -> None:
    candidates = (HEIGHT // 8) * (WIDTH // 8) * 9
    capped = ELoFTRExportModule(HEIGHT, WIDTH, max_matches=10**6)
    assert capped.max_matches == candidates == 10080
    assert DEFAULT_MAX_MATCHES == 3072  # below TensorRT's TopK limit of 3840
    meta = ELoFTRExportModule(HEIGHT, WIDTH, max_matches=DEFAULT_MAX_MATCHES).metadata()
    assert (meta["max_matches"], meta["output_rows"], meta["num_candidates"]) == ("3072", "3072", "10080")
    meta = ELoFTRExportModule(HEIGHT, WIDTH).metadata()
    assert (meta["max_matches"], meta["output_rows"]) == ("none", "10080")
    assert meta["outputs"] == "keypoints0,keypoints1,confidence,valid,num_valid,cells"
    with pytest.raises(ValueError, match="max_matches must be positive"):
        ELoFTRExportModule(HEIGHT, WIDTH, max_matches=0)
