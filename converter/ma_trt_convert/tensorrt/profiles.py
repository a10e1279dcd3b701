"""Optimisation profiles of dynamic-size graphs: which input sizes an engine is built for.

A graph exported with a size range (ONNX metadata ``size_range``, inputs ``[N, C, -1, -1]``) needs
one TensorRT optimisation profile: the smallest, the tuned-for and the largest input height and width.
Defaults: the graph's whole size range, tuned for the size it was traced at (``height``/``width``,
the camera size it was exported for). A fixed-size graph has no profile.
"""

from __future__ import annotations

from dataclasses import dataclass

from ma_trt_convert.errors import ConversionError
from ma_trt_ros.contract.sizes import ShapeProfile, SizeRange, size_range_of, size_text
from ma_trt_ros.contract.tensors import DYNAMIC, TensorSpec

Size = tuple[int, int]


@dataclass(frozen=True)
class ProfileSizes:
    """``--min-size``/``--opt-size``/``--max-size`` as given (``(height, width)`` pixels, None: default)."""

    min: Size | None = None
    opt: Size | None = None
    max: Size | None = None

    def given(self) -> bool:
        return any(size is not None for size in (self.min, self.opt, self.max))


def _profile_range(graph: SizeRange, sizes: ProfileSizes, traced: Size) -> tuple[Size, Size, Size]:
    low = sizes.min or (graph.min_height, graph.min_width)
    high = sizes.max or (graph.max_height, graph.max_width)
    opt = sizes.opt or traced
    problems = [
        f"{name} size {size_text(*size)}: {problem}"
        for name, size in (("min", low), ("opt", opt), ("max", high))
        if (problem := graph.problem(*size))
    ]
    if not (low[0] <= opt[0] <= high[0] and low[1] <= opt[1] <= high[1]):
        problems.append(f"min {size_text(*low)} <= opt {size_text(*opt)} <= max {size_text(*high)} must hold")
    if problems:
        raise ConversionError(
            "optimisation profile: " + "; ".join(problems) + f" (the ONNX takes {graph.text()}: re-export with "
            "another --size-range to go beyond it)"
        )
    return low, opt, high


def optimisation_profiles(
    inputs: tuple[TensorSpec, ...], metadata: dict[str, str], sizes: ProfileSizes
) -> tuple[ShapeProfile, ...]:
    """One profile entry per dynamic input (height and width are its axes 2 and 3), empty when none is.

    Raises:
        ConversionError: sizes given for a fixed-size graph, dynamic inputs without a recorded size
            range, or sizes outside the graph's range / not ordered min <= opt <= max.
    """
    dynamic = [spec for spec in inputs if spec.is_dynamic]
    graph = size_range_of(metadata)
    if not dynamic:
        if sizes.given():
            raise ConversionError(
                "--min-size/--opt-size/--max-size apply to dynamic-size graphs; this ONNX has fixed input shapes "
                "(export with --size-range to get one)"
            )
        return ()
    if graph is None:
        raise ConversionError("the ONNX has dynamic inputs but no size_range metadata: export it with ma-trt-convert")
    low, opt, high = _profile_range(graph, sizes, (int(metadata["height"]), int(metadata["width"])))
    profiles = []
    for spec in dynamic:
        if [axis for axis, d in enumerate(spec.shape) if d == DYNAMIC] != [2, 3]:
            raise ConversionError(f"input {spec.name} {list(spec.shape)}: only height and width may be dynamic")
        profiles.append(ShapeProfile(spec.name, *(spec.at_size(*size).shape for size in (low, opt, high))))
    return tuple(profiles)
