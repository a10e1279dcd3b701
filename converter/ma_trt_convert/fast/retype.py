"""Swapping a module's class for a subclass that only overrides ``forward``-time methods."""

from __future__ import annotations

from torch import nn


def retype(module: nn.Module, cls: type[nn.Module]) -> None:
    """Give ``module`` the class ``cls``, a subclass of its class that adds no parameters or buffers.

    The module keeps its parameters, buffers and children (and so its state-dict keys); only the
    methods ``cls`` overrides change. Used to swap a faster but equivalent computation into a copy
    of an export module without rebuilding it.

    Raises:
        TypeError: ``cls`` is not a subclass of ``type(module)``.
    """
    if not issubclass(cls, type(module)):
        raise TypeError(f"{cls.__name__} is not a subclass of {type(module).__name__}")
    module.__class__ = cls


def retype_all(root: nn.Module, base: type[nn.Module], cls: type[nn.Module]) -> int:
    """:func:`retype` every sub-module of ``root`` whose class is exactly ``base`` to ``cls``; returns the count."""
    targets = [m for m in root.modules() if type(m) is base]
    for module in targets:
        retype(module, cls)
    return len(targets)
