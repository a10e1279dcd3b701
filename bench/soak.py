"""Soak of the runtime: thousands of pairs through one matcher, watching memory and latency drift.

No ROS: it drives ``ma_trt_ros.runtime.open_matcher`` in a loop the way the node's inference thread
does (one thread, one pair at a time), on seeded random ELoFTR weights in the release layout written by
``ma-trt-convert random-checkpoint`` (meaningless matches; the point is the pipeline's behaviour).
Backends: ``torch`` (the ported model; CUDA when available) or ``onnxruntime`` (exports the weights
to ONNX first, CPU). Images change every pair (a ring of distinct random pairs, two sizes, so the
pre-processing resizes both ways).

Reports JSON (stdout and ``--out``): pairs, seconds, latency per tenth of the run (mean, median, p90),
latency drift (median of the last tenth against the first, after warm-up), resident memory and,
on CUDA, PyTorch's allocated / reserved and the device's used memory at warm-up end and at the
end, with growth. Stops at ``--pairs`` or ``--max-seconds``, whichever comes first.

    python bench/soak.py --out bench/results/soak_h200.json                     # GPU, ≤ 3 min
    python bench/soak.py --backend onnxruntime --size 64x64 --pairs 2000        # CPU figure
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "converter")]

from ma_trt_convert.weights.checkpoint import load_layout, random_state_dict, write_release_file  # noqa: E402
from ma_trt_ros.runtime import BackendSettings, open_matcher  # noqa: E402

RING = 16  # distinct image pairs cycled through


def rss_bytes() -> int:
    """This process's resident set size (``VmRSS``), bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def gpu_memory() -> dict[str, int] | None:
    """PyTorch's allocated and reserved bytes and the device's used bytes, or None without CUDA."""
    try:
        import torch
    except ImportError:
        return None
    if not torch.cuda.is_available():
        return None
    free, total = torch.cuda.mem_get_info()
    return {
        "allocated": int(torch.cuda.memory_allocated()),
        "reserved": int(torch.cuda.memory_reserved()),
        "device_used": int(total - free),
    }


def open_soak_matcher(args: argparse.Namespace, folder: Path) -> Any:
    """Random release-layout ELoFTR weights (what ``random-checkpoint --seed 0`` writes), exported when the
    backend needs ONNX, opened as a matcher."""
    height, width = args.size
    checkpoint = folder / "matchanything_eloftr.ckpt"
    layout = load_layout("matchanything_eloftr")
    write_release_file(random_state_dict(layout, 0), layout, checkpoint)
    if args.backend == "onnxruntime":
        from ma_trt_convert.cli import main as convert

        onnx = folder / "eloftr.onnx"
        export = ["export", "--variant", "eloftr", "--checkpoint", str(checkpoint), "--output", str(onnx)]
        assert convert([*export, "--height", str(height), "--width", str(width), "--precision", "fp32"]) == 0
        return open_matcher(onnx, "onnxruntime")
    settings = BackendSettings(
        device=args.device, precision=args.precision, build_args={"height": height, "width": width}
    )
    return open_matcher(checkpoint, "torch", settings=settings)


