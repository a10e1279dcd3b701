"""RoMa's stretch to 560² / 864²: on the CPU before the engine (today) or inside the graph (issue 13).

Sections (each writes its part of one JSON report):

* ``accuracy`` (CPU): the runtime's OpenCV bicubic (``RomaIO.prepare``) and the in-graph ONNX
  ``Resize`` run by ONNX Runtime (:class:`RomaCameraInput`, uint8 input) against upstream's resize,
  PyTorch ``F.interpolate(bicubic, align_corners=False)`` on the float32 image, and against the same
  in float64 (the exact function); two contents: ``texture`` (smooth seeded texture, camera-like)
  and ``noise`` (uniform random bytes, the worst case for an interpolator).
* ``end_to_end`` (CPU): a small RoMa export (seeded synthetic weights, coarse 56 / upsample 64, fp32,
  ONNX Runtime) fed the OpenCV-resized tensors and fed the in-graph resize's tensors; warp and
  certainty differences against the same export fed upstream's resize.
* ``gate`` (CPU): TensorRT-RTX parses and builds the in-graph resize (560/864) for each input layout
  with one optimisation profile of camera sizes.
* ``latency`` (CUDA GPU): per pair, today's path (``RomaIO.prepare`` on the CPU + pinned host→device
  copies of the four float32 tensors) against uploading the two camera images (uint8 or float32)
  and resizing on the GPU (PyTorch's bicubic, the stand-in for TensorRT's resize layer, which
  cannot be installed here); median of ``--runs`` after ``--warmup``, each path measured twice.
  Also the GPU resize's difference from upstream's CPU resize.

    python bench/roma_resize.py --sections accuracy end_to_end gate --out bench/results/roma_resize_cpu.json
    python bench/roma_resize.py --sections latency --out bench/results/roma_resize_h200.json
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "converter"), str(ROOT / "test")]

from ma_trt_convert.roma.camera_input import (  # noqa: E402
    LAYOUTS,
    RomaCameraInput,
    export_camera_input,
    stretch_bicubic,
)
from ma_trt_convert.synthetic.pairs import textured_pair  # noqa: E402
from ma_trt_ros.contract.roma import ROMA  # noqa: E402
from ma_trt_ros.contract.tensors import TensorSpec  # noqa: E402
from ma_trt_ros.runtime.images import as_float_image  # noqa: E402
from ma_trt_ros.runtime.options import MatchOptions  # noqa: E402
from ma_trt_ros.runtime.variants.roma import RomaIO  # noqa: E402

SIZES = ((480, 640), (720, 1280), (1080, 1920), (240, 320), (479, 641))  # (height, width)
LATENCY_SIZES = ((480, 640), (720, 1280), (1080, 1920))
FULL = (560, 864)
SMALL = (56, 64)
PROFILE = ((32, 32), (480, 640), (2160, 3840))  # min, opt, max camera (height, width)


def camera_image(height: int, width: int, content: str, seed: int = 1) -> np.ndarray:
    """uint8 ``[H, W, 3]`` RGB: ``texture`` (three smooth channels) or ``noise`` (uniform bytes)."""
    if content == "noise":
        return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    channels = [textured_pair(height, width, seed=seed + c)[0][0, 0] for c in range(3)]
    return (torch.stack(channels, dim=2).numpy() * 255).round().astype(np.uint8)


def shifted_pair(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """uint8 ``[H, W, 3]`` texture pair, image 1 = image 0 moved by (3, -3) pixels."""
    pairs = [textured_pair(height, width, seed=1 + c) for c in range(3)]
    return tuple((torch.stack([p[i][0, 0] for p in pairs], 2).numpy() * 255).round().astype(np.uint8) for i in (0, 1))


def roma_specs(coarse: int, upsample: int) -> dict[str, TensorSpec]:
    """The engine's four input specs (float32 NCHW squares), as a sidecar gives them to ``RomaIO``."""
    sides = (coarse, coarse, upsample, upsample)
    return {n: TensorSpec(n, (1, 3, s, s), "float32", "") for n, s in zip(ROMA.input_names, sides, strict=True)}


