"""The window dot products of RoMa's gathered local correlation as one Triton kernel: gather and dot in one pass.

:func:`.correlation.chunked_window_dots` gathers each cell's ``(2r+2)²`` image-1 rows into a new fp32 tensor
and multiplies it with the cell's query in a batched GEMV: the gathered window is written to memory and
read back (at 560/864 on an H200: 4.7 ms of gather and 3.6 ms of ``bmm`` per pair, run 4's profile). The
kernel here reads each row straight from the table in the features' own dtype (fp16 in an fp16 runner:
half the bytes; neighbouring cells share most rows, which the L2 cache serves), converts it to fp32 and
accumulates the dot product in fp32, writing only the ``(2r+2)²`` results per cell.

Same values as the chunked form up to the order of the fp32 sums (fp16 features are exact in fp32).
Registered as the operator ``ma_trt::window_dots`` (``torch.library.custom_op`` with its output shape
declared), so ``torch.compile`` keeps it as one opaque kernel between the fused code around it, and a CUDA
graph captures its launch like any other. Off CUDA (and without Triton) :func:`triton_window_dots` is the
chunked form; the kernel runs on a CPU only under Triton's interpreter (``TRITON_INTERPRET=1``), which
the GPU test script and local checks use.
"""

from __future__ import annotations

import torch

from ma_trt_convert.fast.correlation import chunked_window_dots, window_table
from ma_trt_convert.fast.triton_support import AVAILABLE, kernel_runs_on, tl, triton

# elements of one [block_n, block_c] tile of rows read per step (block_n: the window padded to a power of 2)
TILE_ELEMENTS = 8192


if AVAILABLE:

    @triton.jit
    def _window_dots_kernel(
        table,
        query,
        index,
        out,
        channels: tl.constexpr,
        window: tl.constexpr,
        block_n: tl.constexpr,
        block_c: tl.constexpr,
    ):
        """One program per cell: ``out[cell, j] = Σ_c table[index[cell, j], c] · query[cell, c]`` in fp32."""
        cell = tl.program_id(0).to(tl.int64)
        offsets = tl.arange(0, block_n)
        in_window = offsets < window
        rows = tl.load(index + cell * window + offsets, mask=in_window, other=0)
        acc = tl.zeros([block_n], dtype=tl.float32)
        for start in range(0, channels, block_c):
            lanes = start + tl.arange(0, block_c)
            in_channels = lanes < channels
            q = tl.load(query + cell * channels + lanes, mask=in_channels, other=0.0)
            tile = tl.load(
                table + rows[:, None] * channels + lanes[None, :],
                mask=in_window[:, None] & in_channels[None, :],
                other=0.0,
            )
            acc += tl.sum(tile.to(tl.float32) * q[None, :], axis=1)
        tl.store(out + cell * window + offsets, acc, mask=in_window)

    @torch.library.custom_op("ma_trt::window_dots", mutates_args=())
    def window_dots_kernel(table: torch.Tensor, query: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        """The kernel on a :func:`.correlation.window_table` (any float dtype), ``query`` ``[B, cells, C]`` fp32
        and ``index`` ``[B, cells, N]`` int64; returns ``[B, cells, N]`` fp32."""
        B, cells, N = index.shape
        C = query.shape[-1]
        out = torch.empty((B, cells, N), dtype=torch.float32, device=query.device)
        block_n = triton.next_power_of_2(N)
        block_c = max(16, min(triton.next_power_of_2(C), TILE_ELEMENTS // block_n))
        _window_dots_kernel[(B * cells,)](
            table, query.contiguous(), index.contiguous(), out, channels=C, window=N, block_n=block_n, block_c=block_c
        )
        return out

    @window_dots_kernel.register_fake
    def _window_dots_shape(table: torch.Tensor, query: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        return query.new_empty(index.shape, dtype=torch.float32)


def triton_window_dots(f1: torch.Tensor, query: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """:func:`.correlation.chunked_window_dots`'s contract, by the kernel where it runs (:func:`kernel_runs_on`):
    the table in ``f1``'s own dtype, dot products accumulated in fp32."""
    if not kernel_runs_on(f1.device):
        return chunked_window_dots(f1, query, index)
    return window_dots_kernel(window_table(f1, f1.dtype), query, index)
