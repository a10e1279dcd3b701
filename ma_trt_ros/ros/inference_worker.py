"""One inference thread fed by a bounded queue: ``latest`` drops the oldest waiting work, ``lossless`` keeps order.

Pure Python, no rclpy. :meth:`InferenceWorker.submit` never blocks (subscription callbacks call it);
the worker thread calls ``process(item)`` for each item, one at a time, in submission order.

- ``latest``: when the queue holds ``capacity`` items, the oldest waiting one is discarded to make
  room (counted in :attr:`InferenceWorker.replaced`): the worker always takes the newest work and
  the delay from submission to processing stays below ``capacity + 1`` processing times.
- ``lossless``: every item is processed in order. The queue is still bounded (``capacity``): an
  item that does not fit is refused and counted in :attr:`InferenceWorker.refused`; producers that
  must lose nothing pace themselves on the outputs (``ma-trt-replay --lossless`` does).
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Callable
from typing import Any

SUBMIT_OUTCOMES = ("queued", "replaced", "refused")


class InferenceWorker:
    """A worker thread running ``process`` on submitted items.

    Args:
        process: called on the worker thread with each item; exceptions are passed to ``on_error``.
        policy: ``latest`` or ``lossless``.
        capacity: most items waiting (not counting the one being processed), >= 1.
        on_error: called on the worker thread with (item, exception) when ``process`` raises.
        name: thread name.
    """

    def __init__(
        self,
        process: Callable[[Any], None],
        policy: str,
        capacity: int,
        on_error: Callable[[Any, BaseException], None],
        name: str = "inference",
    ):
        if policy not in ("latest", "lossless"):
            raise ValueError(f"queue policy must be 'latest' or 'lossless', got {policy!r}")
        if capacity < 1:
            raise ValueError(f"queue capacity must be >= 1, got {capacity}")
        self.policy = policy
        self.capacity = capacity
        self._process = process
        self._on_error = on_error
        self._queue: collections.deque[Any] = collections.deque()
        self._changed = threading.Condition()
        self._stopping = False
        self._busy = False
        self.replaced = 0
        self.refused = 0
        self.processed = 0
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def submit(self, item: Any) -> str:
        """Queue ``item`` without blocking. Returns what happened (one of :data:`SUBMIT_OUTCOMES`).

        ``queued``: it waits; ``replaced``: it waits and the oldest waiting item was discarded
        (``latest``); ``refused``: the queue was full (``lossless``) or the worker is stopping.
        """
        with self._changed:
            if self._stopping:
                return "refused"
            outcome = "queued"
            if len(self._queue) >= self.capacity:
                if self.policy == "lossless":
                    self.refused += 1
                    return "refused"
                self._queue.popleft()
                self.replaced += 1
                outcome = "replaced"
            self._queue.append(item)
            self._changed.notify_all()
            return outcome

    @property
    def waiting(self) -> int:
        """Items queued and not yet started."""
        with self._changed:
            return len(self._queue)

    def wait_idle(self, timeout_s: float) -> bool:
        """Wait until the queue is empty and nothing is being processed; False on timeout."""
        with self._changed:
            return self._changed.wait_for(lambda: not self._queue and not self._busy, timeout=timeout_s)

    def stop(self, timeout_s: float = 10.0) -> int:
        """Stop after the item in progress; waiting items are discarded. Returns how many were discarded."""
        with self._changed:
            self._stopping = True
            discarded = len(self._queue)
            self._queue.clear()
            self._changed.notify_all()
        self._thread.join(timeout=timeout_s)
        return discarded

    def _run(self) -> None:
        while True:
            with self._changed:
                self._changed.wait_for(lambda: self._queue or self._stopping)
                if self._stopping:
                    return
                item = self._queue.popleft()
                self._busy = True
            try:
                self._process(item)
            except Exception as error:  # the worker must survive any bad pair
                self._on_error(item, error)
            finally:
                with self._changed:
                    self._busy = False
                    self.processed += 1
                    self._changed.notify_all()
