"""VGG19-BN as torchvision lays out ``features``: configuration "E" (16 convolutions) with BatchNorm.

``features`` holds, per stage, ``Conv2d(3×3, padding 1), BatchNorm2d, ReLU(inplace)`` triples followed
by ``MaxPool2d(2, 2)``; stage widths 64×2, 128×2, 256×4, 512×4, 512×4 (53 modules, indices as in
torchvision). The classifier is not built: romatch uses ``features[:40]`` only.
"""

from __future__ import annotations

import enum

from torch import nn

_STAGES = ((64, 64), (128, 128), (256, 256, 256, 256), (512, 512, 512, 512), (512, 512, 512, 512))


class VGG19_BN_Weights(enum.Enum):  # noqa: N801 - torchvision's name
    """Pretrained-weight selector; the stand-in has no weights to offer."""

    IMAGENET1K_V1 = "IMAGENET1K_V1"


class VGG(nn.Module):
    """Only the ``features`` trunk of torchvision's VGG."""

    def __init__(self, features: nn.Sequential) -> None:
        super().__init__()
        self.features = features

    def forward(self, x):  # pragma: no cover - romatch never calls the full network
        raise NotImplementedError("torchvision stand-in: only VGG.features is provided")


def _features() -> nn.Sequential:
    layers: list[nn.Module] = []
    in_ch = 3
    for stage in _STAGES:
        for out_ch in stage:
            conv = nn.Conv2d(in_ch, out_ch, kernel_size=3, padding=1)
            layers += [conv, nn.BatchNorm2d(out_ch), nn.ReLU(inplace=True)]
            in_ch = out_ch
        layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
    return nn.Sequential(*layers)


def vgg19_bn(*, weights: VGG19_BN_Weights | None = None, progress: bool = True, **kwargs: object) -> VGG:
    """VGG19-BN with random initialisation; asking for pretrained weights raises."""
    if weights is not None or kwargs.get("pretrained"):
        raise RuntimeError("torchvision stand-in: pretrained VGG19-BN weights are not available")
    return VGG(_features())
