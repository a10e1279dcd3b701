"""The registry of variant contracts: the one place that lists the variants (standard library only)."""

from __future__ import annotations

from ma_trt_ros.contract.eloftr import ELOFTR
from ma_trt_ros.contract.roma import ROMA
from ma_trt_ros.contract.variant_contract import VariantContract

CONTRACTS: dict[str, VariantContract] = {contract.name: contract for contract in (ROMA, ELOFTR)}
VARIANTS: tuple[str, ...] = tuple(CONTRACTS)


def variant_contract(name: str) -> VariantContract:
    """The contract of variant ``name``; raises ValueError naming the known variants."""
    try:
        return CONTRACTS[name]
    except KeyError:
        raise ValueError(f"unknown variant {name!r}; known variants: {', '.join(VARIANTS)}") from None


def output_kind(name: str) -> str:
    """How the output ``name`` of any variant is compared (``"value"`` for names no contract lists)."""
    for contract in CONTRACTS.values():
        if name in contract.output_kinds:
            return contract.output_kinds[name]
    return "value"
