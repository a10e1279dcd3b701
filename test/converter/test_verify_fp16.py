"""fp16 verification asks the right question (issue 11, section 3): is the graph's fp16 deviation from
the fp32 model within PyTorch's own fp16 deviation, on enough matches to judge?"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ma_trt_convert.cli import main
from ma_trt_convert.verify.fp16 import judge_fp16
from ma_trt_ros.contract.eloftr import ELOFTR

ROWS = 300


def _outputs(valid_rows: int, seed: int = 0) -> list[np.ndarray]:
    """ELoFTR-shaped fp32 outputs with ``valid_rows`` matches among ``ROWS`` rows (cells unique)."""
    rng = np.random.default_rng(seed)
    keypoints0 = rng.uniform(8, 200, (1, ROWS, 2)).astype(np.float32)
    keypoints1 = keypoints0 + np.float32(3.0)
    confidence = rng.uniform(0.2, 0.9, (1, ROWS)).astype(np.float32)
    valid = np.zeros((1, ROWS), bool)
    valid[0, :valid_rows] = True
    cells = np.stack([np.arange(ROWS), np.arange(ROWS) + 7], axis=-1)[None].astype(np.int32)
    return [keypoints0, keypoints1, confidence, valid, np.array([valid_rows], np.int32), cells]


def _fp16_like(outputs: list[np.ndarray], flipped: list[int], seed: int) -> list[np.ndarray]:
    """``outputs`` with fp16 rounding noise and whole-pixel arg-max flips on the ``flipped`` rows."""
    rng = np.random.default_rng(seed)
    result = [array.copy() for array in outputs]
    for index in (0, 1):
        result[index] += rng.normal(0, 0.004, result[index].shape).astype(np.float32)
    result[1][0, flipped] += np.float32(1.0)  # the fine stage chose the neighbouring pixel
    result[2] += rng.normal(0, 2e-3, result[2].shape).astype(np.float32)
    return result


def test_flips_alone_pass() -> None:
    fp32 = _outputs(200)
    torch16 = _fp16_like(fp32, flipped=[3, 40, 77], seed=1)
    onnx16 = _fp16_like(fp32, flipped=[5, 41, 90, 120], seed=2)  # other near-ties flip: still fp16 rounding
    judgement = judge_fp16(ELOFTR.output_names, fp32, torch16, onnx16)
    assert judgement.verdict == "pass", judgement.reasons
    flips = {e.name: e.flips for e in judgement.onnx.errors}
    assert flips["keypoints1"] == pytest.approx(4 / 200)


def test_a_wrong_scale_in_the_fine_stage_fails() -> None:
    fp32 = _outputs(200)
    torch16 = _fp16_like(fp32, flipped=[3, 40], seed=1)
    onnx16 = _fp16_like(fp32, flipped=[], seed=2)
    onnx16[1] = onnx16[0] + (onnx16[1] - onnx16[0]) * np.float32(1.5)  # sub-pixel offsets scaled wrongly
    judgement = judge_fp16(ELOFTR.output_names, fp32, torch16, onnx16)
    assert judgement.verdict == "fail"
    assert any(reason.startswith("keypoints1: median") for reason in judgement.reasons)


def test_a_lost_match_set_fails() -> None:
    fp32 = _outputs(200)
    torch16 = _fp16_like(fp32, flipped=[], seed=1)
    onnx16 = _fp16_like(fp32, flipped=[], seed=2)
    onnx16[3][0, 150:200] = False  # a quarter of the matches missing: not rounding
    judgement = judge_fp16(ELOFTR.output_names, fp32, torch16, onnx16)
    assert judgement.verdict == "fail" and any("match sets" in reason for reason in judgement.reasons)


def test_too_few_matches_are_not_judged() -> None:
    fp32 = _outputs(3)
    wrong = _fp16_like(fp32, flipped=[0, 1, 2], seed=2)
    judgement = judge_fp16(ELOFTR.output_names, fp32, _fp16_like(fp32, flipped=[], seed=1), wrong)
    assert judgement.verdict == "not judged"
    assert "only 3 matches" in judgement.reasons[0] and "--matching" in judgement.reasons[0]


TRAINED_WEIGHTS = Path(__file__).resolve().parents[2] / "weights" / "matchanything_eloftr_trained.ckpt"


@pytest.fixture(scope="module", params=[(160, 224), (224, 160)], ids=lambda hw: f"{hw[0]}x{hw[1]}")
def trained_fp16_onnx(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped trained weights exported fp16 at the parameter's size (once per size)."""
    height, width = request.param
    onnx = tmp_path_factory.mktemp("fp16") / f"e16_{height}x{width}.onnx"
    export = ["export", "--variant", "eloftr", "--checkpoint", str(TRAINED_WEIGHTS), "--output", str(onnx)]
    assert main([*export, "--height", str(height), "--width", str(width), "--max-matches", "300"]) == 0
    return onnx


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 3])
def test_verify_on_real_fp16_exports(trained_fp16_onnx: Path, seed: int, capsys: pytest.CaptureFixture[str]) -> None:
    """The trained weights at two sizes (landscape, portrait), two synthetic pairs each: the fp16 export
    passes, judged on many matches."""
    capsys.readouterr()
    verify = ["verify", "--onnx", str(trained_fp16_onnx), "--checkpoint", str(TRAINED_WEIGHTS), "--pair", "shifted"]
    code = main([*verify, "--seed", str(seed)])
    out = capsys.readouterr().out
    print(out)
    assert code == 0 and "verify passed" in out
    assert "keypoints1" in out and "flips" in out


@pytest.mark.slow
def test_random_weights_with_few_matches_are_not_judged(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The case that used to fail on one flip among 2 matches: now a clear 'not judged', exit 3."""
    checkpoint, onnx = tmp_path / "e.ckpt", tmp_path / "e16.onnx"
    assert main(["random-checkpoint", "--variant", "eloftr", "--output", str(checkpoint)]) == 0
    export = ["export", "--variant", "eloftr", "--checkpoint", str(checkpoint), "--output", str(onnx)]
    assert main([*export, "--height", "160", "--width", "224"]) == 0
    capsys.readouterr()
    assert main(["verify", "--onnx", str(onnx), "--checkpoint", str(checkpoint)]) == 3
    out = capsys.readouterr().out
    assert "verify NOT JUDGED: only" in out and "verify passed" not in out
