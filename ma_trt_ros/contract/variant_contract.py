"""The form of one variant's I/O contract (standard library only)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

# How an output is compared between two backends (see :mod:`ma_trt_convert.verify.compare`).
OUTPUT_KIND_NAMES = ("pixels", "normalized", "score", "mask", "count", "identity", "value")


@dataclass(frozen=True)
class VariantContract:
    """Tensor names, meanings and input conventions of one MatchAnything variant's engines.

    Attributes:
        name: ``"roma"`` or ``"eloftr"`` (the ``variant`` of ONNX metadata and sidecars).
        input_names: every input the variant's graphs can have, in graph order (a graph may take a
            prefix: RoMa without its upsample pass has only the coarse inputs).
        output_names: the graph's outputs, in order.
        descriptions: tensor name -> layout, value range, units and coordinate convention in words.
        output_kinds: output name -> how it is compared (one of :data:`OUTPUT_KIND_NAMES`).
        input_color: ``"gray"`` (1 channel) or ``"rgb"`` (3 channels) network inputs.
        size_sources: the inputs a dynamic-size graph takes, each with the image (0 or 1) whose size
            sets its height and width (ELoFTR: both follow image 0, the graph needs one size; RoMa's
            camera-input graph: each image its own).
    """

    name: str
    input_names: tuple[str, ...]
    output_names: tuple[str, ...]
    descriptions: Mapping[str, str]
    output_kinds: Mapping[str, str]
    input_color: str
    size_sources: Mapping[str, int]

    def __post_init__(self) -> None:
        unknown = set(self.output_kinds.values()) - set(OUTPUT_KIND_NAMES)
        if unknown:
            raise ValueError(f"{self.name}: unknown output kinds {sorted(unknown)}")
        undocumented = set(self.input_names + self.output_names + tuple(self.size_sources)) - set(self.descriptions)
        if undocumented:
            raise ValueError(f"{self.name}: tensors without a description {sorted(undocumented)}")
