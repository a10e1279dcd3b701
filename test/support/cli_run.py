"""Run a command-line tool of the project as a subprocess (this worktree's code) and check how it fails."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
TEST_DIR = Path(__file__).resolve().parents[1]
ENTRY_POINTS = {
    "ma-trt-convert": "from ma_trt_convert.cli import main",
    "ma-trt-match": "from ma_trt_ros.runtime.match_command import main",
    "ma-trt-bag": "from ma_trt_ros.ros.bag_matching import main",
    "ma-trt-replay": "from ma_trt_ros.ros.bag_replay import main",
    "matchanything_node": "from ma_trt_ros.ros.matchanything_node import main",
}


@dataclass(frozen=True)
class Finished:
    """Exit status and output of one run."""

    code: int
    stdout: str
    stderr: str


def tool_argv(tool: str, args: list[str]) -> list[str]:
    """``python -c`` calling the console script's ``main`` (as the installed script does), then ``args``."""
    code = f"import sys; {ENTRY_POINTS[tool]}; sys.exit(main())"
    return [sys.executable, "-c", code, *args]


def tool_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """This process's environment with the worktree (and test/) first on PYTHONPATH."""
    env = dict(os.environ)
    paths = [str(REPO_ROOT / "converter"), str(REPO_ROOT), str(TEST_DIR), env.get("PYTHONPATH", "")]
    env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
    env.update(extra or {})
    return env


def run_tool(tool: str, args: list[str], extra_env: dict[str, str] | None = None, timeout_s: float = 120) -> Finished:
    """Run ``tool args`` to the end; returns its exit status and output."""
    done = subprocess.run(
        tool_argv(tool, args), env=tool_env(extra_env), capture_output=True, text=True, timeout=timeout_s, check=False
    )
    return Finished(done.returncode, done.stdout, done.stderr)


def assert_one_line_error(finished: Finished, *fragments: str) -> str:
    """The run failed (non-zero) with exactly one line on stderr, ``error: ...`` holding every fragment."""
    lines = finished.stderr.splitlines()
    assert finished.code != 0, finished
    assert len(lines) == 1, finished.stderr
    assert lines[0].startswith("error: "), lines[0]
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]
