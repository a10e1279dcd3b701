"""Where RoMa's fp16 moves its results: each stage's deviation from fp32, ours against romatch's own fp16.

    python bench/roma_fp16_stages.py --out stages.json [--pairs 8] [--compiled]
    python bench/roma_fp16_stages.py --out smoke.json --device cpu --coarse-res 112 --upsample-res 168 \\
        --pairs 2 --precision fp32          # CPU smoke run of the plumbing (every deviation at rounding level)

The fidelity gate (``fidelity_gate.py``, as ``roma_speed.py`` runs it) judges one image pair, and on
synthetic weights its tails are decided by pass-1 arg-max near-ties: a flipped cell moves its flow by
whole anchor cells, and the one-cell halo the gate masks does not hold all of a flip's reach. This script
separates the two on ``--pairs`` seeded image pairs, with the gate's baseline (romatch fp32, its autocast
removed) and allowance (romatch fp16):

* **flips**: every candidate run as it is; its pass-1 arg-max anchors against the baseline's, counted;
* **forced**: every candidate, romatch fp16 included, run with the baseline's anchors forced into its
  coordinate decoder, so that nothing flips; what is left is the continuous fp16 deviation. Its warp and
  certainty are judged by the gate's criteria, and the tensors at the stage boundaries of pass 1 and 2
  (:data:`STAGES`) are compared with the baseline's as a relative RMS deviation
  ``‖candidate − baseline‖₂ / ‖baseline‖₂`` (all elements, fp32 arithmetic): the first stage at which ours
  grows beyond romatch fp16's names the operations that move the result;
* **pooled gate**: :func:`fidelity_gate.pooled_roma_deviation` of the unforced runs over all pairs (the
  gate's criteria on more pixels and cells) and of the forced ones.

Candidates: our export module in fp16 (the reference's fp16 regions as explicit casts, no rewrites), the
fast path in fp16 uncompiled (its defaults on this device), and with ``--compiled`` the same compiled by
regions (run without CUDA graphs; stage taps only outside the compiled regions).
"""

from __future__ import annotations

import argparse
import contextlib
import math
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import torch
from torch import nn

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import fast_path  # noqa: E402  (puts the repository on sys.path)
from bench_timing import run_facts  # noqa: E402
from fidelity_gate import pooled_roma_deviation, roma_deviation, roma_verdict  # noqa: E402
from roma_gpu_parity import anchor_modes_of, write_synthetic_release  # noqa: E402
from roma_rounding_floor import reference_autocast_off, reference_modes  # noqa: E402

from ma_trt_convert.fast import build_fast_runner  # noqa: E402
from ma_trt_convert.roma import build_export_module  # noqa: E402

REFERENCE, BASELINE = "reference_fp16", "reference_fp32_autocast_off"
PASS_SCALES = {1: (16, 8, 4, 2, 1), 2: (8, 4, 2, 1)}
# stage name -> (our module, romatch module, which of its calls, tensor of (inputs, output) in a shared layout)
Tap = tuple[Callable[[nn.Module], nn.Module], Callable[[nn.Module], nn.Module], int, Callable]


def _both(_inputs: tuple, output: tuple) -> torch.Tensor:
    """A refiner's ``(Δflow [B, 2, h, w], Δcertainty [B, 1, h, w])`` as one ``[B, 3, h, w]`` tensor."""
    return torch.cat([t.float() for t in output], dim=1)


def _anchor_logits(output: torch.Tensor) -> torch.Tensor:
    """Our decoder's ``to_out`` ``[B, h·w, 4097]`` → the anchor logits ``[B, h·w, 4096]``."""
    return output[..., :-1]


def _reference_anchor_logits(output: tuple) -> torch.Tensor:
    """romatch's decoder output ``(logits [B, 4096, h, w], certainty, …)`` → ``[B, h·w, 4096]``."""
    return output[0].flatten(2).transpose(1, 2)


