"""The ``torch`` fast path: an export module rewritten for speed and replayed as a CUDA graph.

:func:`build_fast_runner` takes what ``variants.models.build_module`` (or a port's
``build_export_module``) returns and gives a :class:`FastRunner` with the same inputs and outputs.
Variant-specific rewrites live in :mod:`.roma` and :mod:`.eloftr`, registered in :mod:`.variants`.
"""

from __future__ import annotations

from ma_trt_convert.fast.runner import FastRunner, build_fast_runner

__all__ = ["FastRunner", "build_fast_runner"]
