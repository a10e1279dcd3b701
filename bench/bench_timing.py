"""Timing and memory helpers shared by the GPU benchmarks (CUDA events, percentiles, per-stage hooks)."""

from __future__ import annotations

import contextlib
import datetime
import subprocess
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path

import torch
from torch import nn

REPO = Path(__file__).resolve().parent.parent


def percentiles(values: list[float]) -> dict[str, float]:
    """median / p90 / p99 / min of ``values`` (ms) and their count."""
    data = torch.tensor(values, dtype=torch.float64)
    return {
        "median": data.median().item(),
        "p90": torch.quantile(data, 0.90).item(),
        "p99": torch.quantile(data, 0.99).item(),
        "min": data.min().item(),
        "n": len(values),
    }


def time_cuda(fn: Callable[[], object], *, warmup: int = 10, repeats: int = 100) -> dict[str, float]:
    """Per-call time of ``fn`` in ms from CUDA events around each call, after ``warmup`` calls.

    Each call is synchronised before the next starts, so host work inside ``fn`` (launches, Python)
    counts: this is the latency a caller sees, not the throughput of overlapped calls.
    """
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(repeats):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    return percentiles(times)


@contextlib.contextmanager
def stage_timer(stages: dict[str, nn.Module]) -> Iterator[dict[str, list[float]]]:
    """CUDA-event time (ms) of each named sub-module's forward calls while the context is open.

    Yields a dict filled on exit: stage name → list of per-call times (a stage called twice per
    forward, such as RoMa's VGG, appears twice per forward). Only meaningful for eager execution.
    """
    events: dict[str, list[tuple[torch.cuda.Event, torch.cuda.Event]]] = defaultdict(list)
    handles = []
    for name, module in stages.items():

        def pre(_m: nn.Module, _i: object, name: str = name) -> None:
            start = torch.cuda.Event(enable_timing=True)
            start.record()
            events[name].append((start, torch.cuda.Event(enable_timing=True)))

        def post(_m: nn.Module, _i: object, _o: object, name: str = name) -> None:
            events[name][-1][1].record()

        handles += [module.register_forward_pre_hook(pre), module.register_forward_hook(post)]
    result: dict[str, list[float]] = {}
    try:
        yield result
    finally:
        for handle in handles:
            handle.remove()
        torch.cuda.synchronize()
        result.update({name: [s.elapsed_time(e) for s, e in pairs] for name, pairs in events.items()})


def stage_medians(
    run: Callable[[], object], stages: dict[str, nn.Module], calls_per_forward: int = 1, repeats: int = 20
) -> dict[str, float]:
    """Median per-forward ms of each stage over ``repeats`` eager forwards (after one warm-up)."""
    run()
    with stage_timer(stages) as times:
        for _ in range(repeats):
            run()
    medians = {}
    for name, values in times.items():
        per_forward = len(values) // repeats
        summed = [sum(values[i * per_forward : (i + 1) * per_forward]) for i in range(repeats)]
        medians[name] = float(torch.tensor(summed).median())
    return medians


def peak_memory_mb(fn: Callable[[], object]) -> dict[str, float]:
    """Run ``fn`` and report the GPU memory it added at its peak and what it still holds, in MB."""
    torch.cuda.synchronize()
    base = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    fn()
    torch.cuda.synchronize()
    return {
        "peak_above_start_mb": (torch.cuda.max_memory_allocated() - base) / 2**20,
        "held_after_mb": (torch.cuda.memory_allocated() - base) / 2**20,
    }


def run_facts() -> dict[str, str]:
    """Device, software versions, UTC date and git commit of this run."""
    # a copy of the tree sent to a GPU machine carries its commit in a COMMIT file (it may sit inside
    # another checkout, whose HEAD git would report)
    if (REPO / "COMMIT").exists():
        commit = (REPO / "COMMIT").read_text().strip()
    else:
        try:
            commit = subprocess.run(
                ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
            ).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            commit = "unknown"
    return {
        "date_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "commit": commit,
        "device": torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu",
        "torch": torch.__version__,
        "cuda": str(torch.version.cuda),
        "cudnn": str(torch.backends.cudnn.version()),
    }
