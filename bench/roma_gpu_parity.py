"""MatchAnything-RoMa port vs the romatch oracle at the release resolution, on a GPU.

    python bench/roma_gpu_parity.py --out results.json --coarse-res 560 --upsample-res 864
    python bench/roma_gpu_parity.py --out smoke.json --device cpu --coarse-res 224 --upsample-res 336

Both models get the same seeded synthetic release files (written to a temporary folder) and the
same images. Measured:

* all-fp32 (TF32 off for both): max |Δ| of warp (normalised units) and certainty, both directions;
* reference precision (CUDA only): our fp16 regions vs the oracle under fp16 autocast (TF32 at
  PyTorch's defaults, matmul off and cuDNN on, as MatchAnything's ``get_model`` leaves them; romatch's
  ``roma_model`` would switch matmul TF32 on, which this script undoes): warp error in pixels of the
  upsample grid (Euclidean, ``|Δ|·res/2`` per axis) as median / p99 / max, certainty |Δ| likewise; plus
  each of them against
  the fp32 reference, to show how much of the gap is fp16 itself;
* arg-max flips (all-fp32): cells of pass 1's anchor classification where our arg-max differs from the
  reference's, with the reference's own top-2 probability gap there, and the error left when our
  model is run with the reference's anchor choices forced (``anchor_mode`` of our decoder replaced
  for that run only): if that error is within tolerance, every larger difference comes from a tie
  that the reference itself breaks by rounding;
* eager PyTorch time per call (median of ``--repeats``) of both.

Needs romatch and kornia importable; on a machine without a working torchvision the oracle loader
falls back to the test double in ``test/oracles/torchvision_stand_in``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO / "converter"), str(REPO / "test")]

from oracles.roma_reference import build_reference, match_reference  # noqa: E402

from ma_trt_convert.roma import DEFAULT_GP_SOLVER, build_export_module  # noqa: E402
from ma_trt_convert.roma.coordinate_decoder import CoordinateDecoder  # noqa: E402
from ma_trt_convert.weights.checkpoint import load_layout, random_state_dict, write_release_file  # noqa: E402

OUTPUTS = ("warp", "certainty", "warp_1to0", "certainty_1to0")


def write_synthetic_release(folder: Path, seed: int) -> tuple[Path, Path, dict, dict]:
    """Seeded synthetic release files in ``folder``: ``(roma path, dinov2 path, roma tensors, dinov2 tensors)``."""
    roma_path, dinov2_path = folder / "matchanything_roma.ckpt", folder / "dinov2_vitl14_pretrain.pth"
    roma_layout, dinov2_layout = load_layout("matchanything_roma"), load_layout("dinov2_vitl14_pretrain")
    roma_state = random_state_dict(roma_layout, seed)
    dinov2_state = random_state_dict(dinov2_layout, seed + 1)
    write_release_file(roma_state, roma_layout, roma_path)
    write_release_file(dinov2_state, dinov2_layout, dinov2_path)
    return roma_path, dinov2_path, roma_state, dinov2_state


def _commit() -> str:
    try:
        return subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _set_tf32(matmul: bool, cudnn: bool) -> None:
    torch.backends.cuda.matmul.allow_tf32 = matmul
    torch.backends.cudnn.allow_tf32 = cudnn


def _timed(fn: Callable[[], dict[str, torch.Tensor]], device: torch.device, repeats: int) -> tuple[dict, float]:
    """Run ``fn`` once to warm up, then ``repeats`` times; returns the last result and the median ms."""
    result = fn()
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        result = fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        times.append(1000 * (time.perf_counter() - start))
    return result, statistics.median(times)


def _stats(values: torch.Tensor) -> dict[str, float]:
    flat = values.flatten().double().cpu()
    return {
        "median": flat.median().item(),
        "p99": torch.quantile(flat, 0.99).item() if flat.numel() <= 16_000_000 else float("nan"),
        "max": flat.max().item(),
    }


def compare(ours: dict[str, torch.Tensor], ref: dict[str, torch.Tensor], res: int) -> dict[str, object]:
    """Per output: max |Δ| (normalised / probability) and pixel statistics of the warps at ``res``."""
    out: dict[str, object] = {}
    for name in OUTPUTS:
        delta = (ours[name].float() - ref[name].float()).abs()
        entry: dict[str, object] = {"max_abs": delta.max().item()}
        if name.startswith("warp"):
            entry["pixels"] = _stats((delta * res / 2).norm(dim=-1))
        else:
            entry["abs"] = _stats(delta)
        out[name] = entry
    return out


def _top2_gap(anchor_logits: torch.Tensor) -> torch.Tensor:
    """``[B, 1, g, g]``: top-1 minus top-2 anchor probability of each cell."""
    top2 = anchor_logits.float().softmax(dim=1).topk(2, dim=1).values
    return top2[:, :1] - top2[:, 1:]


def tie_report(ref: dict[str, torch.Tensor]) -> dict[str, float]:
    """Smallest top-2 probability gap of the reference's anchor classification (near-ties flip arg-max)."""
    gap = _top2_gap(ref["anchor_logits"])
    return {"min_top2_gap": gap.min().item(), "cells_with_gap_below_1e-3": int((gap < 1e-3).sum().item())}


