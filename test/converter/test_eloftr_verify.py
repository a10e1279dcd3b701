"""``verify`` on ELoFTR's budgeted rows: rows are paired by ``cells`` when matches change validity.

The two output sets are made with the port's own row rule (:func:`budget_selection`: valid rows
first, by candidate index) from one table of 12 candidates; the "ONNX" side differs from the
"PyTorch" side only by which candidates are valid and by 1e-4 px of keypoint noise, as a backend
whose confidences sit on the other side of the threshold would.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from ma_trt_convert.eloftr import OUTPUT_NAMES
from ma_trt_convert.eloftr.coarse_matching import budget_selection
from ma_trt_convert.verify.compare import MatchAgreement, Tolerances, compare_outputs, match_rows

BUDGET = 8
GRID_WIDTH = 5  # coarse cells per row of the (made-up) grid
CANDIDATES = 12
NOISE_PX = 1e-4
# candidate m: image-0 cell m // 3 (three candidates per cell, as top_k = 3), a distinct image-1 cell
CELLS = torch.stack([torch.arange(CANDIDATES) // 3, (7 * torch.arange(CANDIDATES) + 2) % 20], dim=-1)
SCORE = torch.tensor([0.6, 0.2, 0.1, 0.4, 0.35, 0.05, 0.9, 0.3, 0.02, 0.32, 0.28, 0.01])
VALID = SCORE > 0.3  # candidates 0, 3, 4, 6, 9: five matches


def _keypoints(cells: torch.Tensor) -> torch.Tensor:
    """float32 ``[M, 2]``: a point inside each cell, different for every candidate."""
    origin = torch.stack([cells % GRID_WIDTH, cells // GRID_WIDTH], dim=-1).float() * 8
    return origin + torch.arange(CANDIDATES, dtype=torch.float32)[:, None] * 0.25 - 1.5


def _outputs(valid: torch.Tensor, noise: float = 0.0) -> list[np.ndarray]:
    """The :data:`OUTPUT_NAMES` arrays (batch 1, ``BUDGET`` rows) of a backend that found ``valid`` bool ``[M]``."""
    kept = budget_selection(SCORE[None], valid[None], BUDGET)[0]
    confidence = torch.where(valid, SCORE, torch.zeros_like(SCORE))
    rows = (
        _keypoints(CELLS[:, 0]) + noise,
        _keypoints(CELLS[:, 1]) - noise,
        confidence,
        valid,
        None,
        CELLS.to(torch.int32),
    )
    arrays = [None if t is None else t[kept][None].numpy() for t in rows]
    arrays[4] = np.array([int(valid.sum())], np.int32)
    return arrays


def _flipped(*candidates: int) -> torch.Tensor:
    valid = VALID.clone()
    valid[list(candidates)] = ~valid[list(candidates)]
    return valid


def _by_name(errors: list) -> dict:
    return {e.name: e for e in errors}


def test_one_flip_is_reported_as_a_set_difference_not_as_keypoint_errors() -> None:
    # candidate 3 (the second match) drops below the threshold in ONNX: its rows 2..4 move up by one
    reference, candidate = _outputs(VALID), _outputs(_flipped(3), NOISE_PX)
    assert candidate[5][0, :4, 0].tolist() == [0, 1, 2, 3]  # image-0 cells of candidates 0, 4, 6, 9
    comparison = compare_outputs(OUTPUT_NAMES, reference, candidate)
    assert comparison.agreement == MatchAgreement(both=4, only_reference=1, only_candidate=0)
    assert comparison.agreement.jaccard == pytest.approx(0.8)
    errors = _by_name(comparison.errors)
    assert [name for name in errors] == ["keypoints0", "keypoints1", "confidence", "num_valid"]
    for name in ("keypoints0", "keypoints1"):
        assert errors[name].count == 4
        assert errors[name].max == pytest.approx(NOISE_PX * 2**0.5, rel=1e-2)
    assert (errors["confidence"].count, errors["confidence"].max) == (4, 0.0)
    assert errors["num_valid"].max == pytest.approx(0.2)
    fp32 = Tolerances.default("fp32")
    assert fp32.min_match_agreement == 1.0
    assert comparison.failures(fp32) == ["valid", "num_valid"]
    assert comparison.failures(dataclasses.replace(fp32, min_match_agreement=0.8)) == []
    line = comparison.agreement.line("PyTorch", "ONNX")
    assert "in both 4, only in ONNX 0, only in PyTorch 1, Jaccard 0.8000" in line

    # compared position by position (what verify did before), the shifted rows look like 8+ px errors
    assert OUTPUT_NAMES[-1] == "cells"
    in_order = _by_name(compare_outputs(OUTPUT_NAMES[:-1], reference[:-1], candidate[:-1]).errors)
    assert in_order["keypoints0"].max > 8.0 and in_order["keypoints1"].max > 8.0
    assert in_order["valid"].max == pytest.approx(1 / BUDGET)


def test_opposite_flips_keep_the_count_but_not_the_set() -> None:
    # candidate 0 turns invalid and candidate 7 (confidence 0.30, at the threshold) valid
    comparison = compare_outputs(OUTPUT_NAMES, _outputs(VALID), _outputs(_flipped(0, 7), NOISE_PX))
    assert comparison.agreement == MatchAgreement(both=4, only_reference=1, only_candidate=1)
    assert comparison.agreement.jaccard == pytest.approx(4 / 6)
    errors = _by_name(comparison.errors)
    assert errors["num_valid"].max == 0.0
    assert errors["keypoints1"].max == pytest.approx(NOISE_PX * 2**0.5, rel=1e-2)
    assert comparison.failures(Tolerances.default("fp16")) == ["valid"]


def test_batch_items_are_paired_separately() -> None:
    reference = [np.concatenate(pair) for pair in zip(_outputs(VALID), _outputs(VALID), strict=True)]
    candidate = [np.concatenate(pair) for pair in zip(_outputs(_flipped(3)), _outputs(_flipped(0, 7)), strict=True)]
    ref_rows, cand_rows, agreement = match_rows((reference[5], reference[3]), (candidate[5], candidate[3]))
    assert agreement == MatchAgreement(both=8, only_reference=2, only_candidate=1)
    assert (ref_rows // BUDGET == cand_rows // BUDGET).all()  # never across batch items
    assert np.array_equal(reference[5].reshape(-1, 2)[ref_rows], candidate[5].reshape(-1, 2)[cand_rows])


def test_identical_sets_and_duplicate_identities() -> None:
    outputs = _outputs(VALID)
    comparison = compare_outputs(OUTPUT_NAMES, outputs, _outputs(VALID))
    assert comparison.agreement == MatchAgreement(both=5, only_reference=0, only_candidate=0)
    assert comparison.failures(Tolerances.default("fp32")) == []
    assert MatchAgreement(0, 0, 0).jaccard == 1.0
    cells = outputs[5].copy()
    cells[0, 1] = cells[0, 0]
    with pytest.raises(ValueError, match="two valid rows share an identity"):
        match_rows((cells, outputs[3]), (outputs[5], outputs[3]))
