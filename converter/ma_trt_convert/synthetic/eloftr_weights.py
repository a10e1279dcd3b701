"""Synthetic ELoFTR weights that make the pipeline produce many matches (tests, benchmarks, the demo).

Seeded random weights in the release layout (:func:`ma_trt_convert.weights.checkpoint.random_state_dict`)
make RepVGG activations explode and collapse onto one direction, so the dual softmax finds almost no
pair above the 0.1 threshold and nothing downstream of the coarse rule gets exercised.
:func:`matching_state` rescales such weights (values only; keys and shapes stay the release layout)
so that a textured image pair yields hundreds of matches. The weights remain meaningless for real
images.
"""

from __future__ import annotations

import torch

from ma_trt_convert.eloftr.hf_layout import RELEASE_PREFIX
from ma_trt_convert.eloftr.repvgg import RepVGGBackbone
from ma_trt_convert.weights.checkpoint import strip_prefix


def _backbone_mean(state: dict[str, torch.Tensor], images: torch.Tensor) -> torch.Tensor:
    """Mean coarse backbone feature ``[256]`` of ``images`` under the (unfused) backbone weights of ``state``."""
    prefix = RELEASE_PREFIX + "backbone."
    backbone = RepVGGBackbone()
    backbone.load_state_dict(strip_prefix({k: v for k, v in state.items() if k.startswith(prefix)}, prefix))
    with torch.no_grad():
        return backbone.eval()(images)[0].mean(dim=(0, 2, 3))


def matching_state(
    release_state: dict[str, torch.Tensor], image0: torch.Tensor, image1: torch.Tensor
) -> dict[str, torch.Tensor]:
    """A copy of release-layout weights rescaled so that ``(image0, image1)`` gives many coarse matches.

    (i) stride-1 RepVGG blocks become near-identities (branch BatchNorm scale/shift × 0.1, identity
    BatchNorm = 1), so the 1/8 features stay local; (ii) the first 1/8 block is scaled × 3; (iii) the
    mean backbone feature of the pair is removed through the first transformer layer's ``norm2``
    bias; (iv) the last layer's ``norm2`` scale is × 10 so that all features have similar norms.
    """
    state = {k: v.clone() for k, v in release_state.items()}
    blocks = {k.split(".rbr_identity.")[0] for k in state if ".rbr_identity." in k}
    for block in blocks:
        for branch in ("rbr_dense.bn", "rbr_1x1.bn"):
            state[f"{block}.{branch}.weight"] *= 0.1
            state[f"{block}.{branch}.bias"] *= 0.1
        state[f"{block}.rbr_identity.weight"].fill_(1.0)
        state[f"{block}.rbr_identity.running_var"].fill_(1.0)
        state[f"{block}.rbr_identity.bias"].zero_()
        state[f"{block}.rbr_identity.running_mean"].zero_()
    for branch in ("rbr_dense.bn", "rbr_1x1.bn"):
        for leaf in ("weight", "bias"):
            state[f"{RELEASE_PREFIX}backbone.layer3.0.{branch}.{leaf}"] *= 3.0
    state[f"{RELEASE_PREFIX}loftr_coarse.layers.7.norm2.weight"] *= 10.0
    state[f"{RELEASE_PREFIX}loftr_coarse.layers.0.norm2.bias"] -= _backbone_mean(state, torch.cat([image0, image1]))
    return state
