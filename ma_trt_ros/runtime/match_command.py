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

from ma_trt_ros.runtime.errors import MatcherError
from ma_trt_ros.runtime.images import read_image
from ma_trt_ros.runtime.loading import BACKENDS, open_matcher
from ma_trt_ros.runtime.matcher import Matcher
from ma_trt_ros.runtime.options import MatchOptions
from ma_trt_ros.runtime.pictures import certainty_heatmap, overlay, side_by_side, to_bgr
from ma_trt_ros.runtime.result import MatchResult
from ma_trt_ros.runtime.settings_arguments import add_backend_arguments, backend_settings

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
    sampling.add_argument("--num-matches", type=int, default=5000, help="matches drawn from the dense field")
    sampling.add_argument("--certainty-threshold", type=float, default=0.05, help="cells at or below are not drawn")
    sampling.add_argument("--seed", type=int, default=0, help="sampler seed (same seed, same matches)")
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


def _match_two(args: argparse.Namespace, matcher: Matcher) -> None:
    images = (read_image(args.image0), read_image(args.image1))
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


def _match_pairs(args: argparse.Namespace, matcher: Matcher) -> None:
    from tqdm import tqdm

    if not args.output_dir:
        raise MatcherError("--pairs needs --output-dir")
    out = Path(args.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    pairs = read_pairs(args.pairs)
    total = 0
    with tqdm(total=len(pairs), unit="pair", desc="matching") as progress:
        for start in range(0, len(pairs), matcher.batch):
            chunk = pairs[start : start + matcher.batch]
            images = [(read_image(a), read_image(b)) for a, b in chunk]
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


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.pairs and not (args.image0 and args.image1):
        parser.error("give IMAGE0 IMAGE1, or --pairs CSV")
    try:
        options = MatchOptions(args.num_matches, args.certainty_threshold, args.seed)
        with open_matcher(args.model, args.backend, options, backend_settings(args)) as matcher:
            if args.pairs:
                _match_pairs(args, matcher)
            else:
                _match_two(args, matcher)
    except (MatcherError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