def image_ring(size: tuple[int, int]) -> list[tuple[np.ndarray, np.ndarray]]:
    """RING distinct random grayscale pairs: image 0 at ``size``, image 1 a quarter larger."""
    rng = np.random.default_rng(0)
    height, width = size
    return [
        (rng.random((height, width), np.float32), rng.random((height * 5 // 4, width * 5 // 4), np.float32))
        for _ in range(RING)
    ]


def tenths(latencies_ms: list[float]) -> list[dict[str, float]]:
    """Mean, median and p90 of each tenth of ``latencies_ms``."""
    size = max(1, len(latencies_ms) // 10)
    chunks = [latencies_ms[start : start + size] for start in range(0, size * 10, size)]
    return [
        {
            "mean": statistics.fmean(c),
            "median": statistics.median(c),
            "p90": sorted(c)[int(0.9 * (len(c) - 1))],
        }
        for c in chunks
        if c
    ]


def growth(start: float, end: float) -> float:
    """Relative growth from ``start`` to ``end`` (0.01 = +1 %)."""
    return (end - start) / start if start else 0.0


def soak(args: argparse.Namespace) -> dict[str, Any]:
    """Run the loop; the report as a dict."""
    with tempfile.TemporaryDirectory(prefix="soak.") as tmp:
        matcher = open_soak_matcher(args, Path(tmp))
        ring = image_ring(args.image_size)
        for index in range(args.warmup):
            matcher.match(*ring[index % RING])
        start_rss, start_gpu = rss_bytes(), gpu_memory()
        latencies: list[float] = []
        samples: list[dict[str, Any]] = []
        started = time.perf_counter()
        while len(latencies) < args.pairs and time.perf_counter() - started < args.max_seconds:
            begin = time.perf_counter()
            result = matcher.match(*ring[len(latencies) % RING])
            latencies.append((time.perf_counter() - begin) * 1e3)
            if len(latencies) % args.sample_every == 0:
                samples.append({"pairs": len(latencies), "rss": rss_bytes(), "gpu": gpu_memory()})
        elapsed = time.perf_counter() - started
        end_rss, end_gpu = rss_bytes(), gpu_memory()
        backend, variant, matches = matcher.backend_name, matcher.variant, len(result.points0)
        matcher.close()
    parts = tenths(latencies)
    report: dict[str, Any] = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": {"host": platform.node(), "cpu": platform.processor(), "python": platform.python_version()},
        "backend": backend,
        "variant": variant,
        "device": args.device or ("cuda" if start_gpu else "cpu"),
        "network_size": list(args.size),
        "image_size": list(args.image_size),
        "warmup_pairs": args.warmup,
        "pairs": len(latencies),
        "seconds": elapsed,
        "pairs_per_s": len(latencies) / elapsed,
        "matches_last_pair": matches,
        "latency_ms_by_tenth": parts,
        "latency_drift": growth(parts[0]["median"], parts[-1]["median"]),
        "rss_bytes": {"after_warmup": start_rss, "end": end_rss, "growth": growth(start_rss, end_rss)},
        "samples": samples,
    }
    if start_gpu and end_gpu:
        report["gpu_memory_bytes"] = {
            key: {"after_warmup": start_gpu[key], "end": end_gpu[key], "growth": growth(start_gpu[key], end_gpu[key])}
            for key in start_gpu
        }
        import torch

        report["machine"]["gpu"] = torch.cuda.get_device_name()
    return report


def parse_size(text: str) -> tuple[int, int]:
    """``HxW`` as (height, width)."""
    height, width = (int(v) for v in text.lower().split("x"))
    return height, width


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=["torch", "onnxruntime"], default="torch")
    parser.add_argument("--device", default=None, help="torch: cuda (default when available) or cpu")
    parser.add_argument("--precision", choices=["fp32", "fp16"], default="fp32", help="torch backend")
    parser.add_argument(
        "--size", type=parse_size, default=(224, 320), help="network HxW, multiples of 32 (default 224x320)"
    )
    parser.add_argument("--image-size", type=parse_size, default=(480, 640), help="image 0 HxW (default 480x640)")
    parser.add_argument("--pairs", type=int, default=10_000)
    parser.add_argument("--max-seconds", type=float, default=150.0, help="stop earlier after this long")
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--sample-every", type=int, default=500, help="memory sample period, pairs")
    parser.add_argument("--out", type=Path, help="also write the JSON here")
    args = parser.parse_args(argv)
    report = soak(args)
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    first, last = report["latency_ms_by_tenth"][0]["median"], report["latency_ms_by_tenth"][-1]["median"]
    summary = (
        f"{report['pairs']} pairs in {report['seconds']:.0f} s; latency median first tenth {first:.1f} ms, "
        f"last {last:.1f} ms ({report['latency_drift']:+.1%}); RSS {report['rss_bytes']['growth']:+.2%}"
    )
    print(summary, file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
