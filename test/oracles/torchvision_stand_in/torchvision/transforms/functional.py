"""``torchvision.transforms.functional`` stand-in: ``InterpolationMode`` only."""

import enum


class InterpolationMode(enum.Enum):
    """Interpolation names as torchvision spells them."""

    NEAREST = "nearest"
    NEAREST_EXACT = "nearest-exact"
    BILINEAR = "bilinear"
    BICUBIC = "bicubic"
    BOX = "box"
    HAMMING = "hamming"
    LANCZOS = "lanczos"
