"""``ma-trt-match``: JSON contents, pictures, the pairs mode, errors, and running without PyTorch."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from support.exported_models import ELOFTR_SIZE, ExportedModel, textured_images

from ma_trt_ros.runtime.match_command import main


def _write_pair(folder: Path, scale: int = 2) -> tuple[Path, Path]:
    paths = []
    for index, image in enumerate(textured_images(*ELOFTR_SIZE)):
        big = np.kron(image, np.ones((scale, scale), np.float32))
        path = folder / f"img{index}.png"
        cv2.imwrite(str(path), (big * 255 + 0.5).astype(np.uint8))
        paths.append(path)
    return paths[0], paths[1]


def test_two_images_to_json_and_picture(eloftr_model: ExportedModel, tmp_path: Path) -> None:
    image0, image1 = _write_pair(tmp_path)
    out_json, out_png = tmp_path / "m.json", tmp_path / "m.png"
    args = [str(image0), str(image1), "--model", str(eloftr_model.onnx), "--output-json", str(out_json)]
    assert main([*args, "--output-image", str(out_png)]) == 0
    data = json.loads(out_json.read_text())
    assert data["variant"] == "eloftr" and data["backend"] == "onnxruntime"
    assert data["model"].startswith("eloftr.onnx@") and len(data["model"]) == len("eloftr.onnx@") + 8
    assert data["image0"] == {"path": str(image0), "width": 448, "height": 320}
    assert data["count"] == len(data["points0"]) == len(data["points1"]) == len(data["confidence"]) >= 50
    points = np.array(data["points0"] + data["points1"])
    assert points.min() >= 0 and points[:, 0].max() <= 448 and points[:, 1].max() <= 320
    assert {"preprocess", "inference", "execute", "postprocess"} <= set(data["timing_ms"])
    picture = cv2.imread(str(out_png))
    assert picture.shape == (320, 448 + 8 + 448, 3)
    gap = picture[:, 448 : 448 + 8]
    assert gap.any()  # match lines cross the gap between the images


def test_pairs_mode_writes_one_json_per_row(eloftr_model: ExportedModel, tmp_path: Path) -> None:
    image0, image1 = _write_pair(tmp_path)
    csv_path = tmp_path / "pairs.csv"
    csv_path.write_text(f"image0,image1\n{image0.name},{image1.name}\n# a comment\n{image1.name},{image0.name}\n")
    out = tmp_path / "out"
    assert main(["--pairs", str(csv_path), "--model", str(eloftr_model.onnx), "--output-dir", str(out)]) == 0
    first, second = (json.loads((out / f"{i:04d}.json").read_text()) for i in range(2))
    assert first["image0"]["path"] == str(image0) and second["image0"]["path"] == str(image1)
    assert first["count"] >= 50


def test_errors_are_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    image = tmp_path / "a.png"
    cv2.imwrite(str(image), np.zeros((8, 8), np.uint8))
    assert main([str(image), str(image), "--model", str(tmp_path / "none.plan")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "no such model file" in err and err.count("\n") == 1
    not_image = tmp_path / "b.png"
    not_image.write_text("text")
    model = tmp_path / "m.onnx"
    model.write_text("x")
    assert main([str(image), str(not_image), "--model", str(model)]) == 2
    assert "b.png: missing or not an image OpenCV can read" in capsys.readouterr().err  # images before the model
    assert main([str(image), str(image), "--model", str(model)]) == 2
    assert "ONNX Runtime cannot load it" in capsys.readouterr().err


def test_help_explains_backends_and_coordinates(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["--help"])
    assert done.value.code == 0
    text = capsys.readouterr().out
    assert ".plan -> tensorrt" in text and "continuous pixels" in text and "--pairs" in text


BLOCK_TORCH = """
import sys

class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("torch", "tensorrt", "rclpy"):
            raise ImportError(f"{name} is blocked for this test")

sys.meta_path.insert(0, Block())
from ma_trt_ros.runtime.match_command import main
code = main(sys.argv[1:])
print("exit", code, "torch loaded:", "torch" in sys.modules)
"""


def test_onnxruntime_path_runs_with_pytorch_blocked(eloftr_model: ExportedModel, tmp_path: Path) -> None:
    image0, image1 = _write_pair(tmp_path)
    out_json = tmp_path / "m.json"
    args = [str(image0), str(image1), "--model", str(eloftr_model.onnx), "--output-json", str(out_json)]
    result = subprocess.run(
        [sys.executable, "-c", BLOCK_TORCH, *args, "--backend", "onnxruntime"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "exit 0 torch loaded: False"
    assert json.loads(out_json.read_text())["count"] >= 50


def test_torch_backend_with_pytorch_blocked_names_the_install(eloftr_model: ExportedModel, tmp_path: Path) -> None:
    image0, image1 = _write_pair(tmp_path)
    args = [str(image0), str(image1), "--model", str(eloftr_model.checkpoint)]
    result = subprocess.run([sys.executable, "-c", BLOCK_TORCH, *args], capture_output=True, text=True, timeout=300)
    assert "exit 2" in result.stdout
    assert "the torch backend needs PyTorch" in result.stderr and "pip install" in result.stderr
