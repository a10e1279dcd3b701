"""What a new user hits on the command line: every mistake ends in one ``error: ...`` line, exit 2,
before anything heavy is loaded or written (issue 11, section 2)."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from ma_trt_convert.cli import main
from ma_trt_convert.weights.checkpoint import compare_with_layout, describe_mismatch, load_layout


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(args)
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_verify_with_a_missing_checkpoint(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    onnx = tmp_path / "m.onnx"
    onnx.write_bytes(b"")
    code, text = _run(["verify", "--onnx", str(tmp_path / "none.onnx"), "--checkpoint", "nope.ckpt"], capsys)
    assert code == 2 and "none.onnx: no such file" in text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--variant", "eloftr", "--height", "250"], "--height: must be a positive multiple of 32, got 250"),
        (["--variant", "roma", "--coarse-res", "50"], "--coarse-res: must be a positive multiple of 56, got 50"),
        (["--variant", "eloftr", "--threshold", "1.5"], "--threshold: must be in (0, 1), got 1.5"),
        (["--variant", "roma", "--height", "480"], "--height does not apply to --variant roma"),
        (["--variant", "eloftr", "--upsample-res", "0"], "--upsample-res does not apply to --variant eloftr"),
        (["--variant", "roma", "--max-matches", "all"], "--max-matches does not apply to --variant roma"),
    ],
)
def test_export_checks_options_before_loading(
    args: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # the checkpoint does not exist: a message about the option proves nothing was loaded first
    code, text = _run(["export", *args, "--checkpoint", "absent.ckpt", "--output", str(tmp_path / "o.onnx")], capsys)
    assert code == 2 and text.startswith("error: ") and message in text
    assert "Traceback" not in text and not (tmp_path / "o.onnx").exists()


def test_export_refuses_a_file_of_the_other_variant(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["export", "--variant", "eloftr", "--checkpoint", "a.ckpt", "--dinov2", "d.pth", "--output", "o.onnx"]
    code, text = _run(args, capsys)
    assert code == 2 and "--dinov2 does not apply to --variant eloftr" in text


def test_export_names_missing_weight_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, text = _run(["export", "--variant", "roma", "--output", str(tmp_path / "o.onnx")], capsys)
    assert code == 2 and "--variant roma needs --checkpoint matchanything_roma.ckpt" in text
    code, text = _run(["export", "--variant", "eloftr", "--checkpoint", "nope.ckpt", "--output", "o.onnx"], capsys)
    assert code == 2 and "nope.ckpt: no such file (--checkpoint, the matchanything_eloftr.ckpt)" in text


def test_unknown_gp_solver_is_refused_by_the_parser(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["export", "--variant", "roma", "--gp-solver", "bogus", "--output", "o.onnx"])
    assert done.value.code == 2
    assert "newton_schulz" in capsys.readouterr().err


def test_max_matches_over_the_topk_limit_warns(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    args = ["export", "--variant", "eloftr", "--max-matches", "5000", "--checkpoint", "absent.ckpt", "--output", "o"]
    code, _ = _run(args, capsys)
    assert code == 2  # then stops at the missing file
    warning = " ".join(r.getMessage() for r in caplog.records)
    assert "--max-matches 5000" in warning and "K < 3840" in warning
    assert "will not build for any TensorRT version we target; use at most 3839" in warning


def test_random_checkpoint_checks_outputs_before_writing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "r.ckpt"
    code, text = _run(["random-checkpoint", "--variant", "roma", "--output", str(target)], capsys)
    assert code == 2 and "also needs --dinov2-output (nothing was written)" in text
    assert not target.exists()
    args = ["random-checkpoint", "--variant", "roma", "--output", str(target), "--dinov2-output", str(target)]
    code, text = _run([*args, "--matching", "64x64"], capsys)
    assert code == 2 and "--matching does not apply to --variant roma" in text and not target.exists()


def test_a_roma_checkpoint_given_as_eloftr_names_the_variant() -> None:
    roma = load_layout("matchanything_roma")
    state = {key: torch.zeros(1) for key in roma.shapes}
    eloftr = load_layout("matchanything_eloftr")
    message = describe_mismatch(compare_with_layout(state, eloftr), "x.ckpt", state)
    assert "looks like matchanything_roma.ckpt, of --variant roma" in message
    dinov2 = load_layout("dinov2_vitl14_pretrain")
    swapped = {key: torch.zeros(1) for key in dinov2.shapes}
    message = describe_mismatch(compare_with_layout(swapped, roma), "x.ckpt", swapped)
    assert "pass it with --dinov2 and give matchanything_roma.ckpt with --checkpoint" in message


@pytest.mark.parametrize(
    ("command", "words"),
    [
        (["export"], ["roma (dense", "default 480", "default 640", "newton_schulz,neumann", "about 105 s"]),
        (["build"], ["where the plan will run"]),
        (["check"], ["ONNX file written by"]),
        (["verify"], ["with real weights or with `random- checkpoint --variant eloftr --matching HxW`"]),
    ],
)
def test_help_has_no_gaps(command: list[str], words: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main([*command, "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for word in words:
        assert word in text


HELP_WITHOUT_HEAVY_PACKAGES = """
import sys

class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("torch", "onnx", "onnxslim", "onnxruntime", "tensorrt", "tensorrt_rtx", "cv2"):
            raise ImportError(f"{name} is blocked for this test")

sys.meta_path.insert(0, Block())
from ma_trt_convert.cli import main
for command in ([], ["export"], ["verify"], ["random-checkpoint"], ["inspect-checkpoint"], ["build"], ["info"]):
    try:
        main([*command, "--help"])
    except SystemExit as done:
        assert done.code == 0, (command, done.code)
print("ok")
"""


def test_help_works_with_only_the_plain_install() -> None:
    """`pip install .` without extras has numpy, not torch/onnx/onnxslim: every --help must still work."""
    result = subprocess.run([sys.executable, "-c", HELP_WITHOUT_HEAVY_PACKAGES], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("ok")
