"""Files built once per test run and shared by all pytest-xdist workers.

Each worker is a process of its own, so a session fixture alone builds its files once per worker
(twice on the 2-worker CI machine: a RoMa ONNX export is about a minute of CPU). :func:`build_once`
builds a folder under the run's shared temporary root in the first worker that asks; a worker that
asks meanwhile waits for it (a file lock), later ones find it done. Tests must not modify the files.
"""

from __future__ import annotations

import fcntl
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest


def shared_root(factory: pytest.TempPathFactory) -> Path:
    """The temporary folder all workers of this run share (the session's own without xdist)."""
    base = factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def build_once(factory: pytest.TempPathFactory, name: str, build: Callable[[Path], None]) -> Path:
    """The folder ``name`` under :func:`shared_root`, filled by ``build(folder)`` once per test run.

    A build that raises leaves no mark: the next worker that asks builds afresh (and reports its own error).
    """
    root = shared_root(factory)
    folder, done = root / name, root / f"{name}.done"
    with open(root / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if not done.exists():
                shutil.rmtree(folder, ignore_errors=True)
                folder.mkdir()
                build(folder)
                done.touch()
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return folder
