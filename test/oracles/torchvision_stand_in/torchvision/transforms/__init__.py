"""``torchvision.transforms`` stand-in: transforms romatch constructs but must never call here."""

from __future__ import annotations

from torchvision.transforms import functional
from torchvision.transforms.functional import InterpolationMode


class _Unavailable:
    """Constructible placeholder whose call raises (the oracle must not depend on a fake transform)."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        self.args, self.kwargs = args, kwargs

    def __call__(self, *args: object, **kwargs: object) -> None:
        raise RuntimeError(f"torchvision stand-in: {type(self).__name__} cannot be applied; use tensors directly")


class Normalize(_Unavailable):
    """Placeholder for ``torchvision.transforms.Normalize``."""


class Resize(_Unavailable):
    """Placeholder for ``torchvision.transforms.Resize``."""


class ToTensor(_Unavailable):
    """Placeholder for ``torchvision.transforms.ToTensor``."""


class Compose(_Unavailable):
    """Placeholder for ``torchvision.transforms.Compose``."""


__all__ = ["Compose", "InterpolationMode", "Normalize", "Resize", "ToTensor", "functional"]
