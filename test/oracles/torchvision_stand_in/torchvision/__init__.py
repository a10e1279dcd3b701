"""Test double for torchvision (see ../README.md): only what romatch needs; never used when the real one imports."""

from torchvision import models, transforms

__version__ = "0.0.0+stand-in"
IS_STAND_IN = True
__all__ = ["IS_STAND_IN", "models", "transforms"]
