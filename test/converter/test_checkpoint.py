"""Strict release-layout checking, synthetic checkpoints and the checkpoint CLI commands."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from ma_trt_convert.cli import main as cli_main
from ma_trt_convert.weights.checkpoint import (
    CheckpointError,
    compare_with_layout,
    load_layout,
    load_release_file,
    random_state_dict,
    read_state_dict,
    write_release_file,
)


@pytest.mark.parametrize(
    ("name", "count", "lightning"),
    [("matchanything_roma", 603, True), ("dinov2_vitl14_pretrain", 343, False), ("matchanything_eloftr", 447, True)],
)
def test_layouts_have_the_released_entry_counts(name: str, count: int, lightning: bool) -> None:
    layout = load_layout(name)
    assert len(layout) == count
    assert layout.lightning is lightning


def test_roma_layout_holds_111m_parameters_and_dinov2_pos_embed_shape() -> None:
    roma = load_layout("matchanything_roma")
    params = sum(torch.Size(s).numel() for k, s in roma.shapes.items() if not k.endswith("num_batches_tracked"))
    assert 105e6 < params < 115e6
    assert load_layout("dinov2_vitl14_pretrain").shapes["pos_embed"] == (1, 1370, 1024)


def test_random_state_dict_is_seeded_and_matches_layout() -> None:
    layout = load_layout("matchanything_eloftr")
    a, b, c = random_state_dict(layout, 3), random_state_dict(layout, 3), random_state_dict(layout, 4)
    assert compare_with_layout(a, layout).ok
    key = "matcher.backbone.layer0.rbr_dense.conv.weight"
    assert torch.equal(a[key], b[key]) and not torch.equal(a[key], c[key])
    counters = [k for k in a if k.endswith("num_batches_tracked")]
    assert len(counters) == 62 and all(a[k].dtype == torch.int64 for k in counters)
    assert all(a[k].min() > 0 for k in a if k.endswith("running_var"))


def test_written_file_round_trips_with_lightning_wrapper(tmp_path: Path) -> None:
    layout = load_layout("matchanything_eloftr")
    state = random_state_dict(layout, 0)
    path = tmp_path / "eloftr.ckpt"
    write_release_file(state, layout, path)
    raw = torch.load(path, weights_only=True)
    assert set(raw) >= {"state_dict"} and len(raw["state_dict"]) == 447
    loaded = load_release_file(path, layout)
    assert all(torch.equal(loaded[k], state[k]) for k in state)
    assert not list(tmp_path.glob(".*.tmp")), "atomic write left a temporary file"


def test_missing_and_misshaped_keys_are_listed_with_counts(tmp_path: Path) -> None:
    layout = load_layout("matchanything_eloftr")
    state = random_state_dict(layout, 0)
    dropped = sorted(state)[:7]
    for key in dropped:
        del state[key]
    bent = "matcher.backbone.layer0.rbr_dense.conv.weight"
    state[bent] = torch.zeros(64, 3, 3, 3)
    state["matcher.extra.weight"] = torch.zeros(1)
    path = tmp_path / "bad.ckpt"
    write_release_file(state, layout, path)
    with pytest.raises(CheckpointError) as err:
        load_release_file(path, layout)
    text = str(err.value)
    assert "439/447" in text
    assert "missing keys: 7 (" in text and dropped[0] in text and "and 2 more" in text
    assert "unexpected keys: 1 (matcher.extra.weight)" in text
    assert f"{bent} (64, 3, 3, 3) expected (64, 1, 3, 3)" in text
    assert "--checkpoint" in text


def test_plain_dict_of_the_wrong_release_is_named(tmp_path: Path) -> None:
    eloftr, roma = load_layout("matchanything_eloftr"), load_layout("matchanything_roma")
    path = tmp_path / "eloftr.ckpt"
    write_release_file(random_state_dict(eloftr, 0), eloftr, path)
    with pytest.raises(CheckpointError, match=r"looks like matchanything_eloftr\.ckpt"):
        load_release_file(path, roma)


@pytest.mark.parametrize("content", [b"", b"PK\x03\x04 not really a zip", b"\x80\x02}q\x00."])
def test_truncated_or_foreign_files_give_a_readable_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "broken.ckpt"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match=r"broken\.ckpt"):
        read_state_dict(path)


def test_missing_file_is_reported(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="no such file"):
        read_state_dict(tmp_path / "nope.ckpt")


def test_cli_random_then_inspect_reports_447_of_447(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "e.ckpt"
    assert cli_main(["random-checkpoint", "--variant", "eloftr", "--output", str(path), "--seed", "5"]) == 0
    assert cli_main(["inspect-checkpoint", "--variant", "eloftr", "--checkpoint", str(path)]) == 0
    assert "447/447 entries match matchanything_eloftr.ckpt" in capsys.readouterr().out


def test_cli_inspect_exits_nonzero_on_mismatch(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    layout = load_layout("matchanything_eloftr")
    state = random_state_dict(layout, 0)
    del state["matcher.backbone.layer0.rbr_dense.conv.weight"]
    path = tmp_path / "e.ckpt"
    write_release_file(state, layout, path)
    assert cli_main(["inspect-checkpoint", "--variant", "eloftr", "--checkpoint", str(path)]) == 1
    out = capsys.readouterr().out
    assert "446/447" in out and "matcher.backbone.layer0.rbr_dense.conv.weight" in out


def test_cli_unreadable_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "x.ckpt"
    path.write_bytes(b"garbage")
    assert cli_main(["inspect-checkpoint", "--variant", "eloftr", "--checkpoint", str(path)]) == 2
    assert "cannot be read" in capsys.readouterr().err
