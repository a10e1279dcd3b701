"""RoMa 560/864 fast-path variants on one GPU: refiners in fp32 (what fp16 moves), the Triton correlation, compilation.

    python bench/roma_speed.py --out run.json [--profile compiled_profile.txt] [--deadline 420]
    python bench/roma_speed.py --out warm.json --warm compile_regions

Seeded synthetic release weights (``bench/fast_path.py``'s RoMa set-up). Each variant is a fast runner (CUDA
graph) measured as :func:`fast_path._runner_report` measures one (start-up, GPU memory, median / p90 / p99
latency of ``--repeats`` calls) with the fidelity gate of its outputs: deviation from romatch fp32 with
its autocast removed against romatch fp16's own deviation, arg-max flips counted apart
(:func:`fidelity_gate.roma_verdict`), pooled over ``--gate-pairs`` seeded image pairs, the timed pair
first (:func:`fidelity_gate.pooled_roma_deviation`; on one pair, as ``bench/fast_path.py`` gates the fast
path, each of the ten criteria is a near coin toss between equally good candidates on synthetic
weights, whose arg-max near-ties decide the tails: ``docs/benchmarks.md``, sixth round); the timed pair's
own verdict is kept beside it as ``verdict_one_pair``. Uncompiled variants
first, then the compiled ones in order (:mod:`variant_runs`; the first from an empty cache when
``TORCHINDUCTOR_CACHE_DIR`` / ``TRITON_CACHE_DIR`` name a fresh folder: a cold start). ``--warm NAMES``
builds only those compiled variants (no references, no gate) from the cache a former process filled, and
measures their batch throughput (pairs per second at batch 1, 4 and 8; each new batch size compiles anew).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import fast_path  # noqa: E402  (puts the repository on sys.path)
from fidelity_gate import pooled_roma_deviation, roma_deviation, roma_verdict  # noqa: E402
from roma_gpu_parity import anchor_modes_of  # noqa: E402
from variant_runs import after_for, finish, profile_compiled, run_compiled, start_report  # noqa: E402

ALL_SCALES = (16, 8, 4, 2, 1)
# name: build_fast_runner options; fp16, uncompiled
EAGER = {
    "fast_fp16": {},  # the default: the Triton correlation where it runs (CUDA with Triton), since 2026-12-07
    "fast_fp16_gathered_correlation": {"correlation": "gathered"},  # the default before
    "fast_fp16_fp32_refiner_1": {"fp32_refiners": (1,)},
    "fast_fp16_fp32_refiners_2_1": {"fp32_refiners": (2, 1)},
    "fast_fp16_fp32_refiners_all": {"fp32_refiners": ALL_SCALES},
}
# name: (estimated seconds of a cold start, options); fp16, in order of priority
COMPILED = {
    "compile_regions": (60, {"compile": "default"}),  # RoMa's compiled default: regional, Triton correlation
    "compile_regions_gathered_correlation": (40, {"compile": "default", "correlation": "gathered"}),
    "compile_regions_fp32_refiners_2_1": (60, {"compile": "default", "fp32_refiners": (2, 1)}),
    "compile_whole": (150, {"compile": "default", "regional": False}),
}
PROFILED = "compile_regions"
BASELINE, ALLOWANCE = "reference_fp32_autocast_off", "reference_fp16"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="JSON report path")
    parser.add_argument("--profile", help=f"kernel table of the compiled forward of {PROFILED} here")
    parser.add_argument("--deadline", type=float, default=420.0, help="start no compile after this many s")
    parser.add_argument("--warm", nargs="+", choices=tuple(COMPILED), help="warm start and throughput of these only")
    parser.add_argument("--only", nargs="+", choices=tuple(COMPILED), help="compiled variants to run")
    parser.add_argument("--eager", nargs="*", choices=tuple(EAGER), help="uncompiled variants to run (default: all)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--gate-pairs", type=int, default=8, help="image pairs the gate pools (seeds seed, seed+1, …)")
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=100)
    parser.add_argument("--coarse-res", type=int, default=560)
    parser.add_argument("--upsample-res", type=int, default=864)
    args = parser.parse_args(argv)
    began = time.perf_counter()
    report = start_report(args)
    ours32, ours16, images, roma_state, dinov2_state = fast_path._roma_setup(args, report)
    del ours16
    torch.cuda.empty_cache()
    check: Callable[[fast_path.FastRunner], dict] | None = None
    recorded: list[list[torch.Tensor]] = [[]]  # the anchors the runner being measured records
    if not args.warm:
        seeds = range(args.seed + 1, args.seed + args.gate_pairs)
        pairs = [images, *(fast_path.roma_images(seed, args.coarse_res, args.upsample_res) for seed in seeds)]
        outputs, modes = fast_path._roma_references(args, report, pairs, roma_state, dinov2_state)
        baselines, baseline_modes = outputs[BASELINE], modes[BASELINE]
        references = list(zip(outputs[ALLOWANCE], baselines, modes[ALLOWANCE], baseline_modes, strict=True))
        allowance_one_pair = roma_deviation(*references[0])
        allowance = pooled_roma_deviation(references)
        report["allowance"], report["allowance_one_pair"] = allowance, allowance_one_pair
        report["gate_pairs"] = len(pairs)
        outputs = None
        torch.cuda.empty_cache()

        def check(runner: fast_path.FastRunner) -> dict:
            runs = []
            for pair, baseline, baseline_mode in zip(pairs, baselines, baseline_modes, strict=True):
                candidate = dict(zip(ours32.output_names, runner(*pair), strict=True))
                # the last anchors recorded while the runner's graph was captured, refilled by each replay
                runs.append((candidate, baseline, recorded[0][-1].clone(), baseline_mode))
            one_pair, deviation = roma_deviation(*runs[0]), pooled_roma_deviation(runs)
            return {
                "vs_baseline": deviation,
                "verdict": roma_verdict(deviation, allowance),
                "vs_baseline_one_pair": one_pair,
                "verdict_one_pair": roma_verdict(one_pair, allowance_one_pair),
            }

    # cuDNN's TF32 stays off (start_report, _roma_references): it changes nothing of fp16 convolutions, and
    # the refiners kept in fp32 must run in fp32, not in TF32's 10-bit mantissa

    def measure(options: dict, after: Callable | None = None) -> dict:
        with anchor_modes_of(ours32) as seen:
            recorded[0] = seen
            return fast_path._runner_report(ours32, "fp16", args, inputs=images, check=check, after=after, **options)

    if not args.warm:
        for name in EAGER if args.eager is None else args.eager:
            options = EAGER[name]
            fast_path._guard(report, name, lambda o=options: measure(o))
            report[name]["options"] = options
            report.save()

    throughput = lambda runner: fast_path.batch_throughput(runner, ours32, args, batches=(1, 4, 8))  # noqa: E731
    profile = lambda runner: profile_compiled(runner, images, Path(args.profile))  # noqa: E731
    run_compiled(
        report,
        args.warm or args.only or tuple(COMPILED),
        COMPILED,
        measure,
        deadline_s=args.deadline,
        began=began,
        warm=bool(args.warm),
        after_for=after_for(throughput if args.warm else None, profile if args.profile else None, PROFILED),
    )
    finish(report, began, (*EAGER, *COMPILED))
    return 0


if __name__ == "__main__":
    sys.exit(main())