def _stages() -> dict[str, Tap]:
    stages: dict[str, Tap] = {
        # DINOv2's patch features entering the scale-16 projection [2B, 1024, g, g]
        "dinov2": (lambda m: m.proj["16"][0], lambda r: r.decoder.proj["16"], 0, lambda i, o: i[0]),
        # the projection (BatchNorm folded into ours) [2B, 512, g, g]
        "projection_16": (lambda m: m.proj["16"][0], lambda r: r.decoder.proj["16"], 0, lambda i, o: o),
        # the GP posterior [2B, 512, g, g]
        "gp_posterior": (lambda m: m.gp, lambda r: r.decoder.gps["16"], 0, lambda i, o: o),
        # the coordinate decoder's anchor logits [2B, g·g, 4096]
        "anchor_logits": (
            lambda m: m.coordinate_decoder.to_out,
            lambda r: r.decoder.embedding_decoder,
            0,
            lambda i, o: _anchor_logits(o) if isinstance(o, torch.Tensor) else _reference_anchor_logits(o),
        ),
    }
    for pass_, scales in PASS_SCALES.items():
        for scale in scales:
            call = 1 if pass_ == 2 else 0
            stages[f"refiner_{scale}_pass{pass_}"] = (
                lambda m, s=scale: m.refiners[str(s)],
                lambda r, s=scale: r.decoder.conv_refiner[str(s)],
                call,
                _both,
            )
    return stages


STAGES = _stages()


def _compiled(module: nn.Module) -> bool:
    """Whether ``module`` or a module inside it runs through ``nn.Module.compile`` (no hooks taken there)."""
    return any(getattr(sub, "_compiled_call_impl", None) is not None for sub in module.modules())


@contextlib.contextmanager
def tapped(model: nn.Module, ours: bool) -> Iterator[dict[str, torch.Tensor]]:
    """While open, the tensors of :data:`STAGES` of ``model`` (ours: a ``RomaNetwork``; else romatch's
    ``RegressionMatcher``) are recorded, fp32 on the model's device, by stage name."""
    seen: dict[str, torch.Tensor] = {}
    calls: dict[str, int] = {}
    handles = []
    for name, (our_module, reference_module, call, tensor) in STAGES.items():
        module = our_module(model) if ours else reference_module(model)
        if _compiled(module):
            continue

        def hook(_m: nn.Module, inputs: tuple, output: object, name: str = name, call: int = call, tensor=tensor):
            index = calls.get(name, 0)
            calls[name] = index + 1
            if index == call:
                seen[name] = tensor(inputs, output).detach().float().clone()

        handles.append(module.register_forward_hook(hook))
    try:
        yield seen
    finally:
        for handle in handles:
            handle.remove()


def relative_deviation(candidate: torch.Tensor, baseline: torch.Tensor) -> dict[str, float]:
    """``‖c − b‖₂ / ‖b‖₂`` and ``max |c − b|`` over all elements (the same layout), fp32."""
    if candidate.shape != baseline.shape:
        raise ValueError(f"stage shapes differ: {tuple(candidate.shape)} against {tuple(baseline.shape)}")
    delta = candidate.float() - baseline.float()
    return {"relative_rms": (delta.norm() / baseline.float().norm()).item(), "max_abs": delta.abs().max().item()}


@contextlib.contextmanager
def reference_anchors_forced(modes: torch.Tensor) -> Iterator[None]:
    """While open, romatch's classification read-out uses the anchors ``modes`` ``[B, 1, g, g]`` instead of
    its arg-max: the probability-weighted mean of the anchor and its four index neighbours, as romatch
    computes it (probabilities in the logits' dtype, anchor centres fp32)."""
    import romatch.models.matcher as matcher

    original = matcher.cls_to_flow_refine

    def read_out(logits: torch.Tensor) -> torch.Tensor:
        _, classes, _, _ = logits.shape
        side = round(math.sqrt(classes))
        axis = torch.linspace(-1 + 1 / side, 1 - 1 / side, steps=side, device=logits.device)
        rows, columns = torch.meshgrid(axis, axis, indexing="ij")
        centres = torch.stack((columns, rows), dim=-1).reshape(classes, 2)
        probabilities = logits.softmax(dim=1)
        offsets = torch.tensor([-1, 0, 1, -side, side], device=logits.device).reshape(1, 5, 1, 1)
        index = (modes.to(logits.device) + offsets).clamp(0, classes - 1)
        weights = torch.gather(probabilities, 1, index)[..., None]  # [B, 5, g, g, 1]
        flow = (weights * centres[index]).sum(dim=1) / weights.sum(dim=1)
        return flow  # [B, g, g, 2], as romatch's read-out returns it

    matcher.cls_to_flow_refine = read_out
    try:
        yield
    finally:
        matcher.cls_to_flow_refine = original


