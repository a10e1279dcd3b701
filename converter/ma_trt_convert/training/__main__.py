"""Command line: ``python -m ma_trt_convert.training {photos,train} ...`` (see the package docstring)."""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m ma_trt_convert.training", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    photos = sub.add_parser(
        "photos", help="write the photograph archive (.npz) from a scikit-image wheel or data folder"
    )
    photos.add_argument("--source", required=True, help="scikit_image-*.whl or a skimage/data folder")
    photos.add_argument("--output", required=True, help="archive to write (.npz)")
    train = sub.add_parser("train", help="train the ELoFTR port")
    train.add_argument(
        "--config", required=True, help="training configuration (JSON), e.g. config/training/eloftr.json"
    )
    train.add_argument(
        "--photos", type=Path, help="photograph archive from the photos command (default: procedural images only)"
    )
    train.add_argument("--out-dir", required=True, help="output folder (log.jsonl, last.pt, eloftr_trained.ckpt)")
    train.add_argument("--device", default="cuda", choices=("cuda", "cpu"))
    train.add_argument("--resume", action="store_true", help="continue from OUT_DIR/last.pt when it exists")
    train.add_argument("--init-weights", type=Path, help="start from these release-format weights and their step")
    train.add_argument("--max-seconds", type=float, default=math.inf, help="stop, save and exit after this wall time")
    train.add_argument("--steps", type=int, help="stop after this global step (default: the config's steps)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "photos":
        from ma_trt_convert.training.photos import HELD_OUT, TRAINING, extract_photos, write_archive

        write_archive(args.output, extract_photos(args.source, TRAINING + HELD_OUT))
        print(f"wrote {args.output}: {len(TRAINING)} training and {len(HELD_OUT)} held-out photographs")
        return 0
    from ma_trt_convert.training.config import TrainingConfig
    from ma_trt_convert.training.trainer import RunOptions, Trainer

    options = RunOptions(
        args.photos, Path(args.out_dir), args.device, args.resume, args.init_weights, args.max_seconds, args.steps
    )
    entry = Trainer(TrainingConfig.from_json(args.config), options).run()
    print(json.dumps(entry))
    return 0


if __name__ == "__main__":
    sys.exit(main())