def upstream_resize(images: tuple[np.ndarray, ...], sides: tuple[int, int], dtype: torch.dtype) -> list[np.ndarray]:
    """Upstream's stretch (torch bicubic on the float image, CPU) in ``dtype``, in ``RomaIO``'s output order."""
    floats = [torch.from_numpy(as_float_image(i, "image")).permute(2, 0, 1)[None].to(dtype) for i in images]
    return [stretch_bicubic(f, side).numpy() for side in sides for f in floats]


def session(path: Path) -> object:
    import onnxruntime as ort

    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def difference(value: np.ndarray, reference: np.ndarray) -> dict[str, float]:
    """max / mean absolute difference (float64)."""
    delta = np.abs(value.astype(np.float64) - reference.astype(np.float64))
    return {"max": float(delta.max()), "mean": float(delta.mean())}


def accuracy(folder: Path) -> list[dict[str, object]]:
    """Per content, camera size and target side: OpenCV and ONNX Runtime against torch fp32 and fp64."""
    graph = session(export_camera_input(RomaCameraInput(*FULL, "uint8_nhwc"), folder / "camera_input.onnx"))
    rows = []
    for content in ("texture", "noise"):
        for height, width in SIZES:
            images = (camera_image(height, width, content), camera_image(height, width, content, seed=7))
            floats = [as_float_image(i, "image") for i in images]  # what the matcher hands to RomaIO
            opencv = list(RomaIO().prepare(*floats, roma_specs(*FULL), {}, MatchOptions()).values())
            in_graph = graph.run(None, {"image0": images[0][None], "image1": images[1][None]})
            torch32 = upstream_resize(images, FULL, torch.float32)
            torch64 = upstream_resize(images, FULL, torch.float64)
            for index, name in enumerate(ROMA.input_names):
                row = {"content": content, "camera": [width, height], "tensor": name, "side": FULL[index // 2]}
                for label, values in (("opencv", opencv), ("onnx_graph", in_graph), ("torch_fp32", torch32)):
                    row[f"{label}_vs_torch_fp32"] = difference(values[index], torch32[index])
                    row[f"{label}_vs_torch_fp64"] = difference(values[index], torch64[index])
                rows.append(row)
    return rows


def release_weights(folder: Path) -> tuple[Path, Path]:
    """Seeded synthetic ``matchanything_roma.ckpt`` and ``dinov2_vitl14_pretrain.pth`` (1.6 GB)."""
    from ma_trt_convert import cli

    checkpoint, dinov2 = folder / "r.ckpt", folder / "d.pth"
    args = ["random-checkpoint", "--variant", "roma", "--output", str(checkpoint), "--dinov2-output", str(dinov2)]
    if cli.main(args) != 0:
        raise RuntimeError("random-checkpoint failed")
    return checkpoint, dinov2


def end_to_end(folder: Path) -> list[dict[str, object]]:
    """RoMa ONNX at 56/64 fed OpenCV, in-graph and upstream resizes of the same camera pair."""
    from ma_trt_convert import cli

    checkpoint, dinov2 = release_weights(folder)
    onnx_path = folder / "roma.onnx"
    args = ["export", "--variant", "roma", "--checkpoint", str(checkpoint), "--dinov2", str(dinov2)]
    args += ["--coarse-res", str(SMALL[0]), "--upsample-res", str(SMALL[1]), "--precision", "fp32"]
    if cli.main([*args, "--output", str(onnx_path)]) != 0:
        raise RuntimeError("RoMa export failed")
    roma = session(onnx_path)
    graph = session(export_camera_input(RomaCameraInput(*SMALL, "uint8_nhwc"), folder / "camera_small.onnx"))
    rows = []
    for height, width in ((480, 640), (479, 641), (1080, 1920)):
        images = shifted_pair(height, width)
        feeds = {
            "opencv": list(
                RomaIO()
                .prepare(*[as_float_image(i, "i") for i in images], roma_specs(*SMALL), {}, MatchOptions())
                .values()
            ),
            "onnx_graph": graph.run(None, {"image0": images[0][None], "image1": images[1][None]}),
            "torch_fp32": upstream_resize(images, SMALL, torch.float32),
        }
        outputs = {k: roma.run(None, dict(zip(ROMA.input_names, v, strict=True))) for k, v in feeds.items()}
        row: dict[str, object] = {"camera": [width, height], "coarse": SMALL[0], "upsample": SMALL[1]}
        reference = dict(zip(ROMA.output_names, outputs["torch_fp32"], strict=True))
        row["reference_spread"] = {name: float(np.std(value)) for name, value in reference.items()}
        for label in ("opencv", "onnx_graph"):
            for index, name in enumerate(ROMA.output_names):
                row[f"{label}_{name}"] = difference(outputs[label][index], outputs["torch_fp32"][index])
        rows.append(row)
    return rows


def gate(folder: Path) -> list[dict[str, object]]:
    """TensorRT-RTX parse + build of the 560/864 in-graph resize, each layout, profile :data:`PROFILE`."""
    from support.rtx_profile_gate import build_with_profile

    from ma_trt_convert.errors import ConversionError

    rows = []
    for layout in LAYOUTS:
        module = RomaCameraInput(*FULL, layout)
        path = export_camera_input(module, folder / f"camera_{layout}.onnx")
        start = time.monotonic()
        try:
            result = build_with_profile(path, module.profile_shapes(1, *PROFILE)).__dict__
        except ConversionError as exc:
            result = {"built": False, "errors": [str(exc)]}
        rows.append({"layout": layout, "profile_hw": PROFILE, "seconds": time.monotonic() - start, **result})
    return rows


def median_ms(runs: int, warmup: int, fn: Callable[..., object], *args: object) -> float:
    """Median host wall time of ``fn(*args)`` (which must synchronise what it starts) in ms."""
    for _ in range(warmup):
        fn(*args)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn(*args)
        times.append((time.perf_counter() - start) * 1e3)
    return float(np.median(times))


class TodayPath:
    """The runtime's path: ``RomaIO.prepare`` (CPU) then four float32 tensors into pinned memory and up."""

    def __init__(self, specs: dict[str, TensorSpec]) -> None:
        self.specs = specs
        self.host = {n: torch.empty(s.shape, dtype=torch.float32).pin_memory() for n, s in specs.items()}
        self.device = {n: torch.empty(s.shape, dtype=torch.float32, device="cuda") for n, s in specs.items()}

    def prepare(self, image0: np.ndarray, image1: np.ndarray) -> dict[str, np.ndarray]:
        return RomaIO().prepare(image0, image1, self.specs, {}, MatchOptions())

    def upload(self, arrays: dict[str, np.ndarray]) -> None:
        for name, array in arrays.items():
            np.copyto(self.host[name].numpy(), array)
            self.device[name].copy_(self.host[name], non_blocking=True)
        torch.cuda.synchronize()

    def __call__(self, image0: np.ndarray, image1: np.ndarray) -> None:
        self.upload(self.prepare(image0, image1))


class GraphPath:
    """The camera images into pinned memory and up, then :class:`RomaCameraInput` on the GPU."""

    def __init__(self, layout: str, height: int, width: int) -> None:
        self.module = RomaCameraInput(*FULL, layout).cuda()
        shape = self.module.input_shape(1, height, width)
        self.host = [torch.empty(shape, dtype=self.module.dtype).pin_memory() for _ in range(2)]
        self.device = [torch.empty(shape, dtype=self.module.dtype, device="cuda") for _ in range(2)]

    def camera_arrays(self, image0: np.ndarray, image1: np.ndarray) -> list[np.ndarray]:
        """The camera pair as this layout's host arrays (``[1, ...]``), outside the timed path."""
        arrays = (
            [image0, image1]
            if self.module.dtype == torch.uint8
            else [as_float_image(image0, "i"), as_float_image(image1, "i")]
        )
        if not self.module.channels_last:
            arrays = [a.transpose(2, 0, 1) for a in arrays]
        return [np.ascontiguousarray(a[None]) for a in arrays]

    def upload(self, arrays: list[np.ndarray]) -> None:
        for host, device, array in zip(self.host, self.device, arrays, strict=True):
            np.copyto(host.numpy(), array)
            device.copy_(host, non_blocking=True)

    def upload_synchronized(self, arrays: list[np.ndarray]) -> None:
        self.upload(arrays)
        torch.cuda.synchronize()

    def resize(self) -> tuple[torch.Tensor, ...]:
        with torch.no_grad():
            return self.module(*self.device)

    def __call__(self, arrays: list[np.ndarray]) -> None:
        self.upload(arrays)
        self.resize()
        torch.cuda.synchronize()


def graph_timings(layout: str, uint8: tuple[np.ndarray, np.ndarray], runs: int, warmup: int) -> dict[str, object]:
    """The in-graph path for one layout: total (twice), upload, GPU resize (ms), and its output's error."""
    from bench_timing import time_cuda

    height, width = uint8[0].shape[:2]
    path = GraphPath(layout, height, width)
    arrays = path.camera_arrays(*uint8)
    row: dict[str, object] = {
        "total_ms": [median_ms(runs, warmup, path, arrays) for _ in range(2)],
        "upload_ms": median_ms(runs, warmup, path.upload_synchronized, arrays),
        "resize_gpu_ms": time_cuda(path.resize, warmup=warmup, repeats=runs)["median"],
    }
    reference = upstream_resize(uint8, FULL, torch.float32)
    outputs = [t.cpu().numpy() for t in path.resize()]
    row["vs_torch_cpu_fp32"] = [difference(o, r) for o, r in zip(outputs, reference, strict=True)]
    return row


def latency(runs: int, warmup: int, sizes: list[tuple[int, int]]) -> list[dict[str, object]]:
    """Per camera ``(height, width)``: today's path and the in-graph path (uint8 / float32 upload), ms per pair."""
    rows = []
    for height, width in sizes:
        uint8 = (camera_image(height, width, "texture"), camera_image(height, width, "texture", seed=7))
        floats = tuple(as_float_image(i, "image") for i in uint8)
        today = TodayPath(roma_specs(*FULL))
        row: dict[str, object] = {"camera": [width, height], "runs": runs, "warmup": warmup}
        row["today_total_ms"] = [median_ms(runs, warmup, today, *floats) for _ in range(2)]
        row["today_prepare_ms"] = median_ms(runs, warmup, today.prepare, *floats)
        row["today_upload_ms"] = median_ms(runs, warmup, today.upload, today.prepare(*floats))
        row["uint8_to_float_ms"] = median_ms(runs, warmup, lambda pair: [as_float_image(i, "i") for i in pair], uint8)
        for layout in ("uint8_nhwc", "float32_nhwc"):
            row[f"graph_{layout}"] = graph_timings(layout, uint8, runs, warmup)
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


def camera_size(text: str) -> tuple[int, int]:
    """``"640x480"`` -> ``(480, 640)`` (height, width)."""
    width, height = (int(part) for part in text.lower().split("x"))
    return height, width


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True)
    parser.add_argument("--sections", nargs="+", default=["accuracy", "gate"])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument(
        "--latency-sizes", nargs="+", type=camera_size, default=list(LATENCY_SIZES), help="WxH camera sizes"
    )
    parser.add_argument("--commit", help="git commit measured (default: asked from git)")
    args = parser.parse_args()
    commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=ROOT).stdout.strip()
    report: dict[str, object] = {
        "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu",
        "cpu": platform.processor() or platform.machine(),
        "cpu_threads": torch.get_num_threads(),
        "opencv_threads": cv2.getNumThreads(),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d"),
        "commit": args.commit or commit or "unknown",
        "torch": torch.__version__,
    }
    with tempfile.TemporaryDirectory() as tmp:
        for section in args.sections:
            start = time.monotonic()
            if section == "latency":
                report[section] = latency(args.runs, args.warmup, args.latency_sizes)
            else:
                report[section] = {"accuracy": accuracy, "end_to_end": end_to_end, "gate": gate}[section](Path(tmp))
            print(f"{section}: {time.monotonic() - start:.1f} s", flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
