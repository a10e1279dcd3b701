"""The variants the converter knows, each described once (:class:`~.spec.VariantSpec`); which variants
exist is the I/O contract's list (:data:`ma_trt_ros.contract.variants.VARIANTS`).

Standard library only. Every command reads a variant's released files, build options and their
rules and I/O contract from here; nothing else branches on the variant's name.
"""

from __future__ import annotations

from ma_trt_convert.variants.eloftr import ELOFTR_SPEC
from ma_trt_convert.variants.roma import ROMA_SPEC
from ma_trt_convert.variants.spec import BuildOption, ReleaseFile, VariantSpec
from ma_trt_ros.contract.variants import VARIANTS

# One spec for each variant of the I/O contract (the list of variants), in the contract's order.
_BY_NAME = {spec.name: spec for spec in (ROMA_SPEC, ELOFTR_SPEC)}
SPECS: dict[str, VariantSpec] = {name: _BY_NAME[name] for name in VARIANTS}

__all__ = [
    "SPECS",
    "VARIANTS",
    "BuildOption",
    "ReleaseFile",
    "VariantSpec",
    "build_options",
    "release_file",
    "variant_spec",
]


def variant_spec(name: str) -> VariantSpec:
    """The facts of variant ``name``; KeyError naming the known variants."""
    try:
        return SPECS[name]
    except KeyError:
        raise KeyError(f"unknown variant {name!r}; known: {', '.join(VARIANTS)}") from None


def release_file(layout: str) -> tuple[str, ReleaseFile]:
    """``(variant, release file)`` of a key layout name; KeyError naming the known layouts."""
    for spec in SPECS.values():
        for release in spec.release_files:
            if release.layout == layout:
                return spec.name, release
    known = ", ".join(r.layout for s in SPECS.values() for r in s.release_files)
    raise KeyError(f"unknown release layout {layout!r}; known: {known}")


def build_options() -> dict[str, list[tuple[str, BuildOption]]]:
    """Every build option name -> the ``(variant, option)`` pairs that have it (for the CLI's parser)."""
    found: dict[str, list[tuple[str, BuildOption]]] = {}
    for spec in SPECS.values():
        for option in spec.build_options:
            found.setdefault(option.name, []).append((spec.name, option))
    return found
