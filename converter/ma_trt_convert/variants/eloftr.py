"""MatchAnything-ELoFTR: released file and build options (see :mod:`ma_trt_convert.eloftr` for the port)."""

from __future__ import annotations

import argparse

from ma_trt_convert.engine_limits import TOPK_LIMIT
from ma_trt_convert.variants.spec import BuildOption, ReleaseFile, VariantSpec, positive_multiple, size_range_option
from ma_trt_ros.contract.sizes import DEFAULT_SIZE_RANGE_TEXT

# Output rows of the ELoFTR graph (its global match budget): below TensorRT's TopK limit (K < 3840) and
# 72 % of the 4256 interior cells at 640x480; the fine stage is then 0.5 % of the FLOPs
# (docs/eloftr_model.md).
ELOFTR_DEFAULT_MAX_MATCHES = 3072
SIZE_MULTIPLE = 32


def parse_max_matches(text: str) -> int | None:
    """``--max-matches`` value: a positive row budget, or None (every candidate) for ``all`` or ``0``."""
    word = text.strip().lower()
    if word == "all":
        return None
    if not word.isdigit():
        raise argparse.ArgumentTypeError(f"expected a positive number of rows, 'all' or 0, got {text!r}")
    return int(word) or None


def _threshold_check(value: float) -> str | None:
    return None if 0.0 < value < 1.0 else f"must be in (0, 1), got {value}"


def _topk_warning(value: int) -> str | None:
    if value < TOPK_LIMIT:
        return None
    return (
        f"TensorRT's TopK takes K < {TOPK_LIMIT}: the graph will not build for any TensorRT version "
        f"we target; use at most {TOPK_LIMIT - 1}"
    )


ELOFTR_SPEC = VariantSpec(
    name="eloftr",
    port="ma_trt_convert.eloftr",
    synthetic_matching="ma_trt_convert.synthetic.eloftr_weights:matching_state",
    release_files=(ReleaseFile("matchanything_eloftr", "matchanything_eloftr.ckpt", True, "--checkpoint", "--output"),),
    build_options=(
        BuildOption("height", int, 480, "input height in pixels, a multiple of 32", positive_multiple(SIZE_MULTIPLE)),
        BuildOption("width", int, 640, "input width in pixels, a multiple of 32", positive_multiple(SIZE_MULTIPLE)),
        BuildOption("threshold", float, 0.1, "coarse match threshold in (0, 1)", _threshold_check),
        BuildOption(
            "max_matches",
            parse_max_matches,
            ELOFTR_DEFAULT_MAX_MATCHES,
            f"output rows, the global match budget (below {TOPK_LIMIT} for TensorRT's TopK); 'all' or 0: one "
            "row per candidate, the heavy unbudgeted graph",
            warn=_topk_warning,
            none_is_a_choice=True,
        ),
        BuildOption(
            "size_range",
            size_range_option(SIZE_MULTIPLE),
            None,
            "dynamic input size MIN_HxMIN_W:MAX_HxMAX_W, heights first, multiples of 32 (e.g. "
            f"{DEFAULT_SIZE_RANGE_TEXT}, or 'default' for that range): one graph for every size in it, traced at "
            "--height x --width (the engine's optimisation point); needs a --max-matches budget that the smallest "
            "size fills. Not given: fixed --height x --width",
        ),
    ),
)
