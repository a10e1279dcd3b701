"""Building blocks of the ELoFTR port: RoPE tables, RepVGG/BatchNorm folding, fine windows."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from efficientloftr_inference.loftr.utils.position_encoding import RoPEPositionEncodingSine
from torch import nn

from ma_trt_convert.eloftr import ELoFTRExportModule
from ma_trt_convert.eloftr.fine_matching import regression_index
from ma_trt_convert.eloftr.fine_preprocess import windows0, windows1
from ma_trt_convert.eloftr.rope import rope_tables
from ma_trt_convert.synthetic.eloftr_weights import matching_state
from ma_trt_convert.synthetic.pairs import textured_pair
from ma_trt_convert.weights.checkpoint import load_layout, random_state_dict, strip_prefix


@pytest.mark.parametrize(("rows", "cols", "reference"), [(7, 10, 320), (15, 20, 640), (8, 8, 832), (12, 16, 512)])
def test_rope_tables_are_bit_identical_to_upstream_fp16_tables(rows: int, cols: int, reference: int) -> None:
    upstream = RoPEPositionEncodingSine(256, max_shape=(256, 256), npe=[832, 832, reference, reference])
    cos, sin = rope_tables(rows, cols, 256, reference)
    assert cos.dtype == sin.dtype == torch.float16
    assert torch.equal(cos, upstream.cos[:, :rows, :cols])
    assert torch.equal(sin, upstream.sin[:, :rows, :cols])


@pytest.fixture(scope="module")
def matcher_pair() -> tuple[ELoFTRExportModule, ELoFTRExportModule]:
    module = ELoFTRExportModule(96, 128)
    module.load_state_dict(strip_prefix(random_state_dict(load_layout("matchanything_eloftr"), 2), "matcher."))
    module.eval()
    return module, copy.deepcopy(module).fuse()


def _relative(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max() / b.abs().max())


def test_fusion_leaves_no_batchnorm_and_fewer_parameters(
    matcher_pair: tuple[ELoFTRExportModule, ELoFTRExportModule],
) -> None:
    unfused, fused = matcher_pair
    assert any(isinstance(m, nn.BatchNorm2d) for m in unfused.modules())
    assert not any(isinstance(m, nn.BatchNorm2d) for m in fused.modules())
    count = sum(p.numel() for p in fused.parameters())
    assert count < sum(p.numel() for p in unfused.parameters())
    assert 14e6 < count < 17e6


def test_fused_backbone_and_fpn_equal_unfused_in_eval(
    matcher_pair: tuple[ELoFTRExportModule, ELoFTRExportModule],
) -> None:
    unfused, fused = matcher_pair
    images = torch.rand(2, 1, 96, 128, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        reference, ours = unfused.backbone(images), fused.backbone(images)
        for a, b in zip(ours, reference, strict=True):
            assert _relative(a, b) < 1e-5
        coarse = torch.randn(2, 256, 12, 16, generator=torch.Generator().manual_seed(1))
        fine_ref = unfused.fine_preprocess(coarse, reference[1], reference[2])
        fine = fused.fine_preprocess(coarse, reference[1], reference[2])
    assert fine.shape == (2, 64, 96, 128)
    assert _relative(fine, fine_ref) < 1e-5


def test_windows_equal_upstream_unfold() -> None:
    fine = torch.randn(2, 64, 32, 48, generator=torch.Generator().manual_seed(0))
    ours0 = windows0(fine)
    theirs0 = F.unfold(fine, kernel_size=8, stride=8).unflatten(1, (64, 64)).permute(0, 3, 2, 1)
    assert torch.equal(ours0, theirs0)
    cells = torch.tensor([[0, 5, 23], [7, 1, 16]])
    ours1 = windows1(fine, cells)
    theirs1 = F.unfold(fine, kernel_size=10, stride=8, padding=1).unflatten(1, (64, 100)).permute(0, 3, 2, 1)
    assert torch.equal(ours1, torch.stack([theirs1[b, cells[b]] for b in range(2)]))


def test_regression_window_is_centred_up_left_and_wraps_like_upstream() -> None:
    index = regression_index()
    padded = torch.arange(100).reshape(10, 10)
    for b in (0, 9, 27, 63):
        by, bx = divmod(b, 8)
        rows = torch.tensor([by - 1, by, by + 1])
        cols = torch.tensor([bx - 1, bx, bx + 1])
        assert torch.equal(index[b], padded[rows][:, cols].flatten())


def test_batch_of_two_equals_two_single_pairs() -> None:
    pairs = [textured_pair(96, 128, shift) for shift in ((3, -3), (-5, 2))]
    state = matching_state(random_state_dict(load_layout("matchanything_eloftr"), 0), *pairs[0])
    module = ELoFTRExportModule(96, 128)
    module.load_state_dict(strip_prefix(state, "matcher."))
    module.eval().fuse()
    with torch.no_grad():
        batched = module.match(torch.cat([p[0] for p in pairs]), torch.cat([p[1] for p in pairs]))
        singles = [module.match(*pair) for pair in pairs]
    for b, single in enumerate(singles):
        valid = single.valid[0]
        assert int(valid.sum()) >= 5
        assert torch.equal(batched.valid[b], valid)
        assert torch.equal(batched.confidence[b], single.confidence[0])
        assert torch.equal(batched.cell1[b][valid], single.cell1[0][valid])
        assert torch.equal(batched.keypoints0[b][valid], single.keypoints0[0][valid])
        assert torch.equal(batched.keypoints1[b][valid], single.keypoints1[0][valid])


def test_export_modules_use_the_contract_names() -> None:
    from ma_trt_convert.eloftr import INPUT_NAMES, OUTPUT_NAMES
    from ma_trt_convert.roma import export_module
    from ma_trt_ros.contract.eloftr import ELOFTR
    from ma_trt_ros.contract.roma import ROMA

    assert (ELOFTR.input_names, ELOFTR.output_names) == (INPUT_NAMES, OUTPUT_NAMES)
    assert (ROMA.input_names, ROMA.output_names) == (export_module.INPUT_NAMES, export_module.OUTPUT_NAMES)
