"""``ma-trt-match`` as a new user meets it (issue 20): bad outputs and inputs refused in one line before
the model is loaded, options that do not apply refused or warned about, suggested commands that run."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import cv2
import numpy as np
import pytest
from support.cli_run import assert_one_line_error, run_tool
from support.exported_models import ELOFTR_SIZE, ExportedModel, textured_images


def write_pair(folder: Path) -> tuple[str, str]:
    """The textured test pair as PNG files."""
    paths = []
    for index, image in enumerate(textured_images(*ELOFTR_SIZE)):
        path = folder / f"img{index}.png"
        cv2.imwrite(str(path), (image * 255 + 0.5).astype(np.uint8))
        paths.append(str(path))
    return paths[0], paths[1]


def test_output_json_in_a_missing_folder_is_refused_before_loading(tmp_path: Path) -> None:
    image0, image1 = write_pair(tmp_path)
    # the model does not exist either: the output is checked first, so the error names the output
    args = [image0, image1, "--model", str(tmp_path / "absent.onnx"), "--output-json", "/no/such/dir/m.json"]
    finished = run_tool("ma-trt-match", args)
    assert finished.code == 2 and finished.stdout == ""
    assert_one_line_error(finished, "--output-json /no/such/dir/m.json: the folder /no/such/dir does not exist")


def test_missing_pairs_csv_is_one_line(tmp_path: Path) -> None:
    args = ["--pairs", str(tmp_path / "missing.csv"), "--output-dir", str(tmp_path / "out"), "--model", "m.onnx"]
    finished = run_tool("ma-trt-match", args)
    assert finished.code == 2
    assert_one_line_error(finished, f"--pairs {tmp_path / 'missing.csv'}: no such file")
    assert not (tmp_path / "out").exists()


def test_torch_only_sizes_with_an_onnx_model_are_refused(eloftr_model: ExportedModel, tmp_path: Path) -> None:
    image0, image1 = write_pair(tmp_path)
    args = [image0, image1, "--model", str(eloftr_model.onnx), "--height", "480", "--width", "640"]
    finished = run_tool("ma-trt-match", args)
    assert finished.code == 2
    assert_one_line_error(finished, "--height, --width apply to the torch backend", "runs on onnxruntime", "drop them")
    camera = run_tool(
        "ma-trt-match", [image0, image1, "--model", str(eloftr_model.onnx), "--camera-sizes", "240x320:480x640"]
    )
    assert camera.code == 2
    assert_one_line_error(camera, "--camera-sizes apply to the torch backend", "runs on onnxruntime", "drop it")


def test_roma_only_options_with_eloftr_warn_once(eloftr_model: ExportedModel, tmp_path: Path) -> None:
    image0, image1 = write_pair(tmp_path)
    finished = run_tool("ma-trt-match", [image0, image1, "--model", str(eloftr_model.onnx), "--num-matches", "100"])
    assert finished.code == 0, finished.stderr
    warnings = [line for line in finished.stderr.splitlines() if line.startswith("warning:")]
    assert warnings == ["warning: --num-matches apply to RoMa only; eloftr returns every match of its budget"]
    assert int(finished.stdout.split()[0]) >= 50  # still matched


def test_a_1x1_image_is_refused_as_too_small(tmp_path: Path) -> None:
    image0, _ = write_pair(tmp_path)
    tiny = tmp_path / "tiny.png"
    cv2.imwrite(str(tiny), np.full((1, 1), 128, np.uint8))
    finished = run_tool("ma-trt-match", [image0, str(tiny), "--model", str(tmp_path / "absent.onnx")])
    assert finished.code == 2
    assert_one_line_error(finished, f"{tiny} is 1x1 px, smaller than the models can use (8 px a side")


@pytest.mark.slow
def test_the_tensorrt_on_onnx_hint_runs_as_printed(eloftr_model: ExportedModel, tmp_path: Path) -> None:
    image0, image1 = write_pair(tmp_path)
    finished = run_tool("ma-trt-match", [image0, image1, "--model", str(eloftr_model.onnx), "--backend", "tensorrt"])
    line = assert_one_line_error(finished, "the tensorrt backend cannot run")
    command = shlex.split(re.search(r"`(ma-trt-convert build [^`]+)`", line).group(1))
    assert command[command.index("--onnx") + 1] == str(eloftr_model.onnx)
    plan = Path(command[command.index("--output") + 1])
    built = run_tool("ma-trt-convert", command[1:])
    # accepted as printed (no usage error); on this machine it stops at the missing TensorRT
    assert built.code == 2 and "usage:" not in built.stderr
    assert built.stderr.splitlines()[-1].startswith("error: target desktop needs the Python module `tensorrt`")
    assert plan.suffix == ".plan" and not plan.exists()
