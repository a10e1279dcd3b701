"""Drive the ``efficientloftr-inference`` package (the oracle) the MatchAnything way.

The oracle is upstream EfficientLoFTR's inference code. MatchAnything's ELoFTR differs only in the
coarse rule (``MTD_SPVS = True``: every confidence above the threshold, border cells removed, no
mutual-nearest check) and in its RoPE reference size (``NPE = [832, 832, s, s]``). Here the oracle's
``get_coarse_match`` is replaced by that rule; everything else (backbone unfused, transformer, FPN,
both fine stages) is the oracle's own code, in float32 on CPU.
"""

from __future__ import annotations

import types
from dataclasses import dataclass

import torch
from efficientloftr_inference import LoFTR, full_config
from efficientloftr_inference.loftr.utils.coarse_matching import mask_border


@dataclass(frozen=True)
class OracleMatches:
    """Upstream's matches for one image pair (batch 1), in upstream order (row-major ``(i, j)``).

    ``i``, ``j``: int64 ``[M]`` coarse cell indices in image 0 / image 1; ``keypoints0``,
    ``keypoints1``: float32 ``[M, 2]`` pixels; ``confidence``: float32 ``[M]``.
    """

    i: torch.Tensor
    j: torch.Tensor
    keypoints0: torch.Tensor
    keypoints1: torch.Tensor
    confidence: torch.Tensor


@torch.no_grad()
def _threshold_rule(self: torch.nn.Module, conf_matrix: torch.Tensor, data: dict) -> dict:
    """MatchAnything's ``get_coarse_match`` at inference: threshold + border, no mutual nearest."""
    h0, w0 = data["hw0_c"]
    h1, w1 = data["hw1_c"]
    mask = (conf_matrix > self.thr).reshape(-1, h0, w0, h1, w1)
    mask_border(mask, self.border_rm, False)
    b_ids, i_ids, j_ids = torch.where(mask.reshape(-1, h0 * w0, h1 * w1))
    mconf = conf_matrix[b_ids, i_ids, j_ids]
    scale = data["hw0_i"][0] / data["hw0_c"][0]
    mkpts0_c = torch.stack([i_ids % w0, i_ids // w0], dim=1) * scale
    mkpts1_c = torch.stack([j_ids % w1, j_ids // w1], dim=1) * scale
    return {
        "b_ids": b_ids,
        "i_ids": i_ids,
        "j_ids": j_ids,
        "m_bids": b_ids,
        "mkpts0_c": mkpts0_c,
        "mkpts1_c": mkpts1_c,
        "mconf": mconf,
    }


def build_oracle(release_state: dict[str, torch.Tensor], threshold: float, reference_size: int) -> LoFTR:
    """The oracle network with ``release_state`` (keys ``matcher.*``) loaded strictly, unfused, eval mode."""
    net = LoFTR(config=full_config(coarse_threshold=threshold, npe_long_side=reference_size))
    net.load_state_dict(dict(release_state), strict=True)
    net.coarse_matching.get_coarse_match = types.MethodType(_threshold_rule, net.coarse_matching)
    return net.eval()


@torch.no_grad()
def oracle_match(net: LoFTR, image0: torch.Tensor, image1: torch.Tensor) -> OracleMatches:
    """Run the oracle on one pair ``[1, 1, H, W]``."""
    data = {"image0": image0, "image1": image1}
    net(data)
    return OracleMatches(data["i_ids"], data["j_ids"], data["mkpts0_f"], data["mkpts1_f"], data["mconf"])
