"""Work-arounds for bugs of the PyTorch releases the fast path compiles with (``torch.compile``, Inductor).

Each fix checks that the bug is there before it changes anything, so it is a no-op on releases without it,
and it restores the behaviour PyTorch's own code intends; nothing here changes what a compiled model computes.
"""

from __future__ import annotations

import inspect


def tolerate_bare_cant_split() -> bool:
    """Let Inductor decline a fusion it cannot split instead of failing the whole compilation.

    In PyTorch 2.11, ``SIMDKernel._split_iteration_ranges`` (``torch/_inductor/codegen/simd.py``, the
    split of a pointwise range into three for a batched matmul followed by a pointwise node) raises its
    ``CantSplit`` bare, while ``CantSplit.__init__`` requires ``expr`` and ``remaining``. The ``TypeError``
    escapes ``is_compatible``'s ``except CantSplit`` (which answers "not compatible": no fusion) and ends
    the compilation: measured on an H100 with the compiled ELoFTR fast path, 2026-12-07
    (``bench/results/eloftr_speed_trained_h100_run1.log``). Giving both arguments defaults makes the bare
    raise a ``CantSplit`` again. PyTorch 2.13 passes both arguments everywhere; the patch is harmless there.

    Returns:
        True when the class was patched now or before, False when it needs no patch or does not exist.
    """
    try:
        from torch._inductor.codegen.simd import CantSplit
    except ImportError:
        return False
    if getattr(CantSplit, "_ma_trt_bare_raise", False):
        return True
    required = [
        parameter
        for name, parameter in inspect.signature(CantSplit.__init__).parameters.items()
        if name != "self" and parameter.default is inspect.Parameter.empty
    ]
    if not required:
        return False
    original = CantSplit.__init__

    def init(self: CantSplit, expr: object = None, remaining: object = None) -> None:
        original(self, expr, remaining)

    CantSplit.__init__ = init
    CantSplit._ma_trt_bare_raise = True
    return True
