"""Shared fixtures: the isolated ROS environment of the test session, an in-process test node, the
synthetic ELoFTR model exported once per session, and the synthetic RoMa files and export built once per
test run for all workers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from support.exported_models import ELOFTR_ROWS, ELOFTR_SIZE, ROMA_RES, ExportedModel, textured_images
from support.ros_harness import (
    INHERITED_VARIABLES_REMOVED,
    RosEnvironment,
    RosTestNode,
    reserved_domain_id,
    ros_environment,
)
from support.shared_build import build_once


@pytest.fixture(scope="session")
def ros_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RosEnvironment]:
    """Isolated ROS environment (own domain, loopback, temp ROS_HOME, large-message profile), also set in os.environ."""
    pytest.importorskip("rclpy")
    with reserved_domain_id() as domain_id, pytest.MonkeyPatch.context() as patch:
        env = ros_environment(domain_id, tmp_path_factory.mktemp("ros"))
        for name in INHERITED_VARIABLES_REMOVED:
            patch.delenv(name, raising=False)
        for name, value in env.variables.items():
            patch.setenv(name, value)
        yield env


@pytest.fixture
def ros_node(ros_env: RosEnvironment) -> Iterator[RosTestNode]:
    """A node in the test process on the session's domain, spinning in a background thread."""
    node = RosTestNode(ros_env)
    yield node
    node.close()


@pytest.fixture(scope="session")
def eloftr_model(tmp_path_factory: pytest.TempPathFactory) -> ExportedModel:
    """ELoFTR weights rescaled to match the textured pair (many matches), exported fp32 at 160x224."""
    import torch

    from ma_trt_convert import cli
    from ma_trt_convert.synthetic.eloftr_weights import matching_state
    from ma_trt_convert.weights.checkpoint import load_layout, random_state_dict, write_release_file

    folder = tmp_path_factory.mktemp("eloftr_model")
    checkpoint, onnx = folder / "matchanything_eloftr.ckpt", folder / "eloftr.onnx"
    pair = [torch.from_numpy(image)[None, None] for image in textured_images(*ELOFTR_SIZE)]
    layout = load_layout("matchanything_eloftr")
    write_release_file(matching_state(random_state_dict(layout, 0), *pair), layout, checkpoint)
    height, width = ELOFTR_SIZE
    args = ["export", "--variant", "eloftr", "--checkpoint", str(checkpoint), "--output", str(onnx)]
    args += ["--height", str(height), "--width", str(width), "--max-matches", str(ELOFTR_ROWS), "--precision", "fp32"]
    assert cli.main(args) == 0
    return ExportedModel(onnx, checkpoint, None, {"height": height, "width": width, "max_matches": ELOFTR_ROWS})


@pytest.fixture(scope="session")
def roma_release_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Seed-0 synthetic ``matchanything_roma.ckpt`` and ``dinov2_vitl14_pretrain.pth`` written by the CLI.

    Written once per test run and shared by the converter, runtime and gate tests of every worker: the
    pair is 1.6 GB and takes seconds to write; tests must not modify the files.
    """
    from ma_trt_convert.cli import main

    def write(folder: Path) -> None:
        args = ["random-checkpoint", "--variant", "roma", "--output", str(folder / "matchanything_roma.ckpt")]
        assert main([*args, "--dinov2-output", str(folder / "dinov2_vitl14_pretrain.pth")]) == 0

    folder = build_once(tmp_path_factory, "roma_release", write)
    return folder / "matchanything_roma.ckpt", folder / "dinov2_vitl14_pretrain.pth"


@pytest.fixture(scope="session")
def roma_model(tmp_path_factory: pytest.TempPathFactory, roma_release_files: tuple[Path, Path]) -> ExportedModel:
    """The session's RoMa release files exported fp32 at 56/64 by the CLI, once per test run (1.2 GB in
    ``roma.onnx`` + ``roma.onnx.data``): the runtime tests' model and the TensorRT-RTX gate's fp32 RoMa case."""
    from ma_trt_convert import cli

    checkpoint, dinov2 = roma_release_files
    coarse, upsample = ROMA_RES

    def export(folder: Path) -> None:
        args = ["export", "--variant", "roma", "--checkpoint", str(checkpoint), "--dinov2", str(dinov2)]
        args += ["--coarse-res", str(coarse), "--upsample-res", str(upsample), "--precision", "fp32"]
        assert cli.main([*args, "--output", str(folder / "roma.onnx")]) == 0

    onnx = build_once(tmp_path_factory, "roma_fp32_model", export) / "roma.onnx"
    return ExportedModel(onnx, checkpoint, dinov2, {"coarse_res": coarse, "upsample_res": upsample})
