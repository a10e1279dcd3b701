"""``random-checkpoint`` and ``inspect-checkpoint`` subcommands.

PyTorch is imported only when one of them runs, so that the other subcommands (``build``, ``check``,
``info``) work on a machine without it.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ma_trt_convert.cli.arguments import size_argument
from ma_trt_convert.errors import ConversionError
from ma_trt_convert.variants import VARIANTS, variant_spec

if TYPE_CHECKING:
    import torch

    State = dict[str, torch.Tensor]


@dataclass(frozen=True)
class AlternativeLayout:
    """A second naming that a variant's ``build_export_module`` also accepts, checked after renaming.

    Attributes:
        name: shown in the report, e.g. ``HF transformers layout``.
        read: reads a weight file of either naming (``path -> tensors``).
        detect: whether the tensors use this naming.
        rename: ``tensors -> (tensors under released keys, keys without a released counterpart)``.
    """

    name: str
    read: Callable[[str], State]
    detect: Callable[[State], bool]
    rename: Callable[[State], tuple[State, list[str]]]


def alternative_layouts() -> dict[str, AlternativeLayout]:
    """Per variant, the second naming its loader accepts (ELoFTR: the HF ``transformers`` layout)."""
    from ma_trt_convert.eloftr.hf_layout import looks_like_hf_layout, to_release_layout
    from ma_trt_convert.weights.checkpoint import read_weight_file

    return {
        "eloftr": AlternativeLayout("HF transformers layout", read_weight_file, looks_like_hf_layout, to_release_layout)
    }


def register(sub: argparse._SubParsersAction) -> None:
    """Add this module's subcommands to ``sub``."""
    rnd = sub.add_parser(
        "random-checkpoint",
        help="write random-weight files in the exact release layout (for tests and demos)",
        description=(
            "Write seeded random-weight files with the keys, shapes, dtypes and wrapper of the released "
            "files. RoMa needs two files: the MatchAnything checkpoint (--output) and the DINOv2 "
            "weights (--dinov2-output). The weights are meaningless: use them to test the pipeline, "
            "never to match images."
        ),
    )
    rnd.add_argument("--variant", choices=VARIANTS, required=True, help="roma (two files) or eloftr (one file)")
    rnd.add_argument("--output", required=True, help="path of the MatchAnything .ckpt to write")
    rnd.add_argument("--dinov2-output", help="RoMa only: path of the dinov2_vitl14_pretrain.pth to write")
    rnd.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    rnd.add_argument(
        "--matching",
        metavar="HxW",
        type=size_argument,
        help="ELoFTR only: rescale the weights so that `verify --pair shifted --seed SEED` of an export at "
        "this network size (e.g. 160x224) finds many matches (for tests and demos; still meaningless weights)",
    )
    rnd.set_defaults(run=run_random_checkpoint)

    ins = sub.add_parser(
        "inspect-checkpoint",
        help="check that weight files have exactly the released layout",
        description=(
            "Compare every key and shape of the given files with the released layout and print how "
            "many entries match. ELoFTR also takes the HF transformers layout (.safetensors or torch "
            "file), renamed first. Exits 1 on any missing, unexpected or mis-shaped key."
        ),
    )
    ins.add_argument("--variant", choices=VARIANTS, required=True, help="roma (two files) or eloftr (one file)")
    ins.add_argument(
        "--checkpoint",
        required=True,
        help="matchanything_<variant>.ckpt as released (ELoFTR: or an HF transformers file)",
    )
    ins.add_argument("--dinov2", help="RoMa only: dinov2_vitl14_pretrain.pth as released")
    ins.set_defaults(run=run_inspect_checkpoint)


def run_random_checkpoint(args: argparse.Namespace) -> int:
    """Write one synthetic file per release file of ``args.variant``."""
    spec = variant_spec(args.variant)
    missing = [r.output_option for r in spec.release_files if getattr(args, r.output_dest, None) is None]
    if missing:
        raise ConversionError(f"--variant {spec.name} also needs {', '.join(missing)} (nothing was written)")
    if args.matching is not None and spec.synthetic_matching is None:
        raise ConversionError(f"--matching does not apply to --variant {spec.name}")
    from ma_trt_convert.weights.checkpoint import load_layout, random_state_dict, write_release_file

    for release in spec.release_files:
        path = getattr(args, release.output_dest)
        layout = load_layout(release.layout)
        state = random_state_dict(layout, args.seed + release.seed_offset)
        if args.matching is not None:
            state = _matching(spec.synthetic_matching, state, args.matching, args.seed)
        write_release_file(state, layout, path)
        note = "" if args.matching is None else f", rescaled to match the shifted pair at {args.matching}"
        print(f"wrote {path}: {len(layout)} entries in the {layout.file_name} layout (seed {args.seed}{note})")
    return 0


def _matching(function: str, state: State, size: tuple[int, int], seed: int) -> State:
    """``state`` rescaled by the variant's synthetic-matching function for the verify pair of ``size``."""
    import importlib

    import torch

    from ma_trt_convert.verify.parity import synthetic_inputs
    from ma_trt_ros.contract.tensors import TensorSpec

    module, name = function.split(":")
    rescale = getattr(importlib.import_module(module), name)
    specs = tuple(TensorSpec(f"image{i}", (1, 1, *size), "float32") for i in range(2))
    pair = [torch.from_numpy(image) for image in synthetic_inputs(specs, seed=seed, pair="shifted")]
    return rescale(state, *pair)


def run_inspect_checkpoint(args: argparse.Namespace) -> int:
    """Print ``matched/total`` per file; 1 if any file deviates from its layout."""
    from ma_trt_convert.weights.checkpoint import compare_with_layout, describe_mismatch, load_layout

    failed = False
    for release in variant_spec(args.variant).release_files:
        path = getattr(args, release.dest)
        if path is None:
            raise ConversionError(f"--variant {args.variant} also needs {release.input_option}")
        layout = load_layout(release.layout)
        state, note = _read_as_release(args.variant, path)
        report = compare_with_layout(state, layout)
        print(f"{path}: {report.matched}/{len(layout)} entries match {layout.file_name}{note}")
        if not report.ok:
            failed = True
            print(describe_mismatch(report, path, state))
    return 1 if failed else 0


def _read_as_release(variant: str, path: str) -> tuple[State, str]:
    """The file's tensors under released keys and a note for the report (empty for the released naming).

    A file in the variant's :func:`alternative_layouts` naming is renamed first; its keys without a
    released counterpart keep their names, so the layout check reports them as unexpected.
    """
    from ma_trt_convert.weights.checkpoint import read_state_dict

    alternative = alternative_layouts().get(variant)
    if alternative is None:
        return read_state_dict(path)[0], ""
    state = alternative.read(path)
    if not alternative.detect(state):
        return state, ""
    renamed, unmapped = alternative.rename(state)
    return renamed | {key: state[key] for key in unmapped}, f" ({alternative.name}, mapped)"
