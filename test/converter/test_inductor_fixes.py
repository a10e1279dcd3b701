"""The Inductor work-around of the fast path (``fast/inductor_fixes.py``) on the installed PyTorch."""

from __future__ import annotations

import pytest

from ma_trt_convert.fast.inductor_fixes import tolerate_bare_cant_split

simd = pytest.importorskip("torch._inductor.codegen.simd")


def _split_or_decline() -> bool:
    """What Inductor's ``is_compatible`` does around a split that raises ``CantSplit`` bare (as 2.11's does)."""
    try:
        raise simd.CantSplit
    except simd.CantSplit:
        return False


def test_a_bare_cant_split_declines_the_fusion_instead_of_failing():
    tolerate_bare_cant_split()
    assert _split_or_decline() is False


def test_the_patch_keeps_the_arguments_and_applies_once():
    patched = tolerate_bare_cant_split()
    init = simd.CantSplit.__init__
    assert tolerate_bare_cant_split() is patched
    assert simd.CantSplit.__init__ is init  # not wrapped twice
    error = simd.CantSplit(6, 4)
    assert (error.expr, error.remaining) == (6, 4)
    assert str(error) == "6 not divisible by 4"
