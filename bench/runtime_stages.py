"""Where a pair's time goes in the runtime: pre-processing, the backend's upload / execute / download,
post-processing (pixels, RoMa's sparse draw), end to end, for both variants at full size.

Backend: torch on CUDA (the ported model, eager) — the stand-in for an engine on machines without
TensorRT; the pre/post-processing numbers are the runtime's own and hold for any backend.
Synthetic release-layout weights (seeded random): ELoFTR finds few matches with them, so its
post-processing is a lower bound. Writes JSON with medians / p90 over ``--runs`` after warm-up.

    python bench/runtime_stages.py --out bench/results/runtime_stages_h200.json
    python bench/runtime_stages.py --variants eloftr_dynamic --camera-sizes 480x640 720x1280 240x320 --out ...

``eloftr_dynamic`` is ELoFTR built with a size range (224²…896²): each camera size runs at the network
size the runtime picks for it (``SizeRange.fit``), so one model serves every size (with ``--cuda-graph``
one CUDA graph per size, captured on its first call).
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "converter")]

from bench_timing import percentiles  # noqa: E402

from ma_trt_convert.variants import variant_spec  # noqa: E402
from ma_trt_convert.weights.checkpoint import load_layout, random_state_dict, write_release_file  # noqa: E402
from ma_trt_ros.contract.sizes import parse_size  # noqa: E402
from ma_trt_ros.runtime import BackendSettings, MatchOptions, open_matcher  # noqa: E402

CASES = {
    "eloftr": {"variant": "eloftr", "build_args": {"height": 480, "width": 640}, "precision": "fp32"},
    "eloftr_dynamic": {
        "variant": "eloftr",
        "build_args": {"height": 480, "width": 640, "size_range": "224x224:896x896"},
        "precision": "fp32",
    },
    "roma": {"variant": "roma", "build_args": {"coarse_res": 560, "upsample_res": 864}, "precision": "fp16"},
}


def _weights(variant: str, folder: Path) -> list[Path]:
    """Seeded random files in the release layout of ``variant`` (RoMa: checkpoint, then DINOv2)."""
    paths = []
    for release in variant_spec(variant).release_files:
        layout = load_layout(release.layout)
        path = folder / layout.file_name
        write_release_file(random_state_dict(layout, release.seed_offset), layout, path)
        paths.append(path)
    return paths


def measure(
    name: str,
    runs: int,
    warmup: int,
    folder: Path,
    cuda_graph: bool,
    precision: str | None,
    camera: tuple[int, int] = (480, 640),
) -> dict[str, object]:
    case = {**CASES[name], **({"precision": precision} if precision else {})}
    checkpoint, *rest = _weights(case["variant"], folder)
    dinov2 = rest[0] if rest else None
    settings = BackendSettings(
        device="cuda",
        cuda_graph=cuda_graph,
        dinov2=dinov2 and str(dinov2),
        precision=case["precision"],
        build_args=case["build_args"],
    )
    start = time.perf_counter()
    matcher = open_matcher(checkpoint, "torch", MatchOptions(), settings)
    open_s = time.perf_counter() - start
    rng = np.random.default_rng(0)
    image0 = rng.random((*camera, 3), dtype=np.float32)
    image1 = np.roll(image0, (5, -7), axis=(0, 1))
    stages: dict[str, list[float]] = {}
    for index in range(warmup + runs):
        start = time.perf_counter()
        result = matcher.match(image0, image1)
        total = (time.perf_counter() - start) * 1e3
        if index >= warmup:
            for name, value in {**result.timing_ms, "end_to_end": total}.items():
                stages.setdefault(name, []).append(value)
    summary = {stage: percentiles(values) for stage, values in stages.items()}
    network = next(iter(matcher.input_specs(camera, camera).values())).shape
    matcher.close()
    return {
        "case": name,
        "variant": case["variant"],
        "precision": case["precision"],
        "cuda_graph": cuda_graph,
        "build_args": case["build_args"],
        "image_size": [camera[1], camera[0]],
        "network_input_shape": list(network),
        "open_s": open_s,
        "matches": result.count,
        "stages_ms": summary,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True)
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--variants", nargs="+", default=list(CASES))
    parser.add_argument("--commit", help="git commit measured (default: asked from git)")
    parser.add_argument("--cuda-graph", action="store_true", help="the torch backend's fast path (CUDA graph)")
    parser.add_argument("--precision", choices=("fp16", "fp32"), help="both variants at this precision")
    parser.add_argument(
        "--camera-sizes", nargs="+", type=parse_size, default=[(480, 640)], help="camera image sizes HxW to measure"
    )
    args = parser.parse_args()
    import torch

    commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=ROOT).stdout.strip()
    report = {
        "device": torch.cuda.get_device_name(0),
        "date": time.strftime("%Y-%m-%d"),
        "commit": args.commit or commit or "unknown",
        "torch": torch.__version__,
        "cpu": platform.processor() or platform.machine(),
        "runs": args.runs,
        "results": [],
    }
    with tempfile.TemporaryDirectory() as folder:
        for name in args.variants:
            for camera in args.camera_sizes:
                row = measure(name, args.runs, args.warmup, Path(folder), args.cuda_graph, args.precision, camera)
                report["results"].append(row)
                stages = json.dumps({k: round(v["median"], 2) for k, v in row["stages_ms"].items()})
                print(name, camera, row["network_input_shape"], stages, flush=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
