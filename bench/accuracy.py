"""Accuracy of the trained ELoFTR weights on held-out photographs, HPatches-style (issue 18, section 3).

Pairs: each held-out photograph (:data:`ma_trt_convert.training.photos.HELD_OUT`, never trained on)
rendered at 480×640 and warped by seeded random homographies (:data:`PROTOCOLS`: ``viewpoint``, same
modality; ``cross_modal``, image 1 in another modality: channel mix, inversion, gradient or edge map),
with photometric changes. Every matcher sees the same pairs:

* ``torch_fp32``: the export module (fused, release-format weights) in PyTorch, fp32;
* ``onnx_fp32``, ``onnx_fp16``: ``ma-trt-convert export`` graphs through the product runtime
  (:func:`ma_trt_ros.runtime.loading.open_matcher`) on ONNX Runtime;
* ``dynamic_fp32_<H>x<W>``: one dynamic-size graph (384×512 to 576×768) run at :data:`DYNAMIC_SIZES`
  (the pair resized, the true homography rescaled);
* ``fast_fp16`` (CUDA only): the torch fast path (:func:`ma_trt_convert.fast.build_fast_runner`), fp16;
* ``sift``: OpenCV SIFT, Lowe ratio test 0.8, the classical anchor.

Per matcher and protocol: matches per pair; precision at 1/3/5 px (share of matches within that
distance of the truth in image 1, over all matches); corner-error AUC at 3/5/10 px of the homography
that OpenCV's MAGSAC++ (``cv2.USAC_MAGSAC``, 3 px) estimates from the matches
(:mod:`ma_trt_convert.training.metrics`). Coordinates: continuous pixels, pixel centres at +0.5.

    python bench/accuracy.py --checkpoint weights/matchanything_eloftr_trained.ckpt \\
        --photos build/training/photos.npz --out bench/results/accuracy.json [--device cuda]
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import cv2
import numpy as np
import torch
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "converter"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ma_trt_convert.eloftr import build_export_module
from ma_trt_convert.training.geometry import WarpRange
from ma_trt_convert.training.metrics import aggregate, pair_summary
from ma_trt_convert.training.pair_batches import ImageBank, render_pairs
from ma_trt_convert.training.photos import HELD_OUT, read_archive
from ma_trt_ros.runtime.variants.eloftr import UPSTREAM_OFFSET_PX

HEIGHT, WIDTH = 480, 640
DYNAMIC_RANGE = "384x512:576x768"
DYNAMIC_SIZES = ((384, 512), (480, 640), (576, 768))
VIEWPOINT = WarpRange(rotation_deg=30.0, min_scale=0.7, max_scale=1.4, perspective=0.1, shift=0.1)
PROTOCOLS = {"viewpoint": (VIEWPOINT, 0.0), "cross_modal": (VIEWPOINT, 1.0)}
RATIO = 0.8
CONVERT = [sys.executable, "-c", "import sys; from ma_trt_convert.cli import main; sys.exit(main())"]

Pair = dict  # name, protocol, image0, image1 (float32 [H, W] in [0, 1]), homography (float64 [3, 3])
Matcher = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


def held_out_pairs(photos: Path, per_photo: int, seed: int) -> list[Pair]:
    """``per_photo`` seeded pairs of each held-out photograph under each protocol."""
    pairs = []
    for index, (name, photo) in enumerate(read_archive(photos, HELD_OUT).items()):
        bank = ImageBank({name: photo}, "cpu")
        for offset, (protocol, (warp, cross_modal)) in enumerate(PROTOCOLS.items()):
            batch = render_pairs(bank, per_photo, HEIGHT, WIDTH, warp, cross_modal, seed + 100 * index + offset)
            for i in range(per_photo):
                pairs.append(
                    {
                        "name": f"{name}_{protocol}_{i}",
                        "protocol": protocol,
                        "image0": batch.image0[i, 0].numpy(),
                        "image1": batch.image1[i, 0].numpy(),
                        "homography": batch.homography[i].double().numpy(),
                    }
                )
    return pairs


def torch_matcher(checkpoint: str, device: str) -> Matcher:
    """The fused fp32 export module at 480×640 (default match budget)."""
    module = build_export_module(checkpoint, height=HEIGHT, width=WIDTH).to(device)

    @torch.no_grad()
    def match(image0: np.ndarray, image1: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        inputs = [torch.from_numpy(image)[None, None].to(device) for image in (image0, image1)]
        return _valid_points(module(*inputs))

    return match


def fast_matcher(checkpoint: str) -> Matcher:
    """The torch fast path, fp16 with CUDA graphs, of the export module at 480×640."""
    from ma_trt_convert.fast import build_fast_runner

    module = build_export_module(checkpoint, height=HEIGHT, width=WIDTH).cuda()
    runner = build_fast_runner(module, device="cuda", precision="fp16")

    def match(image0: np.ndarray, image1: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        inputs = [torch.from_numpy(image)[None, None].cuda() for image in (image0, image1)]
        return _valid_points(runner(*inputs))

    return match


def _valid_points(outputs: tuple[torch.Tensor, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Continuous-pixel points ``[P, 2]`` of the valid rows of export-module outputs (batch 1)."""
    keypoints0, keypoints1, _confidence, valid = outputs[:4]
    keep = valid[0]
    return tuple((k[0][keep].double().cpu().numpy() + UPSTREAM_OFFSET_PX) for k in (keypoints0, keypoints1))


