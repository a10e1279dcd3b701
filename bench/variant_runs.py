"""The loop of the speed scripts (``eloftr_speed.py``, ``roma_speed.py``): compiled variants one after another,
each under a time limit, skipped once the process's deadline is near, and a one-line summary per variant.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import fast_path  # puts the repository on sys.path
import torch
from bench_timing import run_facts

# a warm start (kernels in the disk cache) is estimated at this many seconds
WARM_ESTIMATE_S = 15


def _alarm(signum: int, frame: object) -> None:
    raise TimeoutError("time limit of the variant reached")


def start_report(args: object) -> fast_path.Report:
    """The speed scripts' JSON report at ``args.out`` with the run's facts, registered for saving on
    every measured item; TF32 off for matmuls and cuDNN (the gate's fp32 parts must be fp32)."""
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    report = fast_path.Report(Path(args.out), **run_facts(), repeats=args.repeats, warmup=args.warmup, seed=args.seed)
    fast_path._ROOT.append(report)
    report["inductor_cache_dir"] = fast_path.os.environ.get("TORCHINDUCTOR_CACHE_DIR", "(default)")
    return report


def profile_compiled(runner: fast_path.FastRunner, inputs: tuple, path: Path) -> str:
    """Kernel table of the compiled forward run outside the CUDA graph (same kernels, no recompilation)."""

    def forward() -> object:
        with torch.inference_mode():
            return runner._forward(*inputs)

    fast_path._profile(forward, path)
    return str(path)


def run_compiled(
    report: fast_path.Report,
    names: Sequence[str],
    compiled: Mapping[str, tuple[float, dict]],
    measure: Callable[[dict, Callable | None], dict],
    *,
    deadline_s: float,
    began: float,
    warm: bool,
    after_for: Callable[[str], Callable | None] = lambda name: None,
) -> None:
    """Measure each compiled variant of ``names`` into ``report[name]`` (with its ``options``).

    Args:
        compiled: name -> (estimated seconds of a cold start, ``build_fast_runner`` options).
        measure: ``measure(options, after)`` -> the variant's report (``fast_path._runner_report`` of it).
        deadline_s: seconds of the process (from ``began``, ``time.perf_counter``) after which no variant
            starts whose estimate does not fit; each variant is cut off (``TimeoutError``) at the deadline.
        warm: estimate :data:`WARM_ESTIMATE_S` for each (the kernels are in the disk cache).
        after_for: name -> what to run on the built runner (``_runner_report``'s ``after``), or None.
    """
    signal.signal(signal.SIGALRM, _alarm)
    for name in names:
        estimate, options = compiled[name]
        estimate = WARM_ESTIMATE_S if warm else estimate
        left = deadline_s - (time.perf_counter() - began)
        if left < estimate:
            report[name] = {"skipped": f"{left:.0f} s left before the deadline, {estimate} s estimated"}
            print(f"[{name}] skipped", flush=True)
            continue
        torch._dynamo.reset()
        signal.alarm(max(1, int(left)))
        after = after_for(name)
        try:
            fast_path._guard(report, name, lambda o=options, a=after: measure(o, a))
        finally:
            signal.alarm(0)
        report[name]["options"] = options
        report.save()


def after_for(throughput: Callable | None, profile: Callable | None, profiled: str) -> Callable[[str], Callable | None]:
    """``run_compiled``'s ``after_for``: ``throughput`` after every variant when given (warm runs), else
    ``profile`` after the variant named ``profiled``."""

    def choose(name: str) -> Callable | None:
        if throughput is not None:
            return throughput
        return profile if name == profiled else None

    return choose


def finish(report: fast_path.Report, began: float, names: Sequence[str]) -> None:
    """Record the process's seconds, save the report, print :func:`print_summary` of ``names``."""
    report["process_s"] = time.perf_counter() - began
    report.save()
    print_summary(report, names)


def print_summary(report: Mapping[str, object], names: Sequence[str]) -> None:
    """One line per measured variant: median / p90 / p99 ms, start-up s, gate verdict."""
    for name in names:
        entry = report.get(name)
        if isinstance(entry, dict) and "latency_ms" in entry:
            lat, verdict = entry["latency_ms"], entry.get("check", {}).get("verdict", {})
            print(
                f"{name:40s} {lat['median']:7.3f} {lat['p90']:7.3f} {lat['p99']:7.3f} ms  "
                f"start {entry['startup_s']:6.1f} s  gate {verdict.get('pass')}",
                flush=True,
            )
