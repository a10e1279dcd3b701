"""ELoFTR 640×480 fast-path variants on one GPU: the rewrites of ``fast/eloftr.py`` and Inductor settings.

    python bench/eloftr_speed.py --out run.json [--profile compiled_profile.txt] [--deadline 200]
    python bench/eloftr_speed.py --out warm.json --warm compile_default compile_default_plain

Each variant is a fast runner (CUDA graph) measured as ``bench/fast_path.py`` measures one (start-up,
GPU memory, median / p90 / p99 latency, :func:`fast_path._runner_report`) with the fidelity gate of its
outputs against the fp32 reference (``efficientloftr-inference``, fine-matching autocast off) and the
reference's own fp16 deviation as the allowance (:mod:`fidelity_gate`). Uncompiled variants first
(cheap), then the ``torch.compile`` ones in order of priority (:data:`COMPILED`), each cut off by an alarm and skipped
once ``--deadline`` seconds of the process are spent. The first compiled variant runs on an empty
cache (set ``TORCHINDUCTOR_CACHE_DIR`` / ``TRITON_CACHE_DIR`` to a fresh folder): a cold start; the
later ones in the same process reuse the kernels they share with it. ``--warm NAMES`` builds only
those compiled variants (no gate), for a warm start from the cache a former process filled.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import fast_path  # noqa: E402  (puts the repository on sys.path)
from fidelity_gate import eloftr_deviation, eloftr_verdict  # noqa: E402
from variant_runs import after_for, finish, profile_compiled, run_compiled, start_report  # noqa: E402

from ma_trt_convert.eloftr import DEFAULT_MAX_MATCHES  # noqa: E402

PLAIN = {"coarse_fp16": False, "budget_sort": False, "half_resolution_windows": False}  # the run-4 fast path
# name: (precision, build_fast_runner options); uncompiled
EAGER = {
    "fast_fp32": ("fp32", {}),
    "fast_fp32_plain": ("fp32", PLAIN),
    "fast_fp16_plain": ("fp16", PLAIN),
    "fast_fp16_coarse_fp16_only": ("fp16", {"coarse_fp16": True, "budget_sort": False}),
    "fast_fp16_coarse_fp16": ("fp16", {"coarse_fp16": True}),  # the default until 2026-12-07
    "fast_fp16": ("fp16", {}),
    "fast_fp16_fine_fp32": ("fp16", {"fine_fp32": True}),
    "fast_fp16_triton_topk": ("fp16", {"triton_topk": True}),
    "fast_fp16_half_resolution_windows": ("fp16", {"half_resolution_windows": True}),
}
# name: (estimated seconds, options); fp16, in order of priority
COMPILED = {
    "compile_default": (45, {"compile": "default"}),  # half-resolution windows, fp32 fine matching: on when compiled
    "compile_default_fine_fp16": (45, {"compile": "default", "fine_fp32": False}),  # the default until 2026-12-07
    "compile_default_triton_topk": (45, {"compile": "default", "triton_topk": True}),
    "compile_default_full_map": (45, {"compile": "default", "half_resolution_windows": False}),
    "compile_default_coarse_fp16": (45, {"compile": "default", "coarse_fp16": True}),
    "compile_default_channels_last": (55, {"compile": "default", "channels_last": True}),
    "compile_default_plain": (45, {"compile": "default", **PLAIN}),
    "compile_default_coordinate_descent": (
        80,
        {"compile": "default", "inductor": {"coordinate_descent_tuning": True}},
    ),
    "compile_default_freezing": (55, {"compile": "default", "inductor": {"freezing": True}}),
    "compile_max_autotune_no_cudagraphs": (120, {"compile": "max-autotune-no-cudagraphs"}),
}
PROFILED = "compile_default"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--profile", help="kernel table of the compiled fast fp16 forward (compile_default)")
    parser.add_argument("--deadline", type=float, default=200.0, help="start no compile after this many s")
    parser.add_argument("--warm", nargs="+", choices=tuple(COMPILED), help="warm start of these only, no gate")
    parser.add_argument("--only", nargs="+", choices=tuple(COMPILED), help="compiled variants to run")
    parser.add_argument(
        "--throughput",
        action="store_true",
        help="with --warm: also pairs per second at batch 1, 4 and 8 (each new batch size compiles anew)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=100)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--threshold", type=float, default=0.1)
    parser.add_argument(
        "--eloftr-checkpoint",
        help="ELoFTR weights (e.g. weights/matchanything_eloftr_trained.ckpt) instead of rescaled random ones",
    )
    parser.add_argument(
        "--max-matches",
        type=int,
        default=DEFAULT_MAX_MATCHES,
        help="the fast path's match budget (rows; default %(default)s). With trained weights a textured pair can "
        "have more matches than the default budget keeps, and the gate then counts the dropped ones: a budget "
        "above the reference's match count judges the numerics alone",
    )
    parser.add_argument("--eager", nargs="*", choices=tuple(EAGER), help="uncompiled variants to run (default: all)")
    args = parser.parse_args(argv)
    began = time.perf_counter()
    report = start_report(args)
    ours32, _, pair, state = fast_path._eloftr_setup(args, report)
    check = None
    if not args.warm:
        results = fast_path._eloftr_references(*fast_path._eloftr_oracle(args, state, pair))
        baseline = results[fast_path.ELOFTR_BASELINE]
        allowance = eloftr_deviation(results["reference_fp16"], baseline)
        report["allowance"] = allowance

        def check(runner: fast_path.FastRunner) -> dict:
            deviation = eloftr_deviation(fast_path._ours_arrays(runner(*pair)), baseline)
            return {"vs_baseline": deviation, "verdict": eloftr_verdict(deviation, allowance)}

        for name in EAGER if args.eager is None else args.eager:
            precision, options = EAGER[name]
            fast_path._guard(
                report,
                name,
                lambda p=precision, o=options: fast_path._runner_report(ours32, p, args, inputs=pair, check=check, **o),
            )
    names = args.warm or args.only or tuple(COMPILED)

    throughput = lambda runner: fast_path.batch_throughput(runner, ours32, args, batches=(1, 4, 8))  # noqa: E731
    profile = lambda runner: profile_compiled(runner, pair, Path(args.profile))  # noqa: E731
    run_compiled(
        report,
        names,
        COMPILED,
        lambda options, after: fast_path._runner_report(
            ours32, "fp16", args, inputs=pair, check=check, after=after, **options
        ),
        deadline_s=args.deadline,
        began=began,
        warm=bool(args.warm),
        after_for=after_for(
            throughput if args.warm and args.throughput else None,
            profile if args.profile and not args.warm else None,
            PROFILED,
        ),
    )
    finish(report, began, (*EAGER, *COMPILED))
    return 0


if __name__ == "__main__":
    sys.exit(main())
