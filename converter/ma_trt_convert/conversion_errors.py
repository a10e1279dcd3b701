"""The error type of the export/verify/build/check/info commands and how a command reports it."""

from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Callable

from ma_trt_convert.engine_sidecar import SidecarError


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
