"""Argument types shared by the subcommands (argparse ``type=`` callables)."""

from __future__ import annotations

import argparse

from ma_trt_ros.contract.sizes import parse_size


def size_argument(text: str) -> tuple[int, int]:
    """``HxW`` in pixels -> ``(height, width)``; an argparse error naming the expected form."""
    try:
        return parse_size(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc
