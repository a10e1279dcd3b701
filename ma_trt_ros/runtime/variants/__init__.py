"""The runtime side of each variant, registered by the variant's name (its contract's ``name``)."""

from __future__ import annotations

from ma_trt_ros.contract.variants import VARIANTS
from ma_trt_ros.runtime.errors import ModelError
from ma_trt_ros.runtime.variants.base import DecodedMatches, VariantIO
from ma_trt_ros.runtime.variants.eloftr import ELoFTRIO
from ma_trt_ros.runtime.variants.roma import RomaIO

# One pre/post-processor for each variant of the I/O contract, in the contract's order.
_BY_NAME = {io.contract.name: io for io in (ELoFTRIO, RomaIO)}
_VARIANT_IO = {name: _BY_NAME[name] for name in VARIANTS}

__all__ = ["DecodedMatches", "VariantIO", "variant_io"]


def variant_io(variant: str) -> VariantIO:
    """A fresh pre/post-processor for ``variant``; raises ModelError for a variant this runtime lacks."""
    try:
        return _VARIANT_IO[variant]()
    except KeyError:
        raise ModelError(
            f"model variant {variant!r} is not known to this runtime (known: {', '.join(_VARIANT_IO)}); "
            "re-export the model with ma-trt-convert export"
        ) from None
