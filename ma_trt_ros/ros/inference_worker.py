"""The inference thread: owns the matcher (GPU backends must be opened, run and closed on one thread)
and takes pairs from a bounded queue with policy ``latest`` or ``lossless``.

Pure Python, no rclpy. Two kinds of work run on the thread, one at a time:

- calls (:meth:`InferenceWorker.call`): a function run on the thread while the caller waits for its
  value or exception (open the matcher at configure, close it at cleanup); they go before pairs;
- items (:meth:`InferenceWorker.submit`): ``process(item)`` for each accepted item, in submission
  order. Items are accepted only between :meth:`resume` and :meth:`pause`.

Queue policies (``capacity`` = most items waiting, not counting the one in progress):

- ``latest``: a full queue discards its oldest waiting item to take the new one (outcome
  ``replaced``): the worker always takes the newest work, and the delay from submission to
  processing stays below ``capacity + 1`` processing times.
- ``lossless``: every item is processed in order; :meth:`~InferenceWorker.submit` waits while the
  queue is full (the caller is held back: the node's input callback then takes no further image, and
  DDS holds the rest). Only :meth:`~InferenceWorker.pause` ends such a wait, with outcome ``refused``.
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

SUBMIT_OUTCOMES = ("queued", "replaced", "refused")


class InferenceWorker:
    """The thread (see module docstring); it starts paused.

    Args:
        process: called on the thread with each item; exceptions go to ``on_error``.
        policy: ``latest`` or ``lossless``.
        capacity: most items waiting, >= 1.
        on_error: called on the thread with (item, exception) when ``process`` raises.
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
        self._calls: collections.deque[tuple[Callable[[], Any], Future]] = collections.deque()
        self._changed = threading.Condition()
        self._accepting = False
        self._stopping = False
        self._busy = False
        self.replaced = 0
        self.refused = 0
        self.processed = 0
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def call(self, function: Callable[[], Any], timeout_s: float | None = None) -> Any:
        """Run ``function()`` on the thread (after the item in progress) and return its value or raise its exception."""
        future: Future = Future()
        with self._changed:
            if self._stopping:
                raise RuntimeError("the inference thread has stopped")
            self._calls.append((function, future))
            self._changed.notify_all()
        return future.result(timeout=timeout_s)

    def resume(self) -> None:
        """Accept items from now on."""
        with self._changed:
            self._accepting = True

    def pause(self, timeout_s: float = 30.0) -> int:
        """Stop accepting items (a waiting :meth:`submit` returns ``refused``), discard the waiting ones, wait
        for the one in progress; returns the discarded count."""
        with self._changed:
            self._accepting = False
            discarded = len(self._queue)
            self._queue.clear()
            self._changed.notify_all()
            self._changed.wait_for(lambda: not self._busy, timeout=timeout_s)
            return discarded

    def submit(self, item: Any) -> str:
        """Queue ``item``; returns one of :data:`SUBMIT_OUTCOMES`.

        ``latest`` never blocks: ``queued``, or ``replaced`` when the oldest waiting item was discarded.
        ``lossless`` waits while the queue is full: ``queued``, or ``refused`` when :meth:`pause` ended
        the wait. Both return ``refused`` at once while items are not accepted.
        """
        with self._changed:
            if self.policy == "lossless":
                self._changed.wait_for(lambda: not self._accepting or len(self._queue) < self.capacity)
            if not self._accepting:
                self.refused += 1
                return "refused"
            outcome = "queued"
            if len(self._queue) >= self.capacity:
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
        """Wait until no item waits or runs; False on timeout."""
        with self._changed:
            return self._changed.wait_for(lambda: not self._queue and not self._busy, timeout=timeout_s)

    def stop(self, timeout_s: float = 30.0) -> None:
        """Pause, run the calls already queued, and end the thread."""
        self.pause(timeout_s)
        with self._changed:
            self._stopping = True
            self._changed.notify_all()
        self._thread.join(timeout=timeout_s)

    def _next(self) -> tuple[str, Any]:
        """Wait for work: ("call", (function, future)), ("item", item) or ("stop", None)."""
        with self._changed:
            self._changed.wait_for(lambda: self._calls or self._queue or self._stopping)
            if self._calls:
                return "call", self._calls.popleft()
            if self._queue:
                self._busy = True
                self._changed.notify_all()  # a lossless submit waits for this room
                return "item", self._queue.popleft()
            return "stop", None

    def _run(self) -> None:
        while True:
            kind, work = self._next()
            if kind == "stop":
                return
            if kind == "call":
                function, future = work
                try:
                    future.set_result(function())
                except BaseException as error:  # handed to the caller
                    future.set_exception(error)
                continue
            try:
                self._process(work)
            except Exception as error:  # the thread must survive any bad pair
                self._on_error(work, error)
            finally:
                with self._changed:
                    self._busy = False
                    self.processed += 1
                    self._changed.notify_all()
