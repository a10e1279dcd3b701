"""The converter's user-facing error types (no heavy imports) and how a command reports them."""

from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Callable

from ma_trt_convert.engine_sidecar import SidecarError


class CheckpointError(ValueError):
    """A weight file that is unreadable or does not have the released layout."""


class ConversionError(RuntimeError):
    """A conversion step that cannot go on; the message says what happened and what to do."""


def reports_errors(run: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Wrap a subcommand so that a :class:`ConversionError`/:class:`SidecarError` prints ``error: ...``, exits 2."""

    @functools.wraps(run)
    def wrapper(args: argparse.Namespace) -> int:
        try:
            return run(args)
        except (ConversionError, SidecarError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2

    return wrapper
