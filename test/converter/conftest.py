"""Fixtures shared by the converter tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from ma_trt_convert.cli import main


@pytest.fixture(scope="session")
def roma_release_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Seed-0 synthetic ``matchanything_roma.ckpt`` and ``dinov2_vitl14_pretrain.pth`` written by the CLI.

    Session-scoped: the pair is 1.6 GB and takes seconds to write; tests must not modify the files.
    """
    root = tmp_path_factory.mktemp("roma_release")
    roma, dinov2 = root / "matchanything_roma.ckpt", root / "dinov2_vitl14_pretrain.pth"
    code = main(["random-checkpoint", "--variant", "roma", "--output", str(roma), "--dinov2-output", str(dinov2)])
    assert code == 0
    return roma, dinov2
