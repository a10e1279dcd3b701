"""The node's executor: rclpy's multi-threaded executor, with its main loop waiting for each callback it
hands to the thread pool to start.

rclpy's ``MultiThreadedExecutor`` (9.x, Kilted) yields a ready callback again on every turn of its loop
until a pool thread has started it, and submits it to the pool each time. When the pool threads are
slow to start (Python's GIL held by the loop itself, a lossless image callback waiting for room), the
loop spins: measured with the lossless replay test (300 pairs, 600 images), 250,000 submissions and
up to 2,500 pending futures scanned on every turn, the main thread at 100 % of a core, and the
inference thread starved of the GIL (9 s became 66 s). Waiting, with the GIL released, until the
submitted callback has started (at most :data:`START_WAIT_S`) removes the re-submissions; a callback
that cannot start sooner (all pool threads busy) is looked at again on the next turn, as before.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from rclpy.executors import MultiThreadedExecutor

START_WAIT_S = 0.01  # longest wait for a submitted callback to start, seconds
POLL_S = 0.0002  # sleep between looks, seconds (releases the GIL)


class PacedMultiThreadedExecutor(MultiThreadedExecutor):
    """``MultiThreadedExecutor`` whose loop waits for each submitted callback to start (module docstring)."""

    def _spin_once_impl(
        self, timeout_sec: float | None = None, wait_condition: Callable[[], bool] = lambda: False
    ) -> None:
        super()._spin_once_impl(timeout_sec, wait_condition)
        if not self._futures:
            return
        latest = self._futures[-1]  # the callback just submitted (or the newest still pending)
        deadline = time.monotonic() + START_WAIT_S
        while not (latest.executing() or latest.done()) and time.monotonic() < deadline:
            time.sleep(POLL_S)
