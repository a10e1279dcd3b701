"""End to end through the runtime against the model alone, and GPU memory at open, per variant and precision.

The torch backend's fast path (CUDA graph) on seeded synthetic release-layout weights, 640×480 RGB
float32 camera pairs (what the node hands the matcher), one pair per call as the node runs them:

* ``end_to_end``: ``Matcher.match`` wall time (pre-processing, upload, graph replay, download,
  post-processing); its stages are the matcher's ``timing_ms``;
* ``execute``: the backend's graph replay with its inputs already on the device (host clock around
  replay + synchronise): the model, and for RoMa the sparse draw the graph now holds;
* ``draw``: RoMa's draw alone (:class:`~ma_trt_convert.roma.sampling.SparseSampling`, eager, CUDA
  events) on dense outputs of the model's size, so that model = execute − draw;
* memory (fp16 and fp32): PyTorch's peak allocated / reserved bytes from before the open to after it, and after the
  timed pairs, and the device's used memory (all processes) after the open.

    python bench/end_to_end.py --out end_to_end.json                 # DEFAULT_CASES
    python bench/end_to_end.py --cases roma_camera_fp16 --runs 50 --out x.json
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "converter")]

from bench_timing import percentiles, run_facts, time_cuda  # noqa: E402

from ma_trt_convert.roma.sampling import SparseSampling  # noqa: E402
from ma_trt_convert.variants import variant_spec  # noqa: E402
from ma_trt_convert.weights.checkpoint import load_layout, random_state_dict, write_release_file  # noqa: E402
from ma_trt_ros.runtime import BackendSettings, MatchOptions, open_matcher  # noqa: E402
from ma_trt_ros.runtime.sampling import noise_length, sampler_noise  # noqa: E402

CAMERA = (480, 640)  # height, width
ROMA = {"coarse_res": 560, "upsample_res": 864}
ROMA_CAMERA = {**ROMA, "camera_sizes": "240x320:1080x1920"}
ELOFTR = {"height": 480, "width": 640}
# name -> (variant, precision, build args, torch.compile mode)
CASES = {
    "roma_camera_fp16": ("roma", "fp16", ROMA_CAMERA, None),
    "roma_camera_fp32": ("roma", "fp32", ROMA_CAMERA, None),
    "eloftr_fp16_compiled": ("eloftr", "fp16", ELOFTR, "default"),
    "eloftr_fp32": ("eloftr", "fp32", ELOFTR, None),
    "roma_fixed_fp16": ("roma", "fp16", ROMA, None),
    "eloftr_fp16": ("eloftr", "fp16", ELOFTR, None),
}
DEFAULT_CASES = ("roma_camera_fp16", "eloftr_fp16_compiled", "roma_camera_fp32", "eloftr_fp32")
FP32_RUNS = 10  # the fp32 cases are there for their memory
GIB = 2**30


def synthetic_weights(variant: str, folder: Path) -> list[Path]:
    """Seeded random files in the release layout of ``variant`` (RoMa: checkpoint, then DINOv2), written once."""
    paths = []
    for release in variant_spec(variant).release_files:
        layout = load_layout(release.layout)
        path = folder / layout.file_name
        if not path.exists():
            write_release_file(random_state_dict(layout, release.seed_offset), layout, path)
        paths.append(path)
    return paths


def camera_pair() -> tuple[np.ndarray, np.ndarray]:
    """A 640×480 RGB float32 pair in [0, 1], the second a shifted copy of the first."""
    image0 = np.random.default_rng(0).random((*CAMERA, 3), dtype=np.float32)
    return image0, np.roll(image0, (5, -7), axis=(0, 1))


def draw_time(side: int, num: int) -> dict[str, float]:
    """CUDA-event ms of the eager device draw of ``num`` matches from ``side``² dense fields (both directions)."""
    rng = np.random.default_rng(1)
    device = torch.device("cuda")
    dense = [
        torch.from_numpy(rng.uniform(-1, 1, (1, side, side, 2)).astype(np.float32)).to(device),
        torch.from_numpy(rng.random((1, side, side), dtype=np.float32)).to(device),
    ]
    noise = torch.from_numpy(sampler_noise(0, noise_length(2 * side * side, num))[None].copy()).to(device)
    extra = (noise, torch.tensor([0.05], device=device), torch.tensor([[640.0, 480.0, 640.0, 480.0]], device=device))
    sampling = SparseSampling().to(device)
    with torch.no_grad():
        return time_cuda(lambda: sampling(*dense, *dense, *extra), warmup=5, repeats=50)


def measure(name: str, folder: Path, runs: int, warmup: int, compile_cache: str | None) -> dict[str, object]:
    variant, precision, build_args, compile_mode = CASES[name]
    runs = runs if precision == "fp16" else min(runs, FP32_RUNS)
    checkpoint, *rest = synthetic_weights(variant, folder)
    settings = BackendSettings(
        device="cuda",
        cuda_graph=True,
        dinov2=str(rest[0]) if rest else None,
        precision=precision,
        compile=compile_mode,
        compile_cache_dir=compile_cache,
        build_args=build_args,
    )
    gc.collect()
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    matcher = open_matcher(checkpoint, "torch", MatchOptions(), settings)
    open_s = time.perf_counter() - start
    free, total = torch.cuda.mem_get_info()
    memory = {
        "open_peak_allocated_gib": torch.cuda.max_memory_allocated() / GIB,
        "open_peak_reserved_gib": torch.cuda.max_memory_reserved() / GIB,
        "after_open_device_used_gib": (total - free) / GIB,
    }
    image0, image1 = camera_pair()
    stages: dict[str, list[float]] = {}
    for index in range(warmup + runs):
        start = time.perf_counter()
        result = matcher.match(image0, image1)
        total_ms = (time.perf_counter() - start) * 1e3
        if index >= warmup:
            for stage, value in {**result.timing_ms, "end_to_end": total_ms}.items():
                stages.setdefault(stage, []).append(value)
    memory["run_peak_allocated_gib"] = torch.cuda.max_memory_allocated() / GIB
    memory["run_peak_reserved_gib"] = torch.cuda.max_memory_reserved() / GIB
    matcher.close()
    summary = {stage: percentiles(values) for stage, values in stages.items()}
    row: dict[str, object] = {
        "case": name,
        "variant": variant,
        "precision": precision,
        "compile": compile_mode,
        "build_args": build_args,
        "image_size_wh": [CAMERA[1], CAMERA[0]],
        "open_s": open_s,
        "matches": result.count,
        "memory": memory,
        "stages_ms": summary,
    }
    if result.dense is not None:
        row["draw_ms"] = draw_time(result.dense.certainty.shape[0], MatchOptions().num_matches)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True)
    parser.add_argument("--cases", nargs="+", default=list(DEFAULT_CASES), choices=list(CASES))
    parser.add_argument("--runs", type=int, default=100, help=f"timed pairs per case (fp32: at most {FP32_RUNS})")
    parser.add_argument("--weights", help="folder for the synthetic weights, kept (default: a temporary one)")
    parser.add_argument("--compile-cache", help="compile_cache_dir of the compiled cases")
    parser.add_argument("--warmup", type=int, default=10)
    args = parser.parse_args()
    report = {**run_facts(), "runs": args.runs, "results": []}
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(args.weights or temporary)
        folder.mkdir(parents=True, exist_ok=True)
        for name in args.cases:
            try:
                row = measure(name, folder, args.runs, args.warmup, args.compile_cache)
            except Exception as error:  # one case failing must not lose the others
                row = {"case": name, "error": f"{type(error).__name__}: {error}"}
            report["results"].append(row)
            Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
            short = {k: round(v["median"], 2) for k, v in row.get("stages_ms", {}).items()}
            brief = {"stages": short, "memory": row.get("memory"), "error": row.get("error")}
            print(name, json.dumps(brief), flush=True)


if __name__ == "__main__":
    main()
