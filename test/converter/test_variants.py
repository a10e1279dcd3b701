"""The variant registry: one description per variant, consistent with the shared contract and the ports."""

from __future__ import annotations

import inspect

import pytest

from ma_trt_convert import eloftr, roma
from ma_trt_convert.variants import SPECS, VARIANTS, release_file, variant_spec
from ma_trt_ros.contract.variants import CONTRACTS


def test_registry_and_contract_list_the_same_variants() -> None:
    assert set(VARIANTS) == set(CONTRACTS)
    assert all(variant_spec(name).contract is CONTRACTS[name] for name in VARIANTS)


@pytest.mark.parametrize("port", [eloftr, roma])
def test_build_options_are_the_ports_keywords_with_the_ports_defaults(port) -> None:
    spec = next(s for s in SPECS.values() if s.port == port.__name__)
    parameters = inspect.signature(port.build_export_module).parameters
    positional = [p for p in parameters.values() if p.kind is p.POSITIONAL_OR_KEYWORD]
    assert len(positional) == len(spec.release_files)
    for option in spec.build_options:
        assert option.name in parameters
        default = parameters[option.name].default
        if default is not inspect.Parameter.empty:
            assert default == option.default, option.name


def test_release_files_resolve_by_layout() -> None:
    assert release_file("dinov2_vitl14_pretrain")[0] == "roma"
    assert release_file("matchanything_eloftr")[1].file_name == "matchanything_eloftr.ckpt"
    with pytest.raises(KeyError, match="known: matchanything_roma"):
        release_file("superpoint")


def test_resolve_fills_defaults_and_keeps_none_choices() -> None:
    values, warnings = variant_spec("roma").resolve({"upsample_res": None})
    assert values == {"coarse_res": 560, "upsample_res": None, "gp_solver": "newton_schulz"}
    assert warnings == []
    values, warnings = variant_spec("eloftr").resolve({"max_matches": 4000})
    assert values["max_matches"] == 4000 and "K < 3840" in warnings[0]
