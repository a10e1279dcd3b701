"""RoMa release files: synthetic writing, inspection and strict loading (CLI and ``build_export_module``)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from ma_trt_convert.cli import main
from ma_trt_convert.roma import build_export_module
from ma_trt_convert.roma.loading import rename_roma_keys
from ma_trt_convert.roma.network import RomaNetwork
from ma_trt_convert.weights.checkpoint import CheckpointError, load_layout, random_state_dict, read_state_dict

ROMA_ENTRIES = 603
DINOV2_ENTRIES = 343


def _inspect(capsys: pytest.CaptureFixture[str], checkpoint: Path, dinov2: Path) -> tuple[int, str]:
    code = main(["inspect-checkpoint", "--variant", "roma", "--checkpoint", str(checkpoint), "--dinov2", str(dinov2)])
    return code, capsys.readouterr().out


def test_random_checkpoint_has_release_layout(roma_release_files: tuple[Path, Path]) -> None:
    roma, dinov2 = roma_release_files
    wrapped = torch.load(roma, map_location="cpu", weights_only=True)
    assert set(wrapped) >= {"state_dict"}
    state = wrapped["state_dict"]
    assert len(state) == ROMA_ENTRIES
    assert all(key.startswith("matcher.model.") for key in state)
    assert {k: tuple(v.shape) for k, v in state.items()} == load_layout("matchanything_roma").shapes
    counters = [k for k in state if k.endswith("num_batches_tracked")]
    assert len(counters) == 12 + 5 + 45  # VGG BNs, projection BNs, refiner BNs (5 × (1 + 8))
    assert all(state[k].dtype == torch.int64 for k in counters)
    assert all(v.dtype == torch.float32 for k, v in state.items() if k not in counters)
    assert sum(v.numel() for k, v in state.items() if k not in counters) == pytest.approx(111e6, rel=0.05)

    flat, was_lightning = read_state_dict(dinov2)
    assert not was_lightning
    assert len(flat) == DINOV2_ENTRIES
    assert tuple(flat["pos_embed"].shape) == (1, 1370, 1024)


def test_random_checkpoint_is_seeded(roma_release_files: tuple[Path, Path]) -> None:
    """The CLI's default seed 0 writes exactly ``random_state_dict(layout, 0)`` (DINOv2: seed + 1)."""
    roma, dinov2 = roma_release_files
    written, _ = read_state_dict(roma)
    roma_layout = load_layout("matchanything_roma")
    same, other = random_state_dict(roma_layout, 0), random_state_dict(roma_layout, 1)
    assert all(torch.equal(written[k], same[k]) for k in written)
    key = "matcher.model.decoder.gps.16.pos_conv.weight"
    assert not torch.equal(written[key], other[key])
    written_dinov2, _ = read_state_dict(dinov2)
    expected = random_state_dict(load_layout("dinov2_vitl14_pretrain"), 1)
    assert torch.equal(written_dinov2["pos_embed"], expected["pos_embed"])


def test_inspect_reports_full_match(roma_release_files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    code, out = _inspect(capsys, *roma_release_files)
    assert code == 0
    assert f"{ROMA_ENTRIES}/{ROMA_ENTRIES}" in out
    assert f"{DINOV2_ENTRIES}/{DINOV2_ENTRIES}" in out


def test_inspect_rejects_swapped_files(
    roma_release_files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    roma, dinov2 = roma_release_files
    code, out = _inspect(capsys, dinov2, roma)
    assert code == 1
    assert f"0/{ROMA_ENTRIES}" in out and f"0/{DINOV2_ENTRIES}" in out
    assert "looks like dinov2_vitl14_pretrain.pth; pass it with --dinov2" in out
    assert "looks like matchanything_roma.ckpt; pass it with --checkpoint" in out


@pytest.mark.parametrize("swap", ["dinov2_as_checkpoint", "checkpoint_as_dinov2"])
def test_build_rejects_swapped_files(roma_release_files: tuple[Path, Path], swap: str) -> None:
    roma, dinov2 = roma_release_files
    args = (dinov2, dinov2) if swap == "dinov2_as_checkpoint" else (roma, roma)
    with pytest.raises(CheckpointError) as err:
        build_export_module(*args, coarse_res=224, upsample_res=336)
    message = str(err.value)
    if swap == "dinov2_as_checkpoint":
        assert "is not a valid matchanything_roma.ckpt (matchanything_roma.ckpt: 0/603 entries match)" in message
        assert "pass it with --dinov2" in message
    else:
        assert "is not a valid dinov2_vitl14_pretrain.pth (dinov2_vitl14_pretrain.pth: 0/343 entries match)" in message
        assert "pass it with --checkpoint" in message


def _edited_checkpoint(source: Path, target: Path, edit: str) -> str:
    wrapped = torch.load(source, map_location="cpu", weights_only=True)
    state = wrapped["state_dict"]
    key = "matcher.model.decoder.conv_refiner.4.out_conv.bias"
    if edit == "missing":
        del state[key]
    elif edit == "misshaped":
        state[key] = torch.zeros(4)
    else:
        state["matcher.model.decoder.extra.weight"] = torch.zeros(1)
        key = "matcher.model.decoder.extra.weight"
    torch.save(wrapped, target)
    return key


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        ("missing", "missing keys: 1 (matcher.model.decoder.conv_refiner.4.out_conv.bias)"),
        ("misshaped", "mis-shaped keys: 1 (matcher.model.decoder.conv_refiner.4.out_conv.bias (4,) expected (3,))"),
        ("unexpected", "unexpected keys: 1 (matcher.model.decoder.extra.weight)"),
    ],
)
def test_deviating_checkpoint_is_listed(
    roma_release_files: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str], edit: str, expected: str
) -> None:
    roma, dinov2 = roma_release_files
    broken = tmp_path / "broken.ckpt"
    _edited_checkpoint(roma, broken, edit)
    code, out = _inspect(capsys, broken, dinov2)
    assert code == 1
    assert expected in out
    assert f"{DINOV2_ENTRIES}/{DINOV2_ENTRIES}" in out
    with pytest.raises(CheckpointError) as err:
        build_export_module(broken, dinov2, coarse_res=224, upsample_res=336)
    assert "broken.ckpt is not a valid matchanything_roma.ckpt" in str(err.value)
    assert expected in str(err.value)


def test_release_keys_cover_the_module_exactly() -> None:
    """Every tensor of both layouts has a home in RomaNetwork and every persistent tensor comes from a file."""
    roma = rename_roma_keys(dict.fromkeys(load_layout("matchanything_roma").shapes))
    dinov2 = {f"dinov2.{k}" for k in load_layout("dinov2_vitl14_pretrain").shapes}
    with torch.device("meta"):
        module_shapes = {k: tuple(v.shape) for k, v in RomaNetwork(224, 336, "dense", 0).state_dict().items()}
    assert set(module_shapes) == set(roma) | dinov2
    layout = load_layout("matchanything_roma").shapes
    renamed_shapes = rename_roma_keys({k: torch.empty(s, device="meta") for k, s in layout.items()})
    assert all(module_shapes[k] == tuple(v.shape) for k, v in renamed_shapes.items())
