"""The form of a variant's facts: its released files and its build options with their rules.

Standard library only: the CLI builds its parsers from these facts before anything heavy is
imported, and checks every option before a checkpoint is loaded.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ma_trt_convert.errors import ConversionError
from ma_trt_ros.contract.sidecar import PRECISIONS
from ma_trt_ros.contract.sizes import SizeRange
from ma_trt_ros.contract.variant_contract import VariantContract
from ma_trt_ros.contract.variants import variant_contract

Check = Callable[[Any], "str | None"]


@dataclass(frozen=True)
class ReleaseFile:
    """One released weight file of a variant.

    Attributes:
        layout: key-layout name, the stem of ``weights/layouts/<layout>.tsv``.
        file_name: the released file's name (messages).
        lightning: True for a Lightning dict whose ``state_dict`` holds the tensors.
        input_option: CLI option that reads it (``--checkpoint``, ``--dinov2``).
        output_option: CLI option of ``random-checkpoint`` that writes it.
        seed_offset: added to ``--seed`` so the files of one variant differ.
    """

    layout: str
    file_name: str
    lightning: bool
    input_option: str
    output_option: str
    seed_offset: int = 0

    @property
    def dest(self) -> str:
        """argparse destination of :attr:`input_option` (``checkpoint``, ``dinov2``)."""
        return self.input_option.lstrip("-").replace("-", "_")

    @property
    def output_dest(self) -> str:
        """argparse destination of :attr:`output_option`."""
        return self.output_option.lstrip("-").replace("-", "_")


@dataclass(frozen=True)
class BuildOption:
    """One keyword argument of a port's ``build_export_module`` and its ``export`` option.

    Attributes:
        name: the keyword (``height``); the option is ``--`` + name with ``-`` for ``_``.
        parse: argparse ``type`` (text -> value).
        default: value when the option is not given.
        help: what it means, with unit (the CLI adds the variant and the default).
        check: the value's problem in words, or None when it is valid.
        warn: a warning about a valid value (e.g. targets it breaks), or None.
        none_is_a_choice: None selects a graph of its own and is recorded, not dropped.
        choices: the allowed values, when they are a fixed list.
    """

    name: str
    parse: Callable[[str], Any]
    default: Any
    help: str
    check: Check | None = None
    warn: Check | None = None
    none_is_a_choice: bool = False
    choices: tuple[str, ...] | None = None

    @property
    def flag(self) -> str:
        return option_flag(self.name)


@dataclass(frozen=True)
class VariantSpec:
    """Everything the converter knows of one variant, in one place.

    Attributes:
        name: ``"roma"`` / ``"eloftr"`` (also its I/O contract's name).
        port: module whose ``build_export_module(*release files, precision=..., **build options)``
            builds the export module.
        release_files: the weight files, in ``build_export_module``'s positional order.
        build_options: the graph's build options.
        synthetic_matching: ``module:function`` that rescales random release weights so that the
            shifted synthetic pair finds many matches (``random-checkpoint --matching``), or None.
        device_decoding: ``module:function`` that appends the runtime's post-processing to the export
            module (the torch backend runs it on the device; extra inputs and outputs named in the
            contract), or None.
    """

    name: str
    port: str
    release_files: tuple[ReleaseFile, ...]
    build_options: tuple[BuildOption, ...]
    synthetic_matching: str | None = None
    device_decoding: str | None = None

    @property
    def contract(self) -> VariantContract:
        """The tensor names and meanings shared with the runtime."""
        return variant_contract(self.name)

    def resolve(self, given: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
        """Build arguments from the options ``given`` (name -> value, only those the user set) plus defaults.

        Returns:
            ``(build arguments, warnings)``; None values are dropped unless ``none_is_a_choice``.

        Raises:
            ConversionError: listing every given option this variant does not have (another variant's)
                and every invalid value, before anything is loaded.
        """
        own = {option.name for option in self.build_options}
        problems = [
            f"{option_flag(name)} does not apply to --variant {self.name} (its options: "
            f"{', '.join(o.flag for o in self.build_options)})"
            for name in given
            if name not in own
        ]
        values, warnings = {}, []
        for option in self.build_options:
            value = given.get(option.name, option.default)
            if option.check is not None and value is not None and (problem := option.check(value)):
                problems.append(f"{option.flag}: {problem}")
            if option.warn is not None and value is not None and (warning := option.warn(value)):
                warnings.append(f"{option.flag} {value}: {warning}")
            if value is not None or option.none_is_a_choice:
                values[option.name] = value
        if problems:
            raise ConversionError("; ".join(problems))
        return values, warnings


def option_flag(name: str) -> str:
    """The CLI option of a build option: ``max_matches`` -> ``--max-matches``."""
    return "--" + name.replace("_", "-")


def positive_multiple(step: int) -> Check:
    """A check: the value is a positive multiple of ``step``."""

    def check(value: int) -> str | None:
        return None if value > 0 and value % step == 0 else f"must be a positive multiple of {step}, got {value}"

    return check


def size_range_option(multiple: int) -> Callable[[str], str]:
    """An option type: ``MIN_HxMIN_W:MAX_HxMAX_W`` (bounds multiples of ``multiple``) -> its normalised text."""

    def parse(text: str) -> str:
        try:
            return SizeRange.parse(text, multiple).text()
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from exc

    return parse


def precision_change(current: str, requested: str, variant: str) -> bool:
    """Whether a port's module at ``current`` precision must change to ``requested``.

    Raises:
        ValueError: an unknown precision, or fp32 asked of an fp16 module (its weights are rounded).
    """
    if requested not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {requested!r}")
    if requested == current:
        return False
    if current != "fp32":
        raise ValueError(f"an {current} {variant} module cannot become {requested}: build it in fp32")
    return True
