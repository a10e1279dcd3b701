"""Deviation of the fp16 MatchAnything-ELoFTR export module from the fp32 one.

Builds both modules with :func:`ma_trt_convert.eloftr.build_export_module` from ``--checkpoint`` (the
trained weights in ``weights/``, say) or, without it, from one synthetic release-layout checkpoint
(seeded random weights rescaled by :func:`ma_trt_convert.synthetic.eloftr_weights.matching_state` so
that textured pairs give hundreds of matches), runs them on shifted textured pairs and writes JSON with:

* match-set agreement: sizes of the fp32 / fp16 valid ``(cell0, cell1)`` sets, their intersection
  and Jaccard index (rows paired by :func:`ma_trt_convert.verify.compare.match_rows`, as ``verify`` does);
* on pairs valid in both: coordinate error ``|kp_fp16 − kp_fp32|`` (Euclidean, px, image 0 and
  image 1 separately; median / p99 / max) and confidence error (median / p99 / max);
* median forward time of each module (ms, after warm-up; CUDA-synchronised on GPU).

Run on the GPU (CUDA, Python 3.12, torch 2.11):
    python bench/eloftr_fp16_deviation.py --out results.json
Smoke test on CPU (slow: float16 convolutions are emulated):
    python bench/eloftr_fp16_deviation.py --device cpu --height 96 --width 128 --pairs 1 --out /tmp/r.json
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "converter"))

from ma_trt_convert.eloftr import ELoFTRExportModule, MatchResult, build_export_module
from ma_trt_convert.synthetic.eloftr_weights import matching_state
from ma_trt_convert.synthetic.pairs import textured_pair
from ma_trt_convert.verify.compare import match_rows
from ma_trt_convert.weights.checkpoint import load_layout, random_state_dict, write_release_file

SHIFTS = ((3, -3), (-5, 2), (0, 6), (7, 7))


def _summary(values: torch.Tensor) -> dict[str, float | None]:
    """median / p99 / max of a 1-D float tensor (None when empty)."""
    if values.numel() == 0:
        return {"median": None, "p99": None, "max": None}
    values = values.double().cpu()
    return {
        "median": float(values.median()),
        "p99": float(torch.quantile(values, 0.99)),
        "max": float(values.max()),
    }


def _identities(result: MatchResult) -> tuple[np.ndarray, np.ndarray]:
    """``(cells, valid)`` of a result as :func:`match_rows` takes them: int64 ``[N, R, 2]``, bool ``[N, R]``."""
    return torch.stack([result.cell0, result.cell1], dim=-1).cpu().numpy(), result.valid.cpu().numpy()


def _time_ms(module: ELoFTRExportModule, inputs: tuple[torch.Tensor, torch.Tensor], repeats: int) -> float:
    """Median wall time of one forward in ms."""
    device = inputs[0].device
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        module(*inputs)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


@torch.no_grad()
def measure(args: argparse.Namespace) -> dict:
    """Run both precisions on ``args.pairs`` shifted textured pairs; returns the JSON-ready report."""
    device = torch.device(args.device)
    size = {"height": args.height, "width": args.width, "threshold": args.threshold}
    if args.checkpoint:
        fp32 = build_export_module(args.checkpoint, precision="fp32", **size).to(device)
        fp16 = build_export_module(args.checkpoint, precision="fp16", **size).to(device)
    else:
        layout = load_layout("matchanything_eloftr")
        state = matching_state(random_state_dict(layout, args.seed), *textured_pair(args.height, args.width))
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "matchanything_eloftr.ckpt"
            write_release_file(state, layout, path)
            fp32 = build_export_module(path, precision="fp32", **size).to(device)
            fp16 = build_export_module(path, precision="fp16", **size).to(device)
    err0, err1, err_conf = [], [], []
    sets = {"fp32": 0, "fp16": 0, "both": 0, "union": 0}
    per_pair = []
    for shift in SHIFTS[: args.pairs]:
        image0, image1 = (t.to(device) for t in textured_pair(args.height, args.width, shift))
        a, b = fp32.match(image0, image1), fp16.match(image0, image1)
        rows_a, rows_b, agreement = match_rows(_identities(a), _identities(b))
        ia, ib = (torch.from_numpy(rows).to(device) for rows in (rows_a, rows_b))
        err0.append((b.keypoints0.flatten(0, 1)[ib] - a.keypoints0.flatten(0, 1)[ia]).norm(dim=-1))
        err1.append((b.keypoints1.flatten(0, 1)[ib] - a.keypoints1.flatten(0, 1)[ia]).norm(dim=-1))
        err_conf.append((b.confidence.flatten()[ib] - a.confidence.flatten()[ia]).abs())
        both = agreement.both
        counts = {
            "fp32": both + agreement.only_reference,
            "fp16": both + agreement.only_candidate,
            "both": both,
            "union": both + agreement.only_reference + agreement.only_candidate,
        }
        per_pair.append({"shift": list(shift), **counts})
        for key, value in counts.items():
            sets[key] += value
    inputs = fp32.example_inputs()
    inputs = (inputs[0].to(device), inputs[1].to(device))
    for module in (fp32, fp16):
        _time_ms(module, inputs, args.warmup)
    return {
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu",
        "torch": torch.__version__,
        "python": platform.python_version(),
        "height": args.height,
        "width": args.width,
        "threshold": args.threshold,
        "top_k": fp32.top_k,
        "max_matches": fp32.max_matches,
        "seed": args.seed,
        "weights": args.checkpoint or f"synthetic (seed {args.seed}, rescaled)",
        "pairs": per_pair,
        "match_sets": {**sets, "jaccard": sets["both"] / sets["union"] if sets["union"] else None},
        "keypoints0_error_px": _summary(torch.cat(err0)),
        "keypoints1_error_px": _summary(torch.cat(err1)),
        "confidence_error": _summary(torch.cat(err_conf)),
        "forward_ms": {"fp32": _time_ms(fp32, inputs, args.repeats), "fp16": _time_ms(fp16, inputs, args.repeats)},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="path of the JSON report to write")
    parser.add_argument("--device", default="cuda", help="torch device (default cuda; cpu for a smoke test)")
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--threshold", type=float, default=0.1)
    parser.add_argument("--pairs", type=int, default=len(SHIFTS), choices=range(1, len(SHIFTS) + 1))
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic weights")
    parser.add_argument(
        "--checkpoint", help="ELoFTR weights (e.g. weights/matchanything_eloftr_trained.ckpt) instead of synthetic ones"
    )
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args(argv)
    report = measure(args)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