class Candidate:
    """One model to compare: runs a pair unforced (its arg-max anchors recorded) or with anchors forced."""

    def __init__(self, name: str, network: nn.Module, ours: bool, modes_of: Callable) -> None:
        """``network``: the module whose stages are tapped (ours: a ``RomaNetwork``, else romatch's model);
        ``modes_of(images, forced anchors or None)`` returns ``(outputs on the CPU, anchors [2, 1, g, g])``."""
        self.name, self.network, self.ours, self._modes_of = name, network, ours, modes_of

    def as_is(self, images: tuple) -> tuple[dict, torch.Tensor]:
        """``(outputs, pass-1 anchors [2, 1, g, g])``."""
        return self._modes_of(images, None)

    def forced(self, images: tuple, modes: torch.Tensor) -> tuple[dict, dict[str, torch.Tensor]]:
        """``(outputs, stage tensors)`` with ``modes`` forced."""
        with tapped(self.network, ours=self.ours) as seen:
            outputs, _ = self._modes_of(images, modes)
        return outputs, dict(seen)


def _ours(name: str, module: nn.Module, run: Callable[..., tuple], output_names: tuple[str, ...]) -> Candidate:
    """A candidate of our code: ``module`` holds the ``RomaNetwork`` (``.matcher``) that ``run`` calls."""

    def modes_of(images: tuple, forced: torch.Tensor | None) -> tuple[dict, torch.Tensor]:
        with anchor_modes_of(module, forced=forced) as seen, torch.inference_mode():
            outputs = dict(zip(output_names, run(*images), strict=True))
        return {k: v.float().cpu() for k, v in outputs.items()}, seen[0].cpu()

    return Candidate(name, module.matcher, True, modes_of)


def _reference(name: str, model: nn.Module, autocast_off: bool) -> Candidate:
    """romatch as a candidate (fp16: its autocast; the baseline: fp32 with the autocast removed)."""
    from oracles.roma_reference import match_reference

    cudnn_tf32 = not autocast_off  # as fast_path._roma_references runs romatch fp16 (fp16 convolutions alike)

    def modes_of(images: tuple, forced: torch.Tensor | None) -> tuple[dict, torch.Tensor]:
        torch.backends.cudnn.allow_tf32 = cudnn_tf32
        context = reference_anchors_forced(forced) if forced is not None else contextlib.nullcontext()
        try:
            with context, reference_autocast_off() if autocast_off else contextlib.nullcontext():
                outputs = match_reference(model, *images)
        finally:
            torch.backends.cudnn.allow_tf32 = False
        modes = reference_modes(outputs) if forced is None else forced
        return {k: v.float().cpu() for k, v in outputs.items()}, modes.cpu()

    return Candidate(name, model, False, modes_of)


def _summarise_stages(per_pair: list[dict[str, dict[str, float]]]) -> dict[str, dict[str, float]]:
    """Per stage: mean and max over pairs of the relative RMS deviation, max of max |Δ|."""
    out = {}
    for stage in STAGES:
        values = [pair[stage] for pair in per_pair if stage in pair]
        if values:
            rms = [v["relative_rms"] for v in values]
            out[stage] = {
                "relative_rms_mean": sum(rms) / len(rms),
                "relative_rms_max": max(rms),
                "max_abs": max(v["max_abs"] for v in values),
            }
    return out


def build_candidates(args: argparse.Namespace, report: dict) -> tuple[Candidate, list[Candidate]]:
    """The baseline and the candidates (romatch fp16 first), on ``args.device``."""
    from oracles.roma_reference import build_reference

    coarse, up, device = args.coarse_res, args.upsample_res, args.device
    amp = torch.float16 if args.precision == "fp16" else torch.float32
    with tempfile.TemporaryDirectory() as tmp:
        roma_path, dinov2_path, roma_state, dinov2_state = write_synthetic_release(Path(tmp), args.seed)
        ours32 = build_export_module(roma_path, dinov2_path, coarse_res=coarse, upsample_res=up).to(device)
        ours16 = build_export_module(
            roma_path, dinov2_path, coarse_res=coarse, upsample_res=up, precision=args.precision
        ).to(device)

    def reference(dtype: torch.dtype) -> nn.Module:
        return build_reference(
            roma_state, dinov2_state, coarse_res=coarse, upsample_res=up, amp_dtype=dtype, device=device
        )

    baseline = _reference(BASELINE, reference(torch.float32), autocast_off=True)
    names = ours32.output_names
    candidates = [
        _reference(REFERENCE, reference(amp), autocast_off=False),
        _ours(f"export_{args.precision}", ours16, ours16, names),
    ]
    variants = {f"fast_{args.precision}": {}}
    if args.compiled:
        variants[f"fast_{args.precision}_compiled_regions"] = {"compile": "default"}
    for name, options in variants.items():
        start = time.perf_counter()
        runner = build_fast_runner(ours32, device=device, precision=args.precision, cuda_graph=False, **options)
        runner(
            *fast_path.roma_images(args.seed, coarse, up, device)
        )  # compiles (compiled variant) before any timing matters
        report[f"{name}_build_s"] = time.perf_counter() - start
        candidates.append(_ours(name, runner.module, runner, names))
    return baseline, candidates