def export_onnx(checkpoint: str, path: Path, precision: str, device: str, size_range: str | None = None) -> None:
    """``ma-trt-convert export`` of the checkpoint at 480×640 (optionally with a dynamic size range)."""
    arguments = ["export", "--variant", "eloftr", "--checkpoint", checkpoint, "--output", str(path)]
    arguments += ["--height", str(HEIGHT), "--width", str(WIDTH), "--precision", precision, "--device", device]
    if size_range:
        arguments += ["--size-range", size_range]
    subprocess.run([*CONVERT, *arguments], check=True, stdout=subprocess.DEVNULL)


def runtime_matcher(onnx: Path, size: tuple[int, int] | None = None) -> Matcher:
    """The product runtime on ONNX Runtime; with ``size`` the pair is resized to it first (dynamic graphs)."""
    from ma_trt_ros.runtime.loading import open_matcher

    matcher = open_matcher(onnx, backend="onnxruntime")

    def match(image0: np.ndarray, image1: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if size is not None:
            image0, image1 = (
                cv2.resize(im, (size[1], size[0]), interpolation=cv2.INTER_AREA) for im in (image0, image1)
            )
        result = matcher.match(image0, image1)
        return result.points0.astype(np.float64), result.points1.astype(np.float64)

    return match


def sift_matcher() -> Matcher:
    """OpenCV SIFT on 8-bit images, brute-force L2 two nearest neighbours, Lowe ratio :data:`RATIO`."""
    sift = cv2.SIFT_create()
    matcher = cv2.BFMatcher(cv2.NORM_L2)

    def match(image0: np.ndarray, image1: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        found = [
            sift.detectAndCompute(np.clip(np.rint(im * 255), 0, 255).astype(np.uint8), None) for im in (image0, image1)
        ]
        (kp0, d0), (kp1, d1) = found
        if d0 is None or d1 is None or len(kp1) < 2:
            return np.zeros((0, 2)), np.zeros((0, 2))
        good = [m for m, n in matcher.knnMatch(d0, d1, k=2) if m.distance < RATIO * n.distance]
        # OpenCV keypoints put pixel centres at integers: + 0.5 for continuous pixels
        points0 = np.array([kp0[m.queryIdx].pt for m in good], dtype=np.float64).reshape(-1, 2) + 0.5
        points1 = np.array([kp1[m.trainIdx].pt for m in good], dtype=np.float64).reshape(-1, 2) + 0.5
        return points0, points1

    return match


def evaluate(match: Matcher, pairs: list[Pair], label: str, size: tuple[int, int] | None = None) -> dict:
    """Per-protocol :func:`aggregate` of ``match`` on ``pairs``; points are rescaled from ``size`` to 480×640."""
    scale = np.array([WIDTH / size[1], HEIGHT / size[0]]) if size else np.ones(2)
    per_pair, started = [], time.monotonic()
    for pair in tqdm(pairs, desc=label, unit="pair", leave=False):
        points0, points1 = match(pair["image0"], pair["image1"])
        summary = pair_summary(pair["homography"], points0 * scale, points1 * scale, HEIGHT, WIDTH)
        per_pair.append({"name": pair["name"], "protocol": pair["protocol"], **summary})
    result = {protocol: aggregate([p for p in per_pair if p["protocol"] == protocol]) for protocol in PROTOCOLS}
    return {**result, "seconds": round(time.monotonic() - started, 1), "pairs": per_pair}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", required=True, help="release-format ELoFTR weights")
    parser.add_argument("--photos", required=True, help="photograph archive (python -m ma_trt_convert.training photos)")
    parser.add_argument("--out", required=True, help="results JSON (rewritten after each matcher)")
    parser.add_argument("--device", default="cpu", help="torch device of the PyTorch matchers and exports")
    parser.add_argument("--pairs-per-photo", type=int, default=6, help="pairs per photograph and protocol")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--commit", default="unknown", help="git commit recorded in the results")
    parser.add_argument(
        "--matchers",
        default="torch_fp32,sift,onnx_fp32,onnx_fp16,dynamic,fast_fp16",
        help="comma-separated subset of torch_fp32, onnx_fp32, onnx_fp16, dynamic, fast_fp16 (CUDA), sift",
    )
    args = parser.parse_args(argv)
    pairs = held_out_pairs(Path(args.photos), args.pairs_per_photo, args.seed)
    report = {
        "date_utc": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "commit": args.commit,
        "device": torch.cuda.get_device_name() if args.device == "cuda" else platform.processor() or "cpu",
        "torch": torch.__version__,
        "checkpoint": args.checkpoint,
        "photos": list(HELD_OUT),
        "size": [HEIGHT, WIDTH],
        "pairs_per_photo_and_protocol": args.pairs_per_photo,
        "seed": args.seed,
        "protocols": {name: {"warp": vars(warp), "cross_modal": cm} for name, (warp, cm) in PROTOCOLS.items()},
        "matchers": {},
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)

    def record(name: str, result: dict) -> None:
        report["matchers"][name] = result
        out.write_text(json.dumps(report, indent=1) + "\n")
        print(name, json.dumps({k: v for k, v in result.items() if k != "pairs"}), flush=True)

    wanted = args.matchers.split(",")
    with tempfile.TemporaryDirectory() as tmp:
        for name in wanted:
            if name == "torch_fp32":
                record(name, evaluate(torch_matcher(args.checkpoint, args.device), pairs, name))
            elif name == "sift":
                record(name, evaluate(sift_matcher(), pairs, name))
            elif name in ("onnx_fp32", "onnx_fp16"):
                path = Path(tmp) / f"{name}.onnx"
                export_onnx(args.checkpoint, path, name.split("_")[1], args.device)
                record(name, evaluate(runtime_matcher(path), pairs, name))
            elif name == "dynamic":
                path = Path(tmp) / "dynamic.onnx"
                export_onnx(args.checkpoint, path, "fp32", args.device, DYNAMIC_RANGE)
                for size in DYNAMIC_SIZES:
                    label = f"dynamic_fp32_{size[0]}x{size[1]}"
                    record(label, evaluate(runtime_matcher(path, size), pairs, label, size))
            elif name == "fast_fp16" and args.device == "cuda":
                record(name, evaluate(fast_matcher(args.checkpoint), pairs, name))
    return 0


if __name__ == "__main__":
    sys.exit(main())
