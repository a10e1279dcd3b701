"""Strict loading and ``inspect-checkpoint`` of ELoFTR weights: the released and the ``transformers`` layout."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from ma_trt_convert import cli
from ma_trt_convert.eloftr import build_export_module, load_release_state
from ma_trt_convert.eloftr.hf_layout import to_release_layout
from ma_trt_convert.weights.checkpoint import CheckpointError, load_layout, random_state_dict, write_release_file

LAYOUT = load_layout("matchanything_eloftr")
SIZE = {"height": 64, "width": 96}


def _hf_name(key: str) -> str:
    """``transformers`` name of a released key, written from the table in convert_efficientloftr_to_hf.py."""
    key = key.removeprefix("matcher.")
    branch = {"rbr_dense.conv": "conv1.conv", "rbr_dense.bn": "conv1.norm", "rbr_1x1.conv": "conv2.conv"}
    branch |= {"rbr_1x1.bn": "conv2.norm", "rbr_identity": "identity"}
    m = re.fullmatch(r"backbone\.layer0\.(rbr_\w+(?:\.conv|\.bn)?)\.(\w+)", key)
    if m:
        return f"model.backbone.stages.0.blocks.0.{branch[m[1]]}.{m[2]}"
    m = re.fullmatch(r"backbone\.layer(\d)\.(\d+)\.(rbr_\w+(?:\.conv|\.bn)?)\.(\w+)", key)
    if m:
        return f"model.backbone.stages.{m[1]}.blocks.{m[2]}.{branch[m[3]]}.{m[4]}"
    m = re.fullmatch(r"loftr_coarse\.layers\.(\d)\.([\w.]+)\.(\w+)", key)
    if m:
        part = {"aggregate": "aggregation.q_aggregation", "norm1": "aggregation.norm", "q_proj": "attention.q_proj"}
        part |= {"k_proj": "attention.k_proj", "v_proj": "attention.v_proj", "merge": "attention.o_proj"}
        part |= {"mlp.0": "mlp.fc1", "mlp.2": "mlp.fc2", "norm2": "mlp.layer_norm"}
        kind = "self" if int(m[1]) % 2 == 0 else "cross"
        return f"model.local_feature_transformer.layers.{int(m[1]) // 2}.{kind}_attention.{part[m[2]]}.{m[3]}"
    if key == "fine_preprocess.layer3_outconv.weight":
        return "refinement_layer.out_conv.weight"
    m = re.fullmatch(r"fine_preprocess\.layer([12])_outconv(2\.\d)?\.(\w+)", key)
    assert m, key
    level = "0" if m[1] == "2" else "1"
    part = {None: "out_conv1", "2.0": "out_conv2", "2.1": "batch_norm", "2.3": "out_conv3"}[m[2]]
    return f"refinement_layer.out_conv_layers.{level}.{part}.{m[3]}"


@pytest.fixture(scope="module")
def release_state() -> dict[str, torch.Tensor]:
    return random_state_dict(LAYOUT, 4)


def test_hf_names_map_back_to_all_447_released_keys(release_state: dict[str, torch.Tensor]) -> None:
    hf = {_hf_name(k): v for k, v in release_state.items()}
    assert len(hf) == 447
    renamed, unmapped = to_release_layout(hf)
    assert unmapped == []
    assert list(sorted(renamed)) == sorted(release_state)
    assert all(renamed[k] is release_state[k] for k in release_state)
    renamed_efl, _ = to_release_layout({k.replace("model.", "efficientloftr.", 1): v for k, v in hf.items()})
    assert sorted(renamed_efl) == sorted(release_state)


def test_hf_safetensors_and_release_ckpt_build_the_same_module(
    release_state: dict[str, torch.Tensor], tmp_path: Path
) -> None:
    ckpt, hf_file = tmp_path / "matchanything_eloftr.ckpt", tmp_path / "model.safetensors"
    write_release_file(release_state, LAYOUT, ckpt)
    save_file({_hf_name(k): v.contiguous() for k, v in release_state.items()}, str(hf_file))
    a, b = build_export_module(ckpt, **SIZE), build_export_module(hf_file, **SIZE)
    inputs = a.example_inputs()
    with torch.no_grad():
        for x, y in zip(a(*inputs), b(*inputs), strict=True):
            assert torch.equal(x, y)


def test_release_file_with_a_missing_key_is_rejected_with_its_name(
    release_state: dict[str, torch.Tensor], tmp_path: Path
) -> None:
    state = dict(release_state)
    del state["matcher.loftr_coarse.layers.3.merge.weight"]
    path = tmp_path / "broken.ckpt"
    write_release_file(state, LAYOUT, path)
    expected = r"446/447[\s\S]*missing keys: 1 \(matcher\.loftr_coarse\.layers\.3\.merge"
    with pytest.raises(CheckpointError, match=expected):
        load_release_state(path)


def test_release_file_with_a_misshaped_tensor_is_rejected(
    release_state: dict[str, torch.Tensor], tmp_path: Path
) -> None:
    state = dict(release_state)
    state["matcher.fine_preprocess.layer3_outconv.weight"] = torch.zeros(256, 256, 3, 3)
    path = tmp_path / "broken.ckpt"
    write_release_file(state, LAYOUT, path)
    with pytest.raises(CheckpointError, match=r"mis-shaped keys: 1 \(matcher\.fine_preprocess\.layer3_outconv"):
        build_export_module(path, **SIZE)


def test_hf_file_with_an_unknown_and_a_missing_key_is_rejected_with_both(
    release_state: dict[str, torch.Tensor], tmp_path: Path
) -> None:
    hf = {_hf_name(k): v.contiguous() for k, v in release_state.items()}
    del hf["refinement_layer.out_conv_layers.1.batch_norm.running_var"]
    hf["model.rotary_emb.inv_freq"] = torch.zeros(4)
    path = tmp_path / "model.safetensors"
    save_file(hf, str(path))
    with pytest.raises(CheckpointError) as info:
        load_release_state(path)
    message = str(info.value)
    assert "transformers EfficientLoFTR naming" in message
    assert "keys without a released counterpart: 1 (model.rotary_emb.inv_freq)" in message
    assert "missing keys: 1 (matcher.fine_preprocess.layer1_outconv2.1.running_var)" in message


@pytest.mark.parametrize("name", ["model.safetensors", "pytorch_model.bin"])
def test_inspect_recognises_an_hf_file_and_maps_all_447_entries(
    name: str, release_state: dict[str, torch.Tensor], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    hf = {_hf_name(k): v.contiguous() for k, v in release_state.items()}
    path = tmp_path / name
    if path.suffix == ".safetensors":
        save_file(hf, str(path))
    else:
        torch.save(hf, path)
    assert cli.main(["inspect-checkpoint", "--variant", "eloftr", "--checkpoint", str(path)]) == 0
    out = capsys.readouterr().out
    assert out.strip() == f"{path}: 447/447 entries match matchanything_eloftr.ckpt (HF transformers layout, mapped)"


def test_inspect_lists_the_missing_and_unknown_keys_of_an_hf_file_and_fails(
    release_state: dict[str, torch.Tensor], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    hf = {_hf_name(k): v.contiguous() for k, v in release_state.items()}
    del hf["refinement_layer.out_conv_layers.1.batch_norm.running_var"]
    hf["model.rotary_emb.inv_freq"] = torch.zeros(4)
    hf["refinement_layer.out_conv.weight"] = torch.zeros(256, 256, 3, 3)
    path = tmp_path / "model.safetensors"
    save_file(hf, str(path))
    assert cli.main(["inspect-checkpoint", "--variant", "eloftr", "--checkpoint", str(path)]) == 1
    out = capsys.readouterr().out
    assert f"{path}: 445/447 entries match matchanything_eloftr.ckpt (HF transformers layout, mapped)" in out
    assert "missing keys: 1 (matcher.fine_preprocess.layer1_outconv2.1.running_var)" in out
    assert "unexpected keys: 1 (model.rotary_emb.inv_freq)" in out
    assert "mis-shaped keys: 1 (matcher.fine_preprocess.layer3_outconv.weight (256, 256, 3, 3) expected" in out


def test_inspect_reports_a_release_file_without_a_mapping_note(
    release_state: dict[str, torch.Tensor], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "matchanything_eloftr.ckpt"
    write_release_file(release_state, LAYOUT, path)
    assert cli.main(["inspect-checkpoint", "--variant", "eloftr", "--checkpoint", str(path)]) == 0
    assert capsys.readouterr().out.strip() == f"{path}: 447/447 entries match matchanything_eloftr.ckpt"
