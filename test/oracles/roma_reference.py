"""The parity oracle for MatchAnything-RoMa: PyPI ``romatch`` driven the way MatchAnything drives it.

MatchAnything's test-time matcher (``RegressionMatcher.self_inference_time_match`` in
``third_party/ROMA/roma/models/matcher.py``) differs from romatch's own ``match()``; this driver
reproduces MatchAnything's steps with romatch's network modules:

* inputs are RGB in [0, 1] already stretched to the square sizes (no ImageNet normalisation);
* pass 1 at the coarse size with ``forward_symmetric`` (the two images as a batch, both directions);
* pass 2 at the upsample size (``upsample=True``, scales 8→1) from pass 1's finest flow/certainty,
  ``scale_factor = sqrt(up²/coarse²)``;
* the certainty logit minus ``0.5·min(c16, 0)`` (pass 1's scale-16 certainty resized to the output),
  sigmoid, zero where the flow leaves [-1, 1], flow clamped.

Precision: ``amp_dtype=torch.float32`` gives an all-fp32 oracle (on CUDA, autocast to fp32 casts
nothing down); ``torch.float16`` on CUDA gives the reference's fp16 regions: romatch's ``get_autocast_params``
enables autocast on every CUDA device whatever its ``enabled`` argument, so its VGG, projections,
coordinate decoder and refiner blocks run under fp16 autocast and its DINOv2 is converted to fp16,
as in MatchAnything.

If the real torchvision cannot be imported (CPU-only torch without a matching wheel), the
``torchvision_stand_in`` test double beside this file is put on ``sys.path`` first.
"""

from __future__ import annotations

import importlib
import math
import sys
from pathlib import Path
from types import ModuleType

import torch
import torch.nn.functional as F
from torch import nn

STAND_IN_DIR = Path(__file__).resolve().parent / "torchvision_stand_in"


def _real_torchvision_imports() -> bool:
    try:
        importlib.import_module("torchvision.models")
        importlib.import_module("torchvision.transforms")
    except Exception:  # a broken binary install raises RuntimeError/ImportError/OSError
        for name in [m for m in sys.modules if m == "torchvision" or m.startswith("torchvision.")]:
            del sys.modules[name]
        return False
    return True


def import_romatch() -> ModuleType:
    """Import ``romatch``, with the torchvision stand-in only when the real torchvision fails to import."""
    if "romatch" not in sys.modules and not _real_torchvision_imports():
        sys.path.insert(0, str(STAND_IN_DIR))
    return importlib.import_module("romatch")


def build_reference(
    roma_state: dict[str, torch.Tensor],
    dinov2_state: dict[str, torch.Tensor],
    *,
    coarse_res: int,
    upsample_res: int,
    amp_dtype: torch.dtype = torch.float32,
    device: str = "cpu",
) -> nn.Module:
    """romatch's ``RegressionMatcher`` with the release tensors.

    Args:
        roma_state: the 603 tensors of ``matchanything_roma.ckpt`` (keys ``matcher.model.*``).
        dinov2_state: the 343 tensors of ``dinov2_vitl14_pretrain.pth``.
        amp_dtype: ``torch.float32`` (all-fp32) or ``torch.float16`` (reference regions; CUDA only).
    """
    import_romatch()
    from romatch.models.model_zoo.roma_models import roma_model

    weights = {k.removeprefix("matcher.model."): v for k, v in roma_state.items()}
    model = roma_model(
        resolution=(coarse_res, coarse_res),
        upsample_preds=True,
        device=device,
        weights=weights,
        dinov2_weights=dict(dinov2_state),
        amp_dtype=amp_dtype,
        use_custom_corr=False,
        symmetric=True,
        upsample_res=(upsample_res, upsample_res),
        attenuate_cert=True,
    )
    return model.eval()


@torch.no_grad()
def match_reference(
    model: nn.Module,
    image0_coarse: torch.Tensor,
    image1_coarse: torch.Tensor,
    image0_upsample: torch.Tensor,
    image1_upsample: torch.Tensor,
) -> dict[str, torch.Tensor]:
    """MatchAnything's two-pass symmetric match on already-stretched ``[1, 3, s, s]`` images.

    Returns:
        ``warp`` ``[1, R, R, 2]`` image 0 → 1 and ``warp_1to0`` image 1 → 0 (normalised, clamped),
        ``certainty``/``certainty_1to0`` ``[1, R, R]`` probabilities, ``flow_coarse`` ``[2, 2, c, c]`` and
        ``certainty_coarse_logits`` ``[2, 1, c, c]`` (pass 1's finest output, both directions),
        ``certainty_16_logits`` ``[2, 1, c/14, c/14]`` (pass 1's certainty after the scale-16 refiner) and
        ``anchor_logits`` ``[2, 4096, g, g]`` (the coordinate decoder's classification logits, captured
        with a forward hook, for diagnosing arg-max near-ties).
    """
    coarse = image0_coarse.shape[-1]
    up = image0_upsample.shape[-1]
    captured: list[torch.Tensor] = []
    hook = model.decoder.embedding_decoder.register_forward_hook(lambda _m, _i, out: captured.append(out[0]))
    try:
        corresps = model.forward_symmetric({"im_A": image0_coarse, "im_B": image1_coarse})
    finally:
        hook.remove()
    certainty_16 = corresps[16]["certainty"]
    low_res = F.interpolate(certainty_16, size=(up, up), align_corners=False, mode="bilinear")
    low_res = 0.5 * low_res * (low_res < 0)
    finest = corresps[1]
    scale_factor = math.sqrt(up * up / (coarse * coarse))
    batch = {"im_A": image0_upsample, "im_B": image1_upsample, "corresps": finest}
    corresps = model.forward_symmetric(batch, upsample=True, batched=True, scale_factor=scale_factor)
    flow = corresps[1]["flow"].permute(0, 2, 3, 1)
    certainty = (corresps[1]["certainty"] - low_res).sigmoid()[:, 0]
    outside = (flow.abs() > 1).sum(dim=-1) > 0
    certainty = torch.where(outside, torch.zeros_like(certainty), certainty)
    flow = flow.clamp(-1, 1)
    return {
        "warp": flow[:1].float(),
        "warp_1to0": flow[1:].float(),
        "certainty": certainty[:1].float(),
        "certainty_1to0": certainty[1:].float(),
        "flow_coarse": finest["flow"].float(),
        "certainty_coarse_logits": finest["certainty"].float(),
        "certainty_16_logits": certainty_16.float(),
        "anchor_logits": captured[0].float(),
    }
