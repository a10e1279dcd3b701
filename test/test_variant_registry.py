"""One list of variants (the I/O contract's); every layer's table of variants and backends agrees with it."""

from __future__ import annotations

import importlib

from ma_trt_ros.contract.variants import CONTRACTS, VARIANTS
from ma_trt_ros.ros import node_parameters
from ma_trt_ros.runtime import loading
from ma_trt_ros.runtime.variants import _VARIANT_IO


def test_converter_specs_follow_the_contract() -> None:
    from ma_trt_convert.variants import SPECS

    assert tuple(SPECS) == VARIANTS == tuple(CONTRACTS)
    assert all(spec.contract is CONTRACTS[name] for name, spec in SPECS.items())


def test_runtime_has_one_processor_per_variant() -> None:
    assert tuple(_VARIANT_IO) == VARIANTS
    assert all(io.contract is CONTRACTS[name] for name, io in _VARIANT_IO.items())


def test_node_choices_are_the_runtime_and_contract_lists() -> None:
    assert ("", *VARIANTS) == node_parameters.VARIANTS
    assert node_parameters.BACKENDS is loading.BACKENDS


def test_every_export_module_of_every_port_has_a_fast_path() -> None:
    from ma_trt_convert.fast.variants import PREPARERS
    from ma_trt_convert.variants import SPECS

    modules = []
    for spec in SPECS.values():
        port = importlib.import_module(spec.port)
        modules += [getattr(port, name) for name in port.__all__ if name.endswith("ExportModule")]
    assert len(modules) >= len(SPECS)
    assert [m.__name__ for m in modules if not any(c in PREPARERS for c in m.__mro__)] == []
