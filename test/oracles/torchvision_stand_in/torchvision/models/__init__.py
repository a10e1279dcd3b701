"""``torchvision.models`` stand-in: the VGG19-BN ``features`` architecture only."""

from torchvision.models import vgg
from torchvision.models.vgg import VGG19_BN_Weights, vgg19_bn

__all__ = ["VGG19_BN_Weights", "vgg", "vgg19_bn"]
