"""ELoFTR's per-row top-k of the coarse confidence as one Triton kernel: each row read once, selected on chip.

:func:`~ma_trt_convert.eloftr.coarse_matching.top_candidates` takes the ``k`` (9) best image-1 cells of every
image-0 cell from the ``[N, L, S]`` confidence matrix (4800 × 4800 at 640×480). ``torch.topk`` does it with a
multi-pass radix select (0.46 ms of the 3.97 ms compiled ELoFTR pair on an H100, 2026-12-07, the largest
single item after the convolutions). Here one program holds a whole row in registers (``S`` padded to a
power of 2) and takes its maximum ``k`` times, each time masking the chosen entry: one read of the row,
``2k`` on-chip reductions.

Same scores as ``torch.topk(conf * interior1, k)``, sorted by decreasing score; among equal scores the lower
column comes first (``torch.topk`` leaves that order unspecified, so equal-score entries, e.g. the zeros of
border columns, may name other columns: every entry above the threshold is the same). Registered as the
operator ``ma_trt::row_topk`` (shape declared for ``torch.compile``); off CUDA it is ``torch.topk``.
"""

from __future__ import annotations

import torch

from ma_trt_convert.eloftr.coarse_matching import masked_topk
from ma_trt_convert.fast.triton_support import AVAILABLE, kernel_runs_on, tl, triton

if AVAILABLE:

    @triton.jit
    def _row_topk_kernel(conf, interior, scores, columns, width: tl.constexpr, k: tl.constexpr, block: tl.constexpr):
        """One program per row: the ``k`` largest of ``conf[row, :] * interior``, largest first."""
        row = tl.program_id(0).to(tl.int64)
        offsets = tl.arange(0, block)
        inside = offsets < width
        x = tl.load(conf + row * width + offsets, mask=inside, other=0.0) * tl.load(
            interior + offsets, mask=inside, other=0.0
        )
        x = tl.where(inside, x, float("-inf"))
        for rank in tl.static_range(k):
            best = tl.max(x, axis=0)
            at = tl.min(tl.where(x == best, offsets, block), axis=0)
            tl.store(scores + row * k + rank, best)
            tl.store(columns + row * k + rank, at.to(tl.int64))
            x = tl.where(offsets == at, float("-inf"), x)

    @torch.library.custom_op("ma_trt::row_topk", mutates_args=())
    def row_topk_kernel(conf: torch.Tensor, interior1: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The kernel on ``conf`` ``[N, L, S]``, ``interior1`` ``[S]`` (fp32): ``(scores, columns)`` ``[N, L, k]``."""
        n, rows, width = conf.shape
        scores = torch.empty((n, rows, k), dtype=torch.float32, device=conf.device)
        columns = torch.empty((n, rows, k), dtype=torch.int64, device=conf.device)
        block = triton.next_power_of_2(width)
        _row_topk_kernel[(n * rows,)](
            conf.contiguous(),
            interior1.contiguous(),
            scores,
            columns,
            width=width,
            k=k,
            block=block,
            num_warps=8 if block >= 4096 else 4,
        )
        return scores, columns

    @row_topk_kernel.register_fake
    def _row_topk_shape(conf: torch.Tensor, interior1: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        shape = (*conf.shape[:2], k)
        return conf.new_empty(shape), conf.new_empty(shape, dtype=torch.int64)


def triton_row_topk(conf: torch.Tensor, interior1: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`masked_topk`'s contract (see the module docstring for ties), by the kernel where it runs."""
    if not kernel_runs_on(conf.device):
        return masked_topk(conf, interior1, k)
    return row_topk_kernel(conf, interior1, k)
