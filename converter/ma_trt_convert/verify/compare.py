"""Comparing two backends' outputs of one graph (numpy; used by ``verify``, the tests and the benchmarks).

Each output is compared by its *kind* (from its name, see
:func:`ma_trt_ros.contract.variants.output_kind`):

- ``pixels``: coordinates in pixels (ELoFTR keypoints); error = Euclidean distance in pixels.
- ``normalized``: coordinates in [-1, 1] (RoMa warp, last axis (x, y[, x, y])); converted to pixels
  with ``size/2`` where ``size`` is the output grid's height (RoMa works on square grids).
- ``score``: certainty/confidence; error = absolute difference.
- ``mask``: boolean validity; error = fraction of entries that differ.
- ``count``: match counts (ELoFTR ``num_valid``); error = |difference| / max(reference, 1), a
  fraction held to ``1 − min_match_agreement``.
- ``value``: anything else; absolute difference.

**Graphs with row identities** (ELoFTR: ``valid`` ``[N, R]`` and ``cells`` int ``[N, R, 2]``, the
(image-0 cell, image-1 cell) of each row): rows are matched by identity, not by position. ELoFTR's
budgeted rows hold the valid matches first, so one match whose validity differs between the two
results shifts every later row; compared in order, these would show as large false keypoint
errors. Instead the valid sets are compared (:class:`MatchAgreement`: in both, only in one, Jaccard
index, held to ``min_match_agreement``) and every other per-row output is compared on the rows valid
in both results, paired by identity.

**Other graphs with a boolean ``valid`` output** (no identities): rows are compared in order,
``valid`` as a mismatch fraction, coordinates over the entries valid in both results.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ma_trt_ros.contract.variants import output_kind

VALID_OUTPUT = "valid"
# A coordinate that moved by more than half a pixel took another discrete decision (an arg-max flip
# between near-tied pixels or cells), which rounding alone never does; OutputError.flips counts them.
FLIP_PX = 0.5
ROW_IDENTITY_OUTPUT = "cells"


@dataclass(frozen=True)
class Tolerances:
    """Pass limits: coordinate p99/max in pixels, score max abs error, mask mismatch fraction, and the
    least Jaccard index of the valid-match sets (graphs with row identities; also bounds the relative
    difference of match counts by ``1 − min_match_agreement``)."""

    px_p99: float
    px_max: float
    score_max: float
    mask_fraction: float
    min_match_agreement: float

    @classmethod
    def default(cls, precision: str) -> Tolerances:
        """Defaults: tight for fp32 graphs (identical match sets), looser for fp16 graphs (10-bit mantissa)."""
        if precision == "fp16":
            return cls(px_p99=2.0, px_max=8.0, score_max=0.05, mask_fraction=0.01, min_match_agreement=0.95)
        return cls(px_p99=0.1, px_max=1.0, score_max=1e-3, mask_fraction=0.002, min_match_agreement=1.0)


@dataclass(frozen=True)
class OutputError:
    """Error statistics of one output; ``count`` is the number of compared entries, ``flips`` the fraction of
    coordinates that moved by more than :data:`FLIP_PX` (pixel units only, else NaN)."""

    name: str
    kind: str
    unit: str
    count: int
    median: float
    p99: float
    max: float
    flips: float = math.nan

    def passes(self, tol: Tolerances) -> bool:
        if self.count == 0:
            return True
        if self.kind in ("pixels", "normalized"):
            return self.p99 <= tol.px_p99 and self.max <= tol.px_max
        if self.kind == "count":
            return 1.0 - self.max >= tol.min_match_agreement
        if self.kind == "mask":
            return self.max <= tol.mask_fraction
        return self.max <= tol.score_max

    def line(self) -> str:
        kind = "pixels" if self.unit == "px" else self.kind  # warps are compared in pixels, not normalised
        return (
            f"{self.name:<14} {kind:<10} n={self.count:<9} median {self.median:.3g}  p99 {self.p99:.3g}  "
            f"max {self.max:.3g} {self.unit}"
        )


@dataclass(frozen=True)
class MatchAgreement:
    """Valid matches of two results, paired by row identity, summed over the batch (counts of matches)."""

    both: int
    only_reference: int
    only_candidate: int

    @property
    def jaccard(self) -> float:
        """``both / union`` in [0, 1]; 1 when neither result has a match."""
        union = self.both + self.only_reference + self.only_candidate
        return self.both / union if union else 1.0

    def passes(self, tol: Tolerances) -> bool:
        return self.jaccard >= tol.min_match_agreement

    def line(self, reference: str, candidate: str) -> str:
        return (
            f"{VALID_OUTPUT:<14} {'matches':<10} in both {self.both}, only in {candidate} {self.only_candidate}, "
            f"only in {reference} {self.only_reference}, Jaccard {self.jaccard:.4f}"
        )


@dataclass(frozen=True)
class Comparison:
    """Per-output errors, and the match-set agreement for graphs with row identities (else None)."""

    errors: list[OutputError]
    agreement: MatchAgreement | None

    def failures(self, tol: Tolerances) -> list[str]:
        """Names of the outputs beyond ``tol`` (``valid`` when the match sets disagree too much)."""
        failed = [err.name for err in self.errors if not err.passes(tol)]
        if self.agreement is not None and not self.agreement.passes(tol):
            failed.insert(0, VALID_OUTPUT)
        return failed


def _stats(name: str, kind: str, unit: str, errors: np.ndarray) -> OutputError:
    errors = errors.astype(np.float64).reshape(-1)
    if errors.size == 0:
        return OutputError(name, kind, unit, 0, math.nan, math.nan, math.nan)
    return OutputError(
        name,
        kind,
        unit,
        errors.size,
        float(np.median(errors)),
        float(np.percentile(errors, 99)),
        float(errors.max()),
        float((errors > FLIP_PX).mean()) if unit == "px" else math.nan,
    )


def _row_keys(cells: np.ndarray, size: int) -> np.ndarray:
    """int64 ``[N·R]`` key of each row, unique over the batch: ``(item, cell0, cell1)`` of int ``[N, R, 2]``
    with cell indices below ``size``."""
    cells = cells.astype(np.int64)
    item = np.arange(cells.shape[0], dtype=np.int64)[:, None]
    return ((item * size + cells[..., 0]) * size + cells[..., 1]).reshape(-1)


def match_rows(
    reference: tuple[np.ndarray, np.ndarray], candidate: tuple[np.ndarray, np.ndarray]
) -> tuple[np.ndarray, np.ndarray, MatchAgreement]:
    """Pair the valid rows of two results by identity.

    Args:
        reference, candidate: ``(cells, valid)`` each: row identities, non-negative int ``[N, R, 2]``
            (the same ``N``; ``R`` may differ), and bool ``[N, R]``.

    Returns:
        ``(reference_rows, candidate_rows, agreement)``: int64 indices into the flattened ``N·R`` rows
        of the matches valid in both, in the same order (row ``reference_rows[t]`` of one result is
        row ``candidate_rows[t]`` of the other), and the set sizes.

    Raises:
        ValueError: two valid rows of one result share an identity (not a graph with row identities).
    """
    size = 1 + max(int(cells.max(initial=0)) for cells, _ in (reference, candidate))
    keys, rows = [], []
    for cells, valid in (reference, candidate):
        kept = np.flatnonzero(valid.astype(bool).reshape(-1))
        kept_keys = _row_keys(cells, size)[kept]
        if np.unique(kept_keys).size != kept.size:
            raise ValueError(f"output {ROW_IDENTITY_OUTPUT}: two valid rows share an identity")
        keys.append(kept_keys)
        rows.append(kept)
    _, ref_at, cand_at = np.intersect1d(keys[0], keys[1], assume_unique=True, return_indices=True)
    agreement = MatchAgreement(ref_at.size, rows[0].size - ref_at.size, rows[1].size - cand_at.size)
    return rows[0][ref_at], rows[1][cand_at], agreement


def _output_error(name: str, ref: np.ndarray, cand: np.ndarray, keep: np.ndarray | None = None) -> OutputError:
    """Error statistics of one output by its kind (module docstring); ``keep`` (bool, the shape of the
    per-point errors) restricts coordinate errors to those entries."""
    kind = output_kind(name)
    if kind == "mask":
        mismatch = (ref.astype(bool) != cand.astype(bool)).mean() if ref.size else 0.0
        return OutputError(name, kind, "fraction", ref.size, mismatch, mismatch, mismatch)
    diff = ref.astype(np.float64) - cand.astype(np.float64)
    if kind == "count":
        errors = np.abs(diff) / np.maximum(np.abs(ref.astype(np.float64)), 1.0)
        unit = "fraction"
    elif kind == "pixels":
        errors = np.linalg.norm(diff, axis=-1)
        unit = "px"
    elif kind == "normalized":
        size = ref.shape[1]
        errors = np.linalg.norm(diff.reshape(*diff.shape[:-1], -1, 2), axis=-1) * size / 2
        unit = "px"
    else:
        errors = np.abs(diff)
        unit = ""
    if keep is not None and kind == "pixels" and errors.shape == keep.shape:
        errors = errors[keep]
    return _stats(name, kind, unit, errors)


def _compare_in_order(outputs: dict[str, tuple[np.ndarray, np.ndarray]]) -> Comparison:
    """Position-by-position comparison (coordinates where both results are valid, if there is ``valid``)."""
    both_valid = None
    if VALID_OUTPUT in outputs:
        ref_valid, cand_valid = outputs[VALID_OUTPUT]
        both_valid = ref_valid.astype(bool) & cand_valid.astype(bool)
    return Comparison([_output_error(name, ref, cand, both_valid) for name, (ref, cand) in outputs.items()], None)


def _compare_by_identity(outputs: dict[str, tuple[np.ndarray, np.ndarray]]) -> Comparison:
    """Valid-set agreement, and every per-row output (``[N, R, ...]``) on the rows valid in both results."""
    (ref_cells, cand_cells), (ref_valid, cand_valid) = outputs[ROW_IDENTITY_OUTPUT], outputs[VALID_OUTPUT]
    ref_rows, cand_rows, agreement = match_rows((ref_cells, ref_valid), (cand_cells, cand_valid))
    errors = []
    for name, (ref, cand) in outputs.items():
        if name in (ROW_IDENTITY_OUTPUT, VALID_OUTPUT):
            continue
        if ref.shape[:2] == ref_valid.shape:
            ref = ref.reshape(-1, *ref.shape[2:])[ref_rows]
            cand = cand.reshape(-1, *cand.shape[2:])[cand_rows]
        errors.append(_output_error(name, ref, cand))
    return Comparison(errors, agreement)


def compare_outputs(names: tuple[str, ...], reference: list[np.ndarray], candidate: list[np.ndarray]) -> Comparison:
    """Error statistics per output of ``candidate`` against ``reference`` (see module docstring): by row
    identity when the graph has ``valid`` and ``cells`` outputs, else position by position."""
    outputs = dict(zip(names, zip(reference, candidate, strict=True), strict=True))
    for name, (ref, cand) in outputs.items():
        if ref.shape != cand.shape:
            raise ValueError(f"output {name}: shapes differ, {ref.shape} vs {cand.shape}")
    if ROW_IDENTITY_OUTPUT in outputs and VALID_OUTPUT in outputs:
        return _compare_by_identity(outputs)
    return _compare_in_order(outputs)
