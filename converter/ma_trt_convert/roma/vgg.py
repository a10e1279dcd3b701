"""VGG19-BN ``features[:40]``: the fine feature encoder of MatchAnything-RoMa.

``layers`` has torchvision's ``vgg19_bn().features`` indexing (conv, BN, ReLU triples and max-pools),
so its keys equal the checkpoint's ``matcher.model.encoder.cnn.layers.N.*`` (12 convolutions with
their BatchNorms). The feature of scale ``s`` (1, 2, 4, 8) is the activation just before the
``log2(s)+1``-th max-pool; the last max-pool (index 39) produces nothing that is used and is skipped.
"""

from __future__ import annotations

import torch
from torch import nn

from ma_trt_convert.roma.precision import batch_norm_fp32

# Channels of the convolutions before each of the four max-pools in features[:40].
STAGES: tuple[tuple[int, ...], ...] = ((64, 64), (128, 128), (256, 256, 256, 256), (512, 512, 512, 512))
SCALES = (1, 2, 4, 8)


def _build_layers() -> nn.ModuleList:
    layers: list[nn.Module] = []
    in_ch = 3
    for stage in STAGES:
        for out_ch in stage:
            layers += [nn.Conv2d(in_ch, out_ch, 3, padding=1), nn.BatchNorm2d(out_ch), nn.ReLU()]
            in_ch = out_ch
        layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
    return nn.ModuleList(layers)


class VGG19BNFeatures(nn.Module):
    """Feature pyramid at scales 1, 2, 4, 8 (64, 128, 256, 512 channels).

    Convolutions run in their weight dtype (fp16 in fp16 mode). An unfolded BatchNorm keeps fp32
    parameters and computes in fp32, returning the conv dtype (what cuDNN does for an fp16 input under
    autocast); the built module has every BatchNorm folded into its convolution (:mod:`.folding`).
    """

    def __init__(self) -> None:
        super().__init__()
        self.layers = _build_layers()

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """``[B, 3, H, W]`` RGB in [0, 1] → features ``[B, C_s, H/s, W/s]`` for s = 1, 2, 4, 8."""
        feats: list[torch.Tensor] = []
        dtype = self.layers[0].weight.dtype
        x = x.to(dtype)
        for layer in self.layers:
            if isinstance(layer, nn.MaxPool2d):
                feats.append(x)
                if len(feats) == len(SCALES):
                    break
                x = layer(x)
            elif isinstance(layer, nn.BatchNorm2d):
                x = batch_norm_fp32(layer, x)
            else:
                x = layer(x)
        return feats[0], feats[1], feats[2], feats[3]
