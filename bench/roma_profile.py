"""Where the RoMa port spends its eager time: top operators by device time (torch.profiler).

    python bench/roma_profile.py --precision fp32 --out profile.txt [--coarse-res 560 --upsample-res 864]

Synthetic seed-0 weights and images (as the other RoMa benches), one warm-up call, one profiled call,
TF32 off. Writes the profiler's table sorted by self device time.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

BENCH = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH), str(BENCH.parent / "converter"), str(BENCH.parent / "test")]

from roma_gpu_parity import _set_tf32, write_synthetic_release  # noqa: E402

from ma_trt_convert.roma import build_export_module  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="text file for the operator table")
    parser.add_argument("--precision", choices=("fp32", "fp16"), default="fp32")
    parser.add_argument("--coarse-res", type=int, default=560)
    parser.add_argument("--upsample-res", type=int, default=864)
    parser.add_argument("--rows", type=int, default=25)
    args = parser.parse_args(argv)
    _set_tf32(matmul=False, cudnn=False)
    with tempfile.TemporaryDirectory() as tmp:
        roma_path, dinov2_path, _, _ = write_synthetic_release(Path(tmp), seed=0)
        module = build_export_module(
            roma_path,
            dinov2_path,
            coarse_res=args.coarse_res,
            upsample_res=args.upsample_res,
            precision=args.precision,
        ).cuda()
    gen = torch.Generator().manual_seed(0)
    sizes = (args.coarse_res, args.coarse_res, args.upsample_res, args.upsample_res)
    images = tuple(torch.rand(1, 3, s, s, generator=gen).cuda() for s in sizes)
    with torch.no_grad():
        module(*images)
        torch.cuda.synchronize()
        with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
            module(*images)
            torch.cuda.synchronize()
    table = prof.key_averages().table(sort_by="self_cuda_time_total", row_limit=args.rows)
    print(table)
    Path(args.out).write_text(table + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
