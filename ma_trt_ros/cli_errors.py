"""How every command-line tool of the project ends on a user error: one ``error: ...`` line, exit 2.

Shared by ``ma-trt-convert``, ``ma-trt-match``, ``ma-trt-bag``, ``ma-trt-replay`` and
``matchanything_node``. No heavy imports: the tools import it on every start.

- :func:`fail` prints one line (what happened and what to do) on stderr and returns :data:`USER_ERROR`.
- :func:`run_command` runs a tool's body and turns its user errors (the exception types it names, and
  any ``OSError``: a missing, unreadable or unwritable file) into that line; a closed stdout (``| head``)
  ends the tool quietly with :data:`PIPE_CLOSED`; Ctrl-C with :data:`INTERRUPTED`. Anything else is a
  bug and keeps its traceback.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

USER_ERROR = 2
PIPE_CLOSED = 141  # what a shell reports for a process ended by SIGPIPE (128 + 13)
INTERRUPTED = 130  # 128 + SIGINT


def one_line(error: BaseException) -> str:
    """The text of ``error`` on one line; an ``OSError`` as ``FILE: what went wrong``."""
    if isinstance(error, OSError) and error.filename is not None and error.strerror:
        text = f"{error.filename}: {error.strerror.lower()}"
    else:
        text = str(error) or type(error).__name__
    return " ".join(text.split())


def fail(message: str) -> int:
    """Print ``error: message`` (one line) on stderr; returns :data:`USER_ERROR` for the tool to exit with."""
    print(f"error: {' '.join(message.split())}", file=sys.stderr, flush=True)
    return USER_ERROR


def _quiet_closed_stdout() -> int:
    """Point stdout at /dev/null (Python's flush at exit would fail again) and return :data:`PIPE_CLOSED`."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    return PIPE_CLOSED


def run_command(body: Callable[[], int], user_errors: tuple[type[BaseException], ...] = ()) -> int:
    """Run ``body()`` and return its exit status; user errors become one line (see the module docstring)."""
    try:
        status = int(body() or 0)
        sys.stdout.flush()
        return status
    except BrokenPipeError:
        return _quiet_closed_stdout()
    except KeyboardInterrupt:
        return INTERRUPTED
    except (*user_errors, OSError) as error:
        return fail(one_line(error))