def compare(args: argparse.Namespace, report: dict) -> None:
    """Run every pair through the baseline and the candidates; fill ``report``."""
    baseline, candidates = build_candidates(args, report)
    unforced: dict[str, list] = {c.name: [] for c in candidates}
    forced: dict[str, list] = {c.name: [] for c in candidates}
    stages: dict[str, list] = {c.name: [] for c in candidates}
    singles: dict[str, list] = {c.name: [] for c in candidates}
    for index in range(args.pairs):
        images = fast_path.roma_images(args.seed + 1 + index, args.coarse_res, args.upsample_res, args.device)
        base, base_modes = baseline.as_is(images)
        _, base_stages = baseline.forced(images, base_modes.to(args.device))
        for candidate in candidates:
            outputs, modes = candidate.as_is(images)
            unforced[candidate.name].append((outputs, base, modes, base_modes))
            singles[candidate.name].append(roma_deviation(outputs, base, modes, base_modes))
            outputs, taps = candidate.forced(images, base_modes.to(args.device))
            forced[candidate.name].append((outputs, base, base_modes, base_modes))
            stages[candidate.name].append(
                {name: relative_deviation(taps[name], base_stages[name]) for name in taps if name in base_stages}
            )
        print(f"pair {index + 1}/{args.pairs}", flush=True)
    allowance = pooled_roma_deviation(unforced[REFERENCE])
    allowance_forced = pooled_roma_deviation(forced[REFERENCE])
    for candidate in candidates:
        name = candidate.name
        entry = {
            "pooled": pooled_roma_deviation(unforced[name]),
            "forced_pooled": pooled_roma_deviation(forced[name]),
            "stages": _summarise_stages(stages[name]),
            "per_pair_flips": [{d: s[d]["flipped_cells"] for d in ("0to1", "1to0")} for s in singles[name]],
        }
        if name != REFERENCE:
            entry["verdict_pooled"] = roma_verdict(entry["pooled"], allowance)
            entry["verdict_forced"] = roma_verdict(entry["forced_pooled"], allowance_forced)
            entry["verdict_per_pair"] = [
                roma_verdict(single, reference)["pass"]
                for single, reference in zip(singles[name], singles[REFERENCE], strict=True)
            ]
        report[name] = entry
        report.save()


def print_table(report: dict) -> None:
    """Relative RMS deviation (mean over pairs) per stage and candidate, and the verdicts."""
    names = [n for n, v in report.items() if isinstance(v, dict) and "stages" in v]
    print("stage".ljust(22) + "".join(n[:26].rjust(28) for n in names))
    for stage in STAGES:
        cells = [report[n]["stages"].get(stage, {}).get("relative_rms_mean") for n in names]
        print(stage.ljust(22) + "".join(("-" if c is None else f"{c:.3e}").rjust(28) for c in cells))
    for name in names:
        entry = report[name]
        flips = {d: entry["pooled"][d]["flipped_cells"] for d in ("0to1", "1to0")}
        verdicts = {k: entry[k]["pass"] for k in ("verdict_pooled", "verdict_forced") if k in entry}
        print(f"{name}: flips {flips}, {verdicts}, per pair {entry.get('verdict_per_pair')}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="JSON report path")
    parser.add_argument("--pairs", type=int, default=8, help="seeded image pairs")
    parser.add_argument("--compiled", action="store_true", help="also the fast path compiled by regions")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--precision", choices=("fp16", "fp32"), default="fp16", help="fp32: plumbing smoke run")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--coarse-res", type=int, default=560)
    parser.add_argument("--upsample-res", type=int, default=864)
    args = parser.parse_args(argv)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    report = fast_path.Report(
        Path(args.out), **run_facts(), pairs=args.pairs, seed=args.seed, precision=args.precision,
        coarse_res=args.coarse_res, upsample_res=args.upsample_res, baseline=BASELINE, allowance=REFERENCE,
    )  # fmt: skip
    began = time.perf_counter()
    compare(args, report)
    report["seconds"] = time.perf_counter() - began
    report.save()
    print_table(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