@contextlib.contextmanager
def anchor_modes_of(module: torch.nn.Module, forced: torch.Tensor | None = None) -> Iterator[list[torch.Tensor]]:
    """Record (and, with ``forced`` ``[B, 1, g, g]``, replace) the arg-max anchors of ``module``'s decoder."""
    decoder = next(m for m in module.modules() if isinstance(m, CoordinateDecoder))
    seen: list[torch.Tensor] = []

    def mode(probs: torch.Tensor) -> torch.Tensor:
        chosen = CoordinateDecoder.anchor_mode(decoder, probs) if forced is None else forced.to(probs.device)
        seen.append(chosen)
        return chosen

    decoder.anchor_mode = mode
    try:
        yield seen
    finally:
        del decoder.anchor_mode


def flip_report(module: torch.nn.Module, call: Callable[[], dict[str, torch.Tensor]], ref: dict, res: int) -> dict:
    """Arg-max flips of ``module`` against ``ref`` and the error left with the reference's anchors forced."""
    ref_probs = ref["anchor_logits"].float().softmax(dim=1)
    ref_mode = ref_probs.argmax(dim=1, keepdim=True)
    with anchor_modes_of(module) as seen:
        call()
    flipped = seen[0] != ref_mode
    gap = _top2_gap(ref["anchor_logits"])
    deficit = ref_probs.max(dim=1, keepdim=True).values - ref_probs.gather(1, seen[0])
    with anchor_modes_of(module, forced=ref_mode):
        forced = call()
    return {
        "cells": ref_mode.numel(),
        "flipped_cells": int(flipped.sum().item()),
        "reference_top2_gap_at_flips_max": gap[flipped].max().item() if flipped.any() else None,
        "reference_prob_deficit_of_our_choice_max": deficit[flipped].max().item() if flipped.any() else None,
        "ours_with_reference_anchors_vs_reference": compare(forced, ref, res),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="JSON file for the results")
    parser.add_argument("--coarse-res", type=int, default=560)
    parser.add_argument("--upsample-res", type=int, default=864)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic weights and images")
    parser.add_argument("--gp-solver", default=DEFAULT_GP_SOLVER)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    coarse, up = args.coarse_res, args.upsample_res
    results: dict[str, object] = {
        "date_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "commit": _commit(),
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu",
        "torch": torch.__version__,
        "coarse_res": coarse,
        "upsample_res": up,
        "gp_solver": args.gp_solver,
        "seed": args.seed,
    }
    with tempfile.TemporaryDirectory() as tmp:
        roma_path, dinov2_path, roma_state, dinov2_state = write_synthetic_release(Path(tmp), args.seed)

        def build_ours(precision: str) -> torch.nn.Module:
            module = build_export_module(
                roma_path,
                dinov2_path,
                coarse_res=coarse,
                upsample_res=up,
                precision=precision,
                gp_solver=args.gp_solver,
            )
            return module.to(device)

        ours32 = build_ours("fp32")
        gen = torch.Generator().manual_seed(args.seed)
        images = tuple(torch.rand(1, 3, s, s, generator=gen).to(device) for s in (coarse, coarse, up, up))

        def run_ours(module: torch.nn.Module) -> Callable[[], dict[str, torch.Tensor]]:
            def call() -> dict[str, torch.Tensor]:
                with torch.no_grad():
                    return dict(zip(module.output_names, module(*images), strict=True))

            return call

        def run_reference(model: torch.nn.Module) -> Callable[[], dict[str, torch.Tensor]]:
            return lambda: match_reference(model, *images)

        ref32_model = build_reference(roma_state, dinov2_state, coarse_res=coarse, upsample_res=up, device=str(device))
        _set_tf32(matmul=False, cudnn=False)
        ours_fp32, ours_fp32_ms = _timed(run_ours(ours32), device, args.repeats)
        ref_fp32, ref_fp32_ms = _timed(run_reference(ref32_model), device, args.repeats)
        results["fp32"] = {
            "tf32": False,
            "ours_vs_reference": compare(ours_fp32, ref_fp32, up),
            "reference_ties": tie_report(ref_fp32),
            "anchor_flips": flip_report(ours32, run_ours(ours32), ref_fp32, up),
            "time_ms": {"ours_eager": ours_fp32_ms, "reference": ref_fp32_ms},
        }
        del ours32, ref32_model
        if device.type != "cuda":
            results["fp16"] = "skipped: the reference's fp16 autocast regions need CUDA"
        else:
            torch.cuda.empty_cache()
            ours16 = build_ours("fp16")
            ref16_model = build_reference(
                roma_state,
                dinov2_state,
                coarse_res=coarse,
                upsample_res=up,
                amp_dtype=torch.float16,
                device=str(device),
            )
            _set_tf32(matmul=False, cudnn=True)
            ours_fp16, ours_fp16_ms = _timed(run_ours(ours16), device, args.repeats)
            ref_fp16, ref_fp16_ms = _timed(run_reference(ref16_model), device, args.repeats)
            results["fp16"] = {
                "tf32": "matmul off, cuDNN on (PyTorch defaults, which MatchAnything's get_model keeps)",
                "ours_vs_reference": compare(ours_fp16, ref_fp16, up),
                "ours_fp16_vs_reference_fp32": compare(ours_fp16, ref_fp32, up),
                "reference_fp16_vs_reference_fp32": compare(ref_fp16, ref_fp32, up),
                "reference_ties": tie_report(ref_fp16),
                "time_ms": {"ours_eager": ours_fp16_ms, "reference": ref_fp16_ms},
            }
    text = json.dumps(results, indent=2)
    print(text)
    Path(args.out).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
