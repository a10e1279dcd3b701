"""Parity of the ELoFTR port with the ``efficientloftr-inference`` oracle run MatchAnything's way (fp32, CPU)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import pytest
import torch
from oracles.eloftr_reference import OracleMatches, build_oracle, oracle_match

from ma_trt_convert.eloftr import DEFAULT_MAX_MATCHES, ELoFTRExportModule, MatchResult, build_export_module
from ma_trt_convert.synthetic.eloftr_weights import matching_state
from ma_trt_convert.synthetic.pairs import textured_pair
from ma_trt_convert.weights.checkpoint import load_layout, random_state_dict, strip_prefix, write_release_file

THRESHOLD = 0.1
# (height, width) -> least number of coarse matches the fixture must give (measured: 82 and 225)
RESOLUTIONS = {(224, 320): 75, (480, 640): 200}


@dataclass(frozen=True)
class Case:
    least_matches: int
    oracle: OracleMatches
    port: MatchResult
    exported: MatchResult
    top_k: int


@pytest.fixture(scope="module", params=list(RESOLUTIONS), ids=lambda hw: f"{hw[1]}x{hw[0]}")
def case(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Case:
    height, width = request.param
    image0, image1 = textured_pair(height, width)
    layout = load_layout("matchanything_eloftr")
    state = matching_state(random_state_dict(layout, 0), image0, image1)
    oracle = oracle_match(build_oracle(state, THRESHOLD, max(height, width)), image0, image1)

    port = ELoFTRExportModule(height, width, THRESHOLD)
    port.load_state_dict(strip_prefix(state, "matcher."), strict=True)
    path = tmp_path_factory.mktemp("eloftr") / "matchanything_eloftr.ckpt"
    write_release_file(state, layout, path)
    exported = build_export_module(path, height=height, width=width, threshold=THRESHOLD)
    with torch.no_grad():
        port_result, exported_result = port.eval().match(image0, image1), exported.match(image0, image1)
    return Case(RESOLUTIONS[request.param], oracle, port_result, exported_result, port.top_k)


def _aligned(result: MatchResult, oracle: OracleMatches) -> torch.Tensor:
    """Indices of ``result``'s valid rows in the oracle's ``(i, j)`` order; asserts equal match sets."""
    index = result.valid[0].nonzero()[:, 0]
    assert int(result.num_valid[0]) == len(index) == len(oracle.i)
    pairs = torch.stack([result.cell0[0, index], result.cell1[0, index]], dim=1)
    order = torch.argsort(pairs[:, 0] * 10**6 + pairs[:, 1])
    assert torch.equal(pairs[order], torch.stack([oracle.i, oracle.j], dim=1))
    return index[order]


def test_fixture_gives_many_matches_including_multi_candidate_rows(case: Case) -> None:
    per_row = Counter(case.oracle.i.tolist())
    assert len(case.oracle.i) >= case.least_matches
    assert sum(1 for n in per_row.values() if n >= 2) >= 5
    assert case.top_k == 9


def test_unfused_port_reproduces_the_oracle(case: Case) -> None:
    sel = _aligned(case.port, case.oracle)
    assert (case.port.keypoints0[0, sel] - case.oracle.keypoints0).abs().max() <= 1e-3
    assert (case.port.keypoints1[0, sel] - case.oracle.keypoints1).abs().max() <= 1e-3
    assert (case.port.confidence[0, sel] - case.oracle.confidence).abs().max() <= 1e-5


def test_fused_export_module_reproduces_the_oracle(case: Case) -> None:
    # the export module has the default global budget: its valid rows come first
    assert case.exported.valid.shape == (1, DEFAULT_MAX_MATCHES)
    sel = _aligned(case.exported, case.oracle)
    assert torch.equal(sel.sort().values, torch.arange(len(sel)))
    assert (case.exported.keypoints0[0, sel] - case.oracle.keypoints0).abs().max() <= 1e-3
    assert (case.exported.keypoints1[0, sel] - case.oracle.keypoints1).abs().max() <= 1e-3
    # RepVGG/BN folding re-associates float32 sums (~1e-6 relative, as large as the oracle's own
    # error against float64); this fixture's sharp softmax turns that into up to ~2e-4 of confidence.
    assert (case.exported.confidence[0, sel] - case.oracle.confidence).abs().max() <= 1e-3
