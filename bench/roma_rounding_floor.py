"""How much of the fp32 RoMa port-vs-reference difference on a GPU is rounding, not the port.

    python bench/roma_rounding_floor.py --out floor.json [--coarse-res 560 --upsample-res 864]

With seeded synthetic weights and images (as ``roma_gpu_parity.py``), all fp32 with TF32 off, every
run of our module has its pass-1 anchor arg-max forced to the reference's choice on the same device
(so arg-max near-ties cannot flip), and reports max |Δ| / pixel statistics of:

* ``cpu_ours_vs_reference_newton_schulz``: the port against romatch on the CPU (the port's
  exactness at this resolution);
* ``accelerator_ours_vs_reference_{newton_schulz,dense}``: the same on the accelerator, with the
  Newton–Schulz solve and with the dense solve (``torch.linalg.solve``, not exportable), to separate
  the GP solver's share;
* ``ours_accelerator_vs_ours_cpu``: our module against itself, accelerator vs CPU, both forced to
  the accelerator reference's anchors: how strongly the random-weight network amplifies rounding
  differences alone.

If the CPU comparison is at rounding level and ``ours_accelerator_vs_ours_cpu`` is of the size of
the accelerator comparison, the accelerator's difference is rounding amplification, not a port difference.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import torch

BENCH = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH), str(BENCH.parent / "converter"), str(BENCH.parent / "test")]

from oracles.roma_reference import build_reference, import_romatch, match_reference  # noqa: E402
from roma_gpu_parity import _set_tf32, anchor_modes_of, compare, write_synthetic_release  # noqa: E402

from ma_trt_convert.roma import build_export_module  # noqa: E402


def forced_outputs(module: torch.nn.Module, images: tuple[torch.Tensor, ...], modes: torch.Tensor) -> dict:
    """Our outputs with the decoder's arg-max anchors replaced by ``modes`` ``[2, 1, g, g]``."""
    with anchor_modes_of(module, forced=modes), torch.no_grad():
        return dict(zip(module.output_names, module(*images), strict=True))


@contextlib.contextmanager
def reference_autocast_off() -> Iterator[None]:
    """While open, romatch skips the ``torch.autocast`` it enters on every CUDA device even for fp32.

    romatch's ``get_autocast_params`` (looked up at call time by its encoders, matcher and transformer)
    is replaced by one that disables autocast; the originals are restored on exit.
    """
    import_romatch()
    import romatch.models.encoders
    import romatch.models.matcher
    import romatch.models.transformer

    def without_autocast(device=None, enabled=False, dtype=None):
        return ("cuda" if "cuda" in str(device) else "cpu"), False, torch.float32

    modules = (romatch.models.encoders, romatch.models.matcher, romatch.models.transformer)
    originals = [module.get_autocast_params for module in modules]
    for module in modules:
        module.get_autocast_params = without_autocast
    try:
        yield
    finally:
        for module, original in zip(modules, originals, strict=True):
            module.get_autocast_params = original


def reference_modes(ref: dict[str, torch.Tensor]) -> torch.Tensor:
    """The reference's arg-max anchor per pass-1 cell, ``[2, 1, g, g]``."""
    return ref["anchor_logits"].float().softmax(dim=1).argmax(dim=1, keepdim=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--coarse-res", type=int, default=560)
    parser.add_argument("--upsample-res", type=int, default=864)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--reference-autocast-off",
        action="store_true",
        help="run romatch without the fp32 torch.autocast it enters on CUDA (diagnosis of the CUDA gap)",
    )
    parser.add_argument("--accelerator", default="cuda", help="device compared with the CPU (cpu: smoke test)")
    args = parser.parse_args(argv)
    coarse, up = args.coarse_res, args.upsample_res
    _set_tf32(matmul=False, cudnn=False)
    autocast = reference_autocast_off() if args.reference_autocast_off else contextlib.nullcontext()
    results: dict[str, object] = {
        "coarse_res": coarse,
        "upsample_res": up,
        "seed": args.seed,
        "torch": torch.__version__,
    }
    with autocast, tempfile.TemporaryDirectory() as tmp:
        roma_path, dinov2_path, roma_state, dinov2_state = write_synthetic_release(Path(tmp), args.seed)
        gen = torch.Generator().manual_seed(args.seed)
        images_cpu = tuple(torch.rand(1, 3, s, s, generator=gen) for s in (coarse, coarse, up, up))
        outputs: dict[str, dict[str, torch.Tensor]] = {}
        accelerator_modes: torch.Tensor | None = None
        for label, device in (("accelerator", args.accelerator), ("cpu", "cpu")):
            images = tuple(image.to(device) for image in images_cpu)
            reference = build_reference(roma_state, dinov2_state, coarse_res=coarse, upsample_res=up, device=device)
            _set_tf32(matmul=False, cudnn=False)
            ref = match_reference(reference, *images)
            del reference
            modes = reference_modes(ref)
            accelerator_modes = modes if accelerator_modes is None else accelerator_modes
            solvers = ("newton_schulz", "dense") if label == "accelerator" else ("newton_schulz",)
            for solver in solvers:
                ours = build_export_module(roma_path, dinov2_path, coarse_res=coarse, upsample_res=up, gp_solver=solver)
                ours = ours.to(device)
                results[f"{label}_ours_vs_reference_{solver}"] = compare(forced_outputs(ours, images, modes), ref, up)
                if solver == "newton_schulz":
                    forced = forced_outputs(ours, images, accelerator_modes.to(device))
                    outputs[label] = {name: value.cpu() for name, value in forced.items()}
                del ours
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        results["ours_accelerator_vs_ours_cpu"] = compare(outputs["accelerator"], outputs["cpu"], up)
    text = json.dumps(results, indent=2)
    print(text)
    Path(args.out).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
