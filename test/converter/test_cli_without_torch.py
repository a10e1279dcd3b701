"""`ma-trt-convert` must start, and build/check/info must parse their arguments, without PyTorch.

On a robot, engines are built from an ONNX with TensorRT; PyTorch is not installed there.
"""

from __future__ import annotations

import subprocess
import sys

BLOCK_AND_RUN = """
import sys

class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("torch", "onnxruntime"):
            raise ImportError(f"{name} is blocked for this test")

sys.meta_path.insert(0, Block())
from ma_trt_convert.cli import main
for command in ("build", "check", "info", "sidecar"):
    try:
        main([command, "--help"])
    except SystemExit as done:
        assert done.code == 0, (command, done.code)
print("ok", "torch" in sys.modules)
"""


def test_cli_help_of_engine_commands_needs_no_torch() -> None:
    result = subprocess.run([sys.executable, "-c", BLOCK_AND_RUN], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "ok False"
    assert "--target" in result.stdout and "--onnx" in result.stdout


def test_blocking_works_for_commands_that_need_torch() -> None:
    code = BLOCK_AND_RUN.replace('("build", "check", "info", "sidecar")', '("random-checkpoint",)').replace(
        '"--help"', '"--variant", "eloftr", "--output", "/nonexistent/x.ckpt"'
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert "torch is blocked for this test" in result.stderr
