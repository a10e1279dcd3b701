"""The torch fast path against our export modules and the upstream references, on one GPU, in one process.

    python bench/fast_path.py --variant roma --out roma.json [--profile roma_profile.txt]
    python bench/fast_path.py --variant eloftr --out eloftr.json
    python bench/fast_path.py --variant eloftr --out compiled.json --compile default   # torch.compile only

Seeded synthetic weights (RoMa: the release layout at random; ELoFTR: rescaled so that textured pairs
give hundreds of matches, :mod:`ma_trt_convert.synthetic.eloftr_weights`). Measured and written as JSON:

* fidelity gate (:mod:`fidelity_gate`): each candidate's deviation from the fp32 reference against
  the reference's own fp16 deviation from its fp32, with arg-max flips counted apart, and a pass/fail
  verdict per criterion (``gate``). RoMa's fp32 reference runs with romatch's CUDA autocast removed
  (``roma_rounding_floor.reference_autocast_off``); ELoFTR's is ``efficientloftr-inference`` with the
  fp16 autocast of its fine matching removed (it enters one on CUDA in every inference run).
  The former tables (``fidelity``: RoMa against romatch as-is and against our export module in fp32,
  all pixels; ELoFTR against the reference and our export module) are kept;
* latency, CUDA events, median / p90 / p99 over ``--repeats`` calls after warm-up, batch 1: the
  reference (RoMa: 30 calls), our export module eager, the fast runner (CUDA graph) and, for ELoFTR,
  the fast runner with one rewrite left out at a time (RoMa's were measured in runs 2 and 3);
* throughput of the fast runner at batch 4 and 8 (pairs per second);
* start-up time of the fast runner (copy, rewrites, warm-up, capture) and its peak GPU memory;
* per-stage time of the fast module run eagerly (CUDA events around each stage; launch gaps included),
  FLOPs per stage (``torch.utils.flop_counter``), and with ``--profile`` the top CUDA kernels;
* with ``--compile MODE`` instead of all the above: the fast fp16 runner with ``torch.compile`` (start-up
  including compilation, latency, memory, deviation from the uncompiled fast fp16 runner) next to the
  uncompiled one; run it twice with one ``TORCHINDUCTOR_CACHE_DIR`` for a cold and a warm start.

References (installed from wheels, see ``bench/gpu_batch.sh``): ``romatch`` 0.1.2 driven as
``bench/roma_gpu_parity.py`` does; ``efficientloftr-inference`` 0.1.1 with MatchAnything's coarse rule
(``test/oracles/eloftr_reference.py``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path

import torch

BENCH = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH.parent), str(BENCH.parent / "converter"), str(BENCH.parent / "test")]
sys.path.insert(0, str(BENCH))

from bench_timing import peak_memory_mb, run_facts, stage_medians, time_cuda  # noqa: E402
from fidelity_gate import (  # noqa: E402
    TIE_HALO_CELLS,
    eloftr_arrays,
    eloftr_deviation,
    eloftr_verdict,
    roma_deviation,
    roma_verdict,
)

from ma_trt_convert.fast import FastRunner, build_fast_runner  # noqa: E402
from ma_trt_convert.fast.runner import COMPILE_MODES  # noqa: E402

BATCHES = (4, 8)
# the ELoFTR gate's baseline: the oracle in fp32 with its fine-matching autocast removed
ELOFTR_BASELINE = "reference_fp32_autocast_off"


class Report(dict):
    """The JSON report, rewritten to ``path`` after every measured item (a run cut short keeps its numbers)."""

    def __init__(self, path: Path, **facts: object) -> None:
        super().__init__(facts)
        self.path = path

    def save(self) -> None:
        self.path.write_text(json.dumps(self, indent=2, default=str) + "\n")


_ROOT: list[Report] = []


def _guard(report: dict, key: str, fn: Callable[[], object]) -> object:
    """``report[key] = fn()``, or the error text if it raises (one failure must not lose the run)."""
    start = time.perf_counter()
    try:
        report[key] = fn()
    except Exception as error:  # recorded in the report, the run goes on
        report[key] = {"error": f"{type(error).__name__}: {error}", "traceback": traceback.format_exc()[-3000:]}
        print(f"[{key}] FAILED: {error}", flush=True)
    print(f"[{key}] {time.perf_counter() - start:.1f} s", flush=True)
    for root in _ROOT:
        root.save()
    return report[key]


def _flops(module: torch.nn.Module, inputs: tuple[torch.Tensor, ...]) -> dict[str, float]:
    """GFLOPs of one forward per top-level sub-module (matmul, conv, attention; grid_sample not counted)."""
    from torch.utils.flop_counter import FlopCounterMode

    with torch.inference_mode(), FlopCounterMode(display=False, depth=3) as counter:
        module(*inputs)
    flops = counter.get_flop_counts()
    return {name: sum(ops.values()) / 1e9 for name, ops in flops.items() if name.count(".") <= 2}


def _profile(fn: Callable[[], object], path: Path) -> None:
    """Top CUDA kernels of three calls of ``fn`` (eager), as a text table."""
    from torch.profiler import ProfilerActivity, profile

    fn()
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        for _ in range(3):
            fn()
        torch.cuda.synchronize()
    path.write_text(prof.key_averages().table(sort_by="cuda_time_total", row_limit=40, max_name_column_width=90))


def _stage_report(
    runner: FastRunner, inputs: tuple[torch.Tensor, ...], named: dict[str, torch.nn.Module], args: argparse.Namespace
) -> dict[str, object]:
    """Eager per-stage ms, eager total ms, GFLOPs per sub-module and (``--profile``) the kernel table."""
    out: dict[str, object] = {"eager_stage_ms": stage_medians(lambda: runner(*inputs), named)}
    out["eager_total_ms"] = time_cuda(lambda: runner(*inputs), warmup=2, repeats=20)["median"]
    out["gflops"] = _flops(runner.module, inputs)
    if args.profile:
        _profile(lambda: runner(*inputs), Path(args.profile))
    return out


def _runner_report(
    export_module: torch.nn.Module,
    precision: str,
    args: argparse.Namespace,
    inputs: tuple[torch.Tensor, ...] | None = None,
    check: Callable[[FastRunner], object] | None = None,
    after: Callable[[FastRunner], object] | None = None,
    **options: object,
) -> dict:
    """Start-up, GPU memory and batch-1 latency of one fast-runner configuration.

    Memory (MB, above what the process held before the build): ``build_peak`` (includes the private
    copy of the export module before its fp16 conversion), ``held`` and ``reserved`` after the build
    (weights, static buffers, the CUDA graph's private pool), ``run_peak`` (allocated at the peak of
    three calls). Timed on ``inputs`` (default: the module's example inputs); ``check`` of the runner (a
    fidelity gate of its outputs) is recorded as ``check``, ``after`` of it (e.g. a profile) as ``after``.
    """
    torch.cuda.empty_cache()
    inputs = tuple(x.cuda() for x in (inputs or export_module.example_inputs(1)))
    torch.cuda.synchronize()
    base, base_reserved = torch.cuda.memory_allocated(), torch.cuda.memory_reserved()
    torch.cuda.reset_peak_memory_stats()
    runner = build_fast_runner(export_module, device="cuda", precision=precision, **options)
    torch.cuda.synchronize()
    memory = {
        "build_peak": (torch.cuda.max_memory_allocated() - base) / 2**20,
        "held": (torch.cuda.memory_allocated() - base) / 2**20,
        "reserved": (torch.cuda.memory_reserved() - base_reserved) / 2**20,
    }
    torch.cuda.reset_peak_memory_stats()
    for _ in range(3):
        runner(*inputs)
    torch.cuda.synchronize()
    memory["run_peak"] = (torch.cuda.max_memory_allocated() - base) / 2**20
    report = {
        "startup_s": runner.startup_s,
        "memory_mb": memory,
        "latency_ms": time_cuda(lambda: runner(*inputs), warmup=args.warmup, repeats=args.repeats),
    }
    if check is not None:
        _guard(report, "check", lambda: check(runner))
    if after is not None:
        _guard(report, "after", lambda: after(runner))
    runner = None
    torch.cuda.empty_cache()
    return report


def _throughput(export_module: torch.nn.Module, precision: str, args: argparse.Namespace) -> dict:
    """Pairs per second of the fast runner (CUDA graph) at each batch size of :data:`BATCHES`."""
    runner = build_fast_runner(export_module, device="cuda", precision=precision)
    out = batch_throughput(runner, export_module, args)
    runner = None
    torch.cuda.empty_cache()
    return out


def batch_throughput(
    runner: FastRunner, export_module: torch.nn.Module, args: argparse.Namespace, batches: tuple[int, ...] = BATCHES
) -> dict:
    """Pairs per second of ``runner`` at each batch size of ``batches`` (a graph, and for a compiled runner
    its compilation, per new batch size), on ``export_module``'s example inputs."""
    out = {}
    for batch in batches:
        inputs = tuple(x.cuda() for x in export_module.example_inputs(batch))
        stats = time_cuda(lambda inputs=inputs: runner(*inputs), warmup=3, repeats=max(20, args.repeats // 5))
        out[str(batch)] = {"latency_ms": stats, "pairs_per_s": 1000 * batch / stats["median"]}
    return out


# ----------------------------------------------------------------------------------------------- RoMa


def _roma_setup(args: argparse.Namespace, report: dict) -> tuple:
    """Seeded synthetic release tensors, our fp32 and fp16 export modules on the GPU, and the images.

    Returns:
        ``(ours32, ours16, images, roma_state, dinov2_state)``; images ``[1, 3, s, s]`` in [0, 1] at the
        coarse, coarse, upsample, upsample sizes.
    """
    from roma_gpu_parity import write_synthetic_release

    from ma_trt_convert.roma import build_export_module

    coarse, up = args.coarse_res, args.upsample_res
    report.update({"variant": "roma", "coarse_res": coarse, "upsample_res": up})
    with tempfile.TemporaryDirectory() as tmp:
        roma_path, dinov2_path, roma_state, dinov2_state = write_synthetic_release(Path(tmp), args.seed)
        start = time.perf_counter()
        ours32 = build_export_module(roma_path, dinov2_path, coarse_res=coarse, upsample_res=up).cuda()
        ours16 = build_export_module(
            roma_path, dinov2_path, coarse_res=coarse, upsample_res=up, precision="fp16"
        ).cuda()
        report["export_modules_build_s"] = time.perf_counter() - start
    return ours32, ours16, roma_images(args.seed, coarse, up), roma_state, dinov2_state


def roma_images(seed: int, coarse: int, up: int, device: str = "cuda") -> tuple[torch.Tensor, ...]:
    """Seeded images in [0, 1], ``[1, 3, s, s]`` fp32: image 0 and 1 at ``coarse``, two more at ``up``."""
    gen = torch.Generator().manual_seed(seed)
    return tuple(torch.rand(1, 3, s, s, generator=gen).to(device) for s in (coarse, coarse, up, up))


def _roma_gate(outputs: dict, modes: dict) -> dict[str, object]:
    """:func:`fidelity_gate.roma_deviation` of each candidate from romatch fp32 with its autocast removed,
    and :func:`fidelity_gate.roma_verdict` of each against romatch fp16's deviation."""
    baseline, allowance = "reference_fp32_autocast_off", "reference_fp16"
    deviations = {
        name: roma_deviation(outputs[name], outputs[baseline], modes[name], modes[baseline])
        for name in (allowance, "export_fp32", "export_fp16", "fast_fp32", "fast_fp16")
        if name in modes
    }
    return {
        "baseline": baseline,
        "allowance": f"{allowance}_vs_{baseline}",
        "tie_halo_cells": TIE_HALO_CELLS,
        "deviation": deviations,
        "verdict": {
            name: roma_verdict(dev, deviations[allowance]) for name, dev in deviations.items() if name != allowance
        },
    }


def _roma_references(args: argparse.Namespace, report: dict, pairs: list, roma_state: dict, dinov2_state: dict):
    """romatch's outputs on each image tuple of ``pairs``: ``reference_fp32`` (as released, fp32),
    ``reference_fp32_autocast_off`` (the gate's baseline) and ``reference_fp16`` (its allowance), with the fp16
    reference's latency on the first in ``report``; returns ``(outputs, modes)``, name -> one entry per pair,
    modes the pass-1 arg-max anchors of all but ``reference_fp32``. Leaves cuDNN's TF32 off."""
    from oracles.roma_reference import build_reference, match_reference
    from roma_rounding_floor import reference_autocast_off, reference_modes

    outputs: dict[str, list[dict]] = {}
    for precision, dtype, cudnn_tf32 in (("fp32", torch.float32, False), ("fp16", torch.float16, True)):
        torch.backends.cudnn.allow_tf32 = cudnn_tf32
        model = build_reference(
            roma_state,
            dinov2_state,
            coarse_res=args.coarse_res,
            upsample_res=args.upsample_res,
            amp_dtype=dtype,
            device="cuda",
        )
        outputs[f"reference_{precision}"] = [match_reference(model, *images) for images in pairs]
        if precision == "fp32":
            with reference_autocast_off():
                outputs["reference_fp32_autocast_off"] = [match_reference(model, *images) for images in pairs]
        else:
            _guard(
                report,
                "reference_fp16_latency_ms",
                lambda model=model: time_cuda(lambda: match_reference(model, *pairs[0]), warmup=3, repeats=30),
            )
        del model
        torch.cuda.empty_cache()
    torch.backends.cudnn.allow_tf32 = False
    modes = {name: [reference_modes(o) for o in out] for name, out in outputs.items() if name != "reference_fp32"}
    return outputs, modes


def bench_roma(args: argparse.Namespace, report: dict) -> None:
    """Everything for RoMa at ``--coarse-res`` / ``--upsample-res``; fills ``report``."""
    from roma_gpu_parity import anchor_modes_of, compare

    torch.backends.cuda.matmul.allow_tf32 = False
    ours32, ours16, images, roma_state, dinov2_state = _roma_setup(args, report)
    up = args.upsample_res
    names = ours32.output_names

    def as_dict(outputs: tuple[torch.Tensor, ...]) -> dict[str, torch.Tensor]:
        return dict(zip(names, outputs, strict=True))

    outputs, modes = _roma_references(args, report, [images], roma_state, dinov2_state)
    outputs, modes = {k: v[0] for k, v in outputs.items()}, {k: v[0] for k, v in modes.items()}
    for name, module in (("export_fp32", ours32), ("export_fp16", ours16)):
        with anchor_modes_of(module) as seen, torch.inference_mode():
            outputs[name] = as_dict(module(*images))
        modes[name] = seen[0]

    def fast(precision: str) -> dict[str, torch.Tensor]:
        # the runner's private copy keeps the recording hook; after a replay the anchors recorded at
        # capture hold this call's values
        with anchor_modes_of(ours32) as seen:
            result = as_dict(build_fast_runner(ours32, precision=precision)(*images))
        modes[f"fast_{precision}"] = seen[-1].clone()
        return result

    for precision in ("fp32", "fp16"):
        _guard(outputs, f"fast_{precision}", lambda p=precision: fast(p))
    fidelity: dict[str, object] = {}
    for base in ("reference_fp32", "export_fp32"):
        for name in ("reference_fp16", "export_fp32", "export_fp16", "fast_fp32", "fast_fp16"):
            if name != base and "error" not in outputs[name]:
                fidelity[f"{name}_vs_{base}"] = compare(outputs[name], outputs[base], up)
    report["fidelity"] = fidelity
    _guard(report, "gate", lambda: _roma_gate(outputs, modes))
    outputs = None
    torch.backends.cudnn.allow_tf32 = True
    with torch.inference_mode():
        report["export_fp16_eager_latency_ms"] = time_cuda(
            lambda: ours16(*images), warmup=3, repeats=max(20, args.repeats // 5)
        )
        weights_mb = sum(p.numel() * p.element_size() for p in ours16.parameters()) / 2**20
        activations = peak_memory_mb(lambda: ours16(*images))
        report["export_fp16_eager_memory_mb"] = {
            "weights": weights_mb,
            "activation_peak": activations["peak_above_start_mb"],
        }
    ours16 = None
    torch.cuda.empty_cache()
    # measured in run 3 (bench/results/fast_path_roma_560_864_h200_run3.json) and not repeated here to
    # save device time: no CUDA graph, blocks as exported, fp32; in run 2: gp "export", channels_last
    # False, correlation "export"
    _guard(report, "fast_fp16", lambda: _runner_report(ours32, "fp16", args))
    _guard(report, "fast_fp16_throughput", lambda: _throughput(ours32, "fp16", args))

    def stages() -> dict[str, object]:
        runner = build_fast_runner(ours32, precision="fp16", cuda_graph=False)
        m = runner.module.matcher
        named = {"dinov2": m.dinov2, "vgg (both passes)": m.vgg, "gp": m.gp, "coordinate_decoder": m.coordinate_decoder}
        named.update({f"refiner {s} (both passes)": r for s, r in m.refiners.items()})
        return _stage_report(runner, images, named, args)

    _guard(report, "fast_fp16_stages", stages)


# --------------------------------------------------------------------------------------------- ELoFTR


def _eloftr_setup(args: argparse.Namespace, report: dict) -> tuple:
    """Our fp32 and fp16 export modules of ``args.eloftr_checkpoint`` (the trained weights shipped in
    ``weights/``, say) or, without one, of seeded synthetic weights rescaled to match the textured pair;
    with ``args.max_matches`` as their match budget when given (default: the release default).

    Returns:
        ``(ours32, ours16, pair, state)``: the modules on the GPU, the pair ``[1, 1, H, W]`` on the GPU,
        the release tensors (for the oracle).
    """
    from ma_trt_convert.eloftr import DEFAULT_MAX_MATCHES, build_export_module, load_release_state
    from ma_trt_convert.synthetic.eloftr_weights import matching_state
    from ma_trt_convert.synthetic.pairs import textured_pair
    from ma_trt_convert.weights.checkpoint import load_layout, random_state_dict, write_release_file

    height, width = args.height, args.width
    budget = getattr(args, "max_matches", DEFAULT_MAX_MATCHES)
    report.update({"variant": "eloftr", "height": height, "width": width, "threshold": args.threshold})
    report.update({"max_matches": budget})
    report.update({"weights": args.eloftr_checkpoint or f"synthetic (seed {args.seed}, rescaled)"})
    image0, image1 = textured_pair(height, width)
    layout = load_layout("matchanything_eloftr")
    if args.eloftr_checkpoint:
        state = {key: value.float() for key, value in load_release_state(args.eloftr_checkpoint).items()}
    else:
        state = matching_state(random_state_dict(layout, args.seed), image0, image1)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "matchanything_eloftr.ckpt"
        write_release_file(state, layout, path)
        shape = {"height": height, "width": width, "threshold": args.threshold, "max_matches": budget}
        ours32 = build_export_module(path, **shape).cuda()
        ours16 = build_export_module(path, **shape, precision="fp16").cuda()
    return ours32, ours16, (image0.cuda(), image1.cuda()), state


@contextlib.contextmanager
def _oracle_fine_autocast_off(oracle: torch.nn.Module) -> Iterator[None]:
    """While open, the oracle's fine matching runs in fp32 on CUDA.

    ``efficientloftr-inference`` computes its fine similarity under ``torch.autocast("cuda")`` (fp16)
    whenever its ``FineMatching`` is neither training nor validating, so an "fp32" run on a GPU is not
    fp32 there (its window arg-max then rounds like an fp16 run). Its ``validate`` flag switches that
    autocast off; besides, it only stores two diagnostic tensors in the data dict.
    """
    oracle.fine_matching.validate = True
    try:
        yield
    finally:
        oracle.fine_matching.validate = False


def _ours_arrays(outputs: tuple[torch.Tensor, ...]) -> dict:
    """:func:`fidelity_gate.eloftr_arrays` of our outputs (keypoints0, keypoints1, confidence, valid, n, cells)."""
    kp0, kp1, _conf, valid, _n, cells = outputs
    return eloftr_arrays(cells, valid, kp0, kp1)


def _eloftr_references(oracle: torch.nn.Module, run_oracle: Callable[[bool], object]) -> dict[str, dict]:
    """:func:`fidelity_gate.eloftr_arrays` of the oracle as-is in fp32, in fp32 with its fine-matching autocast
    removed (the gate's baseline) and under fp16 autocast (the allowance); ``{"error": ...}`` where one fails.

    Args:
        run_oracle: runs the oracle on the pair, under fp16 autocast when given True.
    """

    def arrays(autocast: bool, fine_autocast: bool = True) -> dict:
        with contextlib.nullcontext() if fine_autocast else _oracle_fine_autocast_off(oracle):
            m = run_oracle(autocast)
        cells = torch.stack((m.i, m.j), dim=-1)
        return eloftr_arrays(cells, torch.ones_like(m.i, dtype=torch.bool), m.keypoints0, m.keypoints1)

    results: dict[str, dict] = {}
    _guard(results, "reference_fp32", lambda: arrays(False))
    _guard(results, ELOFTR_BASELINE, lambda: arrays(False, fine_autocast=False))
    _guard(results, "reference_fp16", lambda: arrays(True))
    return results


def _eloftr_gate(fidelity: dict, candidates: tuple[str, ...]) -> dict[str, object]:
    """:func:`fidelity_gate.eloftr_verdict` of each candidate's ``{name}_vs_{baseline}`` entry of ``fidelity``
    against the reference fp16 entry."""
    allowance = f"reference_fp16_vs_{ELOFTR_BASELINE}"
    return {
        "baseline": ELOFTR_BASELINE,
        "allowance": allowance,
        "verdict": {
            name: eloftr_verdict(fidelity[f"{name}_vs_{ELOFTR_BASELINE}"], fidelity[allowance])
            for name in candidates
            if f"{name}_vs_{ELOFTR_BASELINE}" in fidelity and allowance in fidelity
        },
    }


def _eloftr_oracle(args: argparse.Namespace, state: dict, pair: tuple) -> tuple[torch.nn.Module, Callable]:
    """The oracle on the GPU and ``run_oracle(autocast)``, which matches ``pair`` (under fp16 autocast if asked)."""
    from oracles.eloftr_reference import build_oracle, oracle_match

    oracle = build_oracle(state, args.threshold, max(args.height, args.width)).cuda()

    def run_oracle(autocast: bool) -> object:
        with torch.autocast("cuda", dtype=torch.float16, enabled=autocast):
            return oracle_match(oracle, *pair)

    return oracle, run_oracle


def bench_eloftr(args: argparse.Namespace, report: dict) -> None:
    """Everything for ELoFTR at ``--height`` × ``--width``; fills ``report``."""
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    ours32, ours16, pair, state = _eloftr_setup(args, report)
    oracle, run_oracle = _eloftr_oracle(args, state, pair)
    with torch.inference_mode():
        results = {"export_fp32": _ours_arrays(ours32(*pair)), "export_fp16": _ours_arrays(ours16(*pair))}
    for precision in ("fp32", "fp16"):
        _guard(
            results,
            f"fast_{precision}",
            lambda p=precision: _ours_arrays(build_fast_runner(ours32, precision=p)(*pair)),
        )
    results.update(_eloftr_references(oracle, run_oracle))
    fidelity: dict[str, object] = {}
    for base in ("reference_fp32", ELOFTR_BASELINE, "export_fp32"):
        for name in ("reference_fp32", "reference_fp16", "export_fp32", "export_fp16", "fast_fp32", "fast_fp16"):
            if name != base and "error" not in results[name] and "error" not in results[base]:
                fidelity[f"{name}_vs_{base}"] = eloftr_deviation(results[name], results[base])
    report["fidelity"] = fidelity
    report["gate"] = _eloftr_gate(fidelity, ("export_fp32", "export_fp16", "fast_fp32", "fast_fp16"))
    _guard(
        report,
        "reference_fp32_latency_ms",
        lambda: time_cuda(lambda: run_oracle(False), warmup=5, repeats=args.repeats),
    )
    _guard(
        report, "reference_fp16_latency_ms", lambda: time_cuda(lambda: run_oracle(True), warmup=5, repeats=args.repeats)
    )
    with torch.inference_mode():
        report["export_fp32_eager_latency_ms"] = time_cuda(lambda: ours32(*pair), warmup=5, repeats=args.repeats)
        report["export_fp16_eager_latency_ms"] = time_cuda(lambda: ours16(*pair), warmup=5, repeats=args.repeats)
    configs = {
        "fast_fp16": {},
        "fast_fp16_no_cuda_graph": {"cuda_graph": False},
        "fast_fp16_channels_last": {"channels_last": True},
        "fast_fp32": {"precision": "fp32"},
    }
    for name, options in configs.items():
        options = dict(options)
        precision = str(options.pop("precision", "fp16"))
        _guard(report, name, lambda p=precision, o=options: _runner_report(ours32, p, args, **o))
    _guard(report, "fast_fp16_throughput", lambda: _throughput(ours32, "fp16", args))

    def stages() -> dict[str, object]:
        runner = build_fast_runner(ours32, precision="fp16", cuda_graph=False)
        m = runner.module
        named = {"backbone": m.backbone, "coarse_transformer": m.loftr_coarse, "fine_preprocess": m.fine_preprocess}
        return _stage_report(runner, pair, named, args)

    _guard(report, "fast_fp16_stages", stages)


# -------------------------------------------------------------------------------------- torch.compile


def bench_compile(args: argparse.Namespace, report: dict) -> None:
    """The fast fp16 runner with ``torch.compile(mode=args.compile)`` next to the uncompiled one; fills ``report``.

    ``startup_s`` of the compiled runner includes the compilation (it happens in the build's warm-up);
    run twice with the same ``TORCHINDUCTOR_CACHE_DIR`` for a cold and a warm start. ``check``: the
    compiled runner's deviation from the uncompiled one on the same inputs (RoMa: warp px / certainty,
    all pixels; ELoFTR: match sets and keypoints, :func:`fidelity_gate.eloftr_deviation`).
    """
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = args.variant == "roma"  # as bench_roma / bench_eloftr time fp16
    report["compile_mode"] = args.compile
    report["inductor_cache_dir"] = os.environ.get("TORCHINDUCTOR_CACHE_DIR", "(default)")
    if args.variant == "roma":
        from roma_gpu_parity import compare

        ours32, _, inputs, *_ = _roma_setup(args, report)
        names = ours32.output_names

        def deviation(ours: tuple, expected: tuple) -> dict:
            return compare(
                dict(zip(names, ours, strict=True)), dict(zip(names, expected, strict=True)), args.upsample_res
            )
    else:
        ours32, _, inputs, state = _eloftr_setup(args, report)
        results = _eloftr_references(*_eloftr_oracle(args, state, inputs))

        def deviation(ours: tuple, expected: tuple) -> dict:
            results.update({"fast_fp16": _ours_arrays(expected), "fast_fp16_compiled": _ours_arrays(ours)})
            fidelity = {
                f"{name}_vs_{ELOFTR_BASELINE}": eloftr_deviation(results[name], results[ELOFTR_BASELINE])
                for name in ("reference_fp16", "fast_fp16", "fast_fp16_compiled")
                if "error" not in results[name] and "error" not in results[ELOFTR_BASELINE]
            }
            return {
                "vs_fast_fp16": eloftr_deviation(results["fast_fp16_compiled"], results["fast_fp16"]),
                "fidelity": fidelity,
                "gate": _eloftr_gate(fidelity, ("fast_fp16", "fast_fp16_compiled")),
            }

    torch.cuda.empty_cache()
    expected = build_fast_runner(ours32, precision="fp16")(*inputs)
    _guard(report, "fast_fp16", lambda: _runner_report(ours32, "fp16", args, inputs=inputs))
    _guard(
        report,
        f"fast_fp16_compile_{args.compile}",
        lambda: _runner_report(
            ours32,
            "fp16",
            args,
            inputs=inputs,
            check=lambda runner: deviation(runner(*inputs), expected),
            compile=args.compile,
        ),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variant", choices=("roma", "eloftr"), required=True)
    parser.add_argument("--out", required=True, help="JSON report path")
    parser.add_argument("--profile", help="write the top CUDA kernels of the eager fast fp16 module here")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=100)
    parser.add_argument("--coarse-res", type=int, default=560)
    parser.add_argument("--upsample-res", type=int, default=864)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--threshold", type=float, default=0.1)
    parser.add_argument(
        "--eloftr-checkpoint",
        help="ELoFTR weights to use (e.g. weights/matchanything_eloftr_trained.ckpt) instead of rescaled random ones",
    )
    parser.add_argument(
        "--compile", choices=COMPILE_MODES, help="measure only the fast fp16 runner with this torch.compile mode"
    )
    args = parser.parse_args(argv)
    report = Report(Path(args.out), **run_facts(), repeats=args.repeats, warmup=args.warmup, seed=args.seed)
    _ROOT.append(report)
    try:
        if args.compile:
            bench_compile(args, report)
        else:
            (bench_roma if args.variant == "roma" else bench_eloftr)(args, report)
    finally:
        report.save()
    print(json.dumps(report, default=str)[:8000])
    return 0


if __name__ == "__main__":
    sys.exit(main())
