"""``ma-trt-match``: match two images (or a CSV of pairs) with a TensorRT plan, an ONNX file or the
PyTorch port, and write the matches as JSON and pictures."""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ma_trt_ros.cli_errors import run_command
from ma_trt_ros.runtime.errors import MatcherError
from ma_trt_ros.runtime.images import read_image
from ma_trt_ros.runtime.loading import BACKENDS, choose_backend, open_matcher
from ma_trt_ros.runtime.matcher import Matcher
from ma_trt_ros.runtime.options import MatchOptions
from ma_trt_ros.runtime.pictures import certainty_heatmap, overlay, side_by_side, to_bgr
from ma_trt_ros.runtime.result import MatchResult
from ma_trt_ros.runtime.settings_arguments import TORCH_BUILD_ARGS, add_backend_arguments, backend_settings

EPILOG = """
examples:
  ma-trt-match a.png b.png --model eloftr.plan                       # TensorRT (plan + its .plan.json)
  ma-trt-match a.png b.png --model eloftr.onnx --output-json m.json  # ONNX Runtime, CPU
  ma-trt-match a.png b.png --model matchanything_eloftr.ckpt --backend torch --height 480 --width 640
  ma-trt-match a.png b.png --model matchanything_roma.ckpt --dinov2 dinov2_vitl14_pretrain.pth
  ma-trt-match --pairs pairs.csv --model eloftr.onnx --output-dir out/   # CSV rows: image0,image1

Coordinates in the JSON are continuous pixels of the images as read (centre of the top-left pixel at
(0.5, 0.5)). RoMa's sparse matches are drawn from the dense field (--num-matches, seeded).
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ma-trt-match",
        description="Match two images with a MatchAnything model (RoMa or ELoFTR).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("image0", nargs="?", help="first image (query); any size, colour or grayscale, 8/16 bit")
    parser.add_argument("image1", nargs="?", help="second image (reference)")
    parser.add_argument(
        "--model", required=True, help="a .plan (with its .plan.json sidecar), an exported .onnx, or a checkpoint"
    )
    parser.add_argument(
        "--backend",
        choices=BACKENDS,
        default="auto",
        help="auto (default) picks by file: .plan -> tensorrt, .onnx -> onnxruntime, checkpoint -> torch",
    )
    add_backend_arguments(parser)
    sampling = parser.add_argument_group("RoMa sparse matches")
    sampling.add_argument("--num-matches", type=int, help="matches drawn from the dense field (default 5000)")
    sampling.add_argument("--certainty-threshold", type=float, help="cells at or below are not drawn (default 0.05)")
    sampling.add_argument("--seed", type=int, help="sampler seed (same seed, same matches; default 0)")
    out = parser.add_argument_group("output")
    out.add_argument("--output-json", help="write the matches as JSON here (two-image mode)")
    out.add_argument("--output-image", help="write the side-by-side picture here (RoMa: also *_certainty.png)")
    out.add_argument("--pairs", help="CSV of pairs (image0,image1 per row; a header row is skipped)")
    out.add_argument("--output-dir", help="--pairs: folder for NNNN.json (and NNNN.png with --pictures)")
    out.add_argument("--pictures", action="store_true", help="--pairs: also write the pictures")
    return parser


def result_json(result: MatchResult, matcher: Matcher, paths: tuple[str, str]) -> dict[str, Any]:
    """The JSON document of one pair (see the README's ma-trt-match section)."""
    images = {}
    for key, path, size in zip(("image0", "image1"), paths, (result.image0, result.image1), strict=True):
        images[key] = {"path": path, "width": size.width, "height": size.height}
    return {
        "variant": result.variant,
        "backend": matcher.backend_name,
        "model": matcher.model_id,
        **images,
        "count": result.count,
        "truncated": result.truncated,
        "points0": result.points0.astype(float).round(3).tolist(),
        "points1": result.points1.astype(float).round(3).tolist(),
        "confidence": result.confidence.astype(float).round(5).tolist(),
        "timing_ms": {k: round(v, 3) for k, v in result.timing_ms.items()},
    }


def write_pictures(path: Path, images: tuple[np.ndarray, np.ndarray], result: MatchResult) -> list[Path]:
    """The side-by-side picture at ``path`` and, with a dense field, ``<stem>_certainty.png``."""
    written = [path]
    cv2.imwrite(str(path), to_bgr(side_by_side(*images, result)))
    if result.dense is not None:
        heat = certainty_heatmap(result.dense, result.image0.width, result.image0.height)
        heat_path = path.with_name(f"{path.stem}_certainty.png")
        cv2.imwrite(str(heat_path), to_bgr(overlay(images[0], heat)))
        written.append(heat_path)
    return written


MIN_SIDE_PX = 8  # ELoFTR's coarse cell (RoMa's DINOv2 patch is 14): less holds no feature to match


def read_usable_image(path: str) -> np.ndarray:
    """:func:`read_image`, refusing an image smaller than :data:`MIN_SIDE_PX` on a side."""
    image = read_image(path)
    height, width = image.shape[:2]
    if min(height, width) < MIN_SIDE_PX:
        raise MatcherError(
            f"{path} is {width}x{height} px, smaller than the models can use ({MIN_SIDE_PX} px a side at least, "
            "one coarse cell); give a larger image"
        )
    return image


def _match_two(args: argparse.Namespace, matcher: Matcher, images: tuple[np.ndarray, np.ndarray]) -> None:
    result = matcher.match(*images)
    stages = ", ".join(f"{k} {v:.1f}" for k, v in result.timing_ms.items())
    print(f"{result.count} matches ({result.variant}, {matcher.backend_name}, {matcher.model_id}); ms: {stages}")
    if result.truncated:
        print("note: the engine's match budget dropped the least confident matches")
    if args.output_json:
        Path(args.output_json).write_text(json.dumps(result_json(result, matcher, (args.image0, args.image1))))
        print(f"wrote {args.output_json}")
    if args.output_image:
        print("wrote " + ", ".join(map(str, write_pictures(Path(args.output_image), images, result))))


def read_pairs(path: str) -> list[tuple[str, str]]:
    """``(image0, image1)`` rows of a CSV (relative paths are relative to the CSV's folder)."""
    if not Path(path).is_file():
        raise MatcherError(f"--pairs {path}: no such file; give a CSV with one image0,image1 row per pair")
    folder = Path(path).parent
    pairs = []
    with open(path, newline="") as handle:
        for row in csv.reader(handle):
            if not row or row[0].startswith("#") or row[:2] == ["image0", "image1"]:
                continue
            if len(row) < 2:
                raise MatcherError(f"{path}: row {row} has no second image")
            pairs.append(tuple(str(folder / cell.strip()) for cell in row[:2]))
    return pairs


def _match_pairs(args: argparse.Namespace, matcher: Matcher, pairs: list[tuple[str, str]]) -> None:
    from tqdm import tqdm

    out = Path(args.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    total = 0
    with tqdm(total=len(pairs), unit="pair", desc="matching") as progress:
        for start in range(0, len(pairs), matcher.batch):
            chunk = pairs[start : start + matcher.batch]
            images = [(read_usable_image(a), read_usable_image(b)) for a, b in chunk]
            for offset, (paths, pair, result) in enumerate(
                zip(chunk, images, matcher.match_batch(images), strict=True)
            ):
                name = f"{start + offset:04d}"
                (out / f"{name}.json").write_text(json.dumps(result_json(result, matcher, paths)))
                if args.pictures:
                    write_pictures(out / f"{name}.png", pair, result)
                total += result.count
            progress.update(len(chunk))
    print(f"{len(pairs)} pairs, {total} matches; results in {out}")


TORCH_ONLY = ("dinov2", "precision", "compile", "compile_cache_dir", *TORCH_BUILD_ARGS)
ROMA_ONLY = ("num_matches", "certainty_threshold", "seed")


def _given(args: argparse.Namespace, names: Sequence[str]) -> list[str]:
    """The options among ``names`` that the command line set, as ``--flag`` (``--precision fp32`` counts as unset)."""
    given = [name for name in names if getattr(args, name) not in (None, "fp32")]
    return ["--" + name.replace("_", "-") for name in given]


def check_options(args: argparse.Namespace) -> None:
    """Refuse torch-only options for a model another backend runs (before anything is loaded)."""
    backend = choose_backend(args.model, args.backend)
    extra = _given(args, TORCH_ONLY)
    if backend != "torch" and extra:
        raise MatcherError(
            f"{', '.join(extra)} apply to the torch backend (release checkpoints) only; {args.model} runs on "
            f"{backend}, whose sizes were fixed at export: drop {'them' if len(extra) > 1 else 'it'}"
        )


def check_outputs(args: argparse.Namespace) -> None:
    """Refuse output files whose folder does not exist, before anything is loaded."""
    if args.pairs and not args.output_dir:
        raise MatcherError("--pairs needs --output-dir")
    for flag, value in (("--output-json", args.output_json), ("--output-image", args.output_image)):
        if value and not Path(value).resolve().parent.is_dir():
            raise MatcherError(f"{flag} {value}: the folder {Path(value).parent} does not exist; create it first")


def warn_unused(args: argparse.Namespace, matcher: Matcher) -> None:
    """One warning when RoMa-only options were given for an ELoFTR model."""
    extra = _given(args, ROMA_ONLY)
    if matcher.variant != "roma" and extra:
        print(
            f"warning: {', '.join(extra)} apply to RoMa only; {matcher.variant} returns every match of its budget",
            file=sys.stderr,
        )


def run(args: argparse.Namespace) -> int:
    """Check the outputs, inputs and options (in that order, before anything is loaded), open the model,
    match; returns the exit status."""
    check_outputs(args)
    pairs = read_pairs(args.pairs) if args.pairs else None
    images = None if pairs is not None else (read_usable_image(args.image0), read_usable_image(args.image1))
    check_options(args)
    defaults = MatchOptions()
    options = MatchOptions(
        defaults.num_matches if args.num_matches is None else args.num_matches,
        defaults.certainty_threshold if args.certainty_threshold is None else args.certainty_threshold,
        defaults.seed if args.seed is None else args.seed,
    )
    with open_matcher(args.model, args.backend, options, backend_settings(args)) as matcher:
        warn_unused(args, matcher)
        if images is None:
            _match_pairs(args, matcher, pairs)
        else:
            _match_two(args, matcher, images)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``ma-trt-match``: exit 0, or 2 with one ``error:`` line."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.pairs and not (args.image0 and args.image1):
        parser.error("give IMAGE0 IMAGE1, or --pairs CSV")
    return run_command(lambda: run(args), (MatcherError, ValueError))


if __name__ == "__main__":
    sys.exit(main())
