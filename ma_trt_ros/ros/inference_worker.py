"""The inference thread and the output thread: a two-stage pipeline behind a bounded queue with policy
``latest`` or ``lossless``.

Pure Python, no rclpy. Items go through two stages, each on a thread of its own, so that the second
stage of item n - 1 runs while the first stage of item n does:

- inference thread: ``process(item)`` returns a value. It owns the matcher (GPU backends must be
  opened, run and closed on one thread), so everything that touches the matcher runs here;
- output thread: ``finish(value)`` (in the node: build and publish the messages, count them).

Between the stages waits at most one value (the hand-off): the inference thread takes its next item
only while the hand-off is empty, so at most three items are past the queue at once (one being
processed, one handed off, one being finished), memory stays bounded, and a slow ``finish`` holds
the inference thread back, which holds the queue back (and, in ``lossless``, the submitter). Items
leave both stages in submission order. With stage times P (process) and F (finish), seconds per item,
the pipeline passes one item per max(P, F) instead of one per P + F, as far as the two stages can run
at once (Python's GIL lets them overlap where they wait for the GPU or run NumPy, OpenCV or DDS code).
:meth:`~InferenceWorker.pause` and :meth:`~InferenceWorker.wait_idle` wait for the items in both
stages.

Two kinds of work run on the inference thread, one at a time:

- calls (:meth:`InferenceWorker.call`): a function run on the thread while the caller waits for its
  value or exception (open the matcher at configure, close it at cleanup); they go before items;
- items (:meth:`InferenceWorker.submit`): the two stages above for each accepted item, in submission
  order. Items are accepted only between :meth:`resume` and :meth:`pause`.

Queue policies (``capacity`` = most items waiting, not counting those in the stages):

- ``latest``: a full queue discards its oldest waiting item to take the new one (outcome
  ``replaced``): the worker always takes the newest work, and the delay from submission to the end of
  ``finish`` stays below about ``capacity + 1`` times the slower stage plus once the faster one.
- ``lossless``: every item is processed and finished in order; :meth:`~InferenceWorker.submit` waits
  while the queue is full (the caller is held back: the node's input callback then takes no further
  image, and DDS holds the rest). Only :meth:`~InferenceWorker.pause` ends such a wait, with outcome
  ``refused``.

An exception in either stage goes to ``on_error`` with the item (on the thread of that stage); the
item is then done, and both threads go on with the next one.
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

SUBMIT_OUTCOMES = ("queued", "replaced", "refused")


def ignore_value(value: Any) -> None:
    """The default second stage: nothing to finish (the whole work is in ``process``)."""


class InferenceWorker:
    """The two threads (see module docstring); they start paused.

    Args:
        process: called on the inference thread with each item; its value goes to ``finish``.
        policy: ``latest`` or ``lossless``.
        capacity: most items waiting in the queue, >= 1.
        on_error: called with (item, exception) when ``process`` or ``finish`` raises, on the thread of
            that stage.
        name: name of the inference thread; the output thread is ``<name>-output``.
        finish: called on the output thread with each value of ``process``, in submission order.

    Attributes:
        replaced: items discarded by ``latest`` to make room for newer ones.
        refused: items not accepted (paused, or a waiting ``lossless`` submit ended by :meth:`pause`).
        processed: items done: finished, or failed in either stage.
    """

    def __init__(
        self,
        process: Callable[[Any], Any],
        policy: str,
        capacity: int,
        on_error: Callable[[Any, BaseException], None],
        name: str = "inference",
        finish: Callable[[Any], None] = ignore_value,
    ):
        if policy not in ("latest", "lossless"):
            raise ValueError(f"queue policy must be 'latest' or 'lossless', got {policy!r}")
        if capacity < 1:
            raise ValueError(f"queue capacity must be >= 1, got {capacity}")
        self.policy = policy
        self.capacity = capacity
        self._process = process
        self._finish = finish
        self._on_error = on_error
        self._queue: collections.deque[Any] = collections.deque()
        self._calls: collections.deque[tuple[Callable[[], Any], Future]] = collections.deque()
        self._changed = threading.Condition()
        self._accepting = False
        self._stopping = False
        self._processing = False  # the inference thread has an item
        self._handoff: tuple[Any, Any] | None = None  # (item, value of process) waiting for the output thread
        self._finishing = False  # the output thread has an item
        self.replaced = 0
        self.refused = 0
        self.processed = 0
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._output_thread = threading.Thread(target=self._run_output, name=f"{name}-output", daemon=True)
        self._thread.start()
        self._output_thread.start()

    def call(self, function: Callable[[], Any], timeout_s: float | None = None) -> Any:
        """Run ``function()`` on the inference thread (after the item it processes) and return its value or
        raise its exception."""
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
        up to ``timeout_s`` seconds for those already in the stages (processed, handed off, finished);
        returns the discarded count."""
        with self._changed:
            self._accepting = False
            discarded = len(self._queue)
            self._queue.clear()
            self._changed.notify_all()
            self._changed.wait_for(self._stages_empty, timeout=timeout_s)
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
        """Wait up to ``timeout_s`` seconds until no item waits or is in either stage; False on timeout."""
        with self._changed:
            return self._changed.wait_for(lambda: not self._queue and self._stages_empty(), timeout=timeout_s)

    def stop(self, timeout_s: float = 30.0) -> None:
        """Pause, run the calls already queued, and end both threads (each joined up to ``timeout_s`` seconds)."""
        self.pause(timeout_s)
        with self._changed:
            self._stopping = True
            self._changed.notify_all()
        self._thread.join(timeout=timeout_s)
        self._output_thread.join(timeout=timeout_s)

    def _stages_empty(self) -> bool:
        """No item is processed, handed off or finished (call with the lock held)."""
        return not self._processing and self._handoff is None and not self._finishing

    def _next(self) -> tuple[str, Any]:
        """Wait for work of the inference thread: ("call", (function, future)), ("item", item) or ("stop", None).

        An item is taken only while the hand-off is empty, so its value can be handed off at once.
        """
        with self._changed:
            self._changed.wait_for(lambda: self._calls or (self._queue and self._handoff is None) or self._stopping)
            if self._calls:
                return "call", self._calls.popleft()
            if self._queue and self._handoff is None:
                self._processing = True
                self._changed.notify_all()  # a lossless submit waits for this room
                return "item", self._queue.popleft()
            return "stop", None

    def _run(self) -> None:
        """The inference thread: calls, and ``process`` of each item."""
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
            self._process_item(work)

    def _process_item(self, item: Any) -> None:
        """First stage of ``item``: its value goes to the hand-off, an exception to ``on_error``."""
        handoff = None
        try:
            handoff = (item, self._process(item))
        except Exception as error:  # the thread must survive any bad pair
            self._on_error(item, error)
        finally:
            with self._changed:
                self._handoff = handoff
                self._processing = False
                if handoff is None:  # failed: the item is done
                    self.processed += 1
                self._changed.notify_all()

    def _take_handoff(self) -> tuple[Any, Any] | None:
        """Wait for a handed-off (item, value) and take it; None when the worker stops and none will come."""
        with self._changed:
            self._changed.wait_for(lambda: self._handoff is not None or (self._stopping and not self._processing))
            taken, self._handoff = self._handoff, None
            self._finishing = taken is not None
            self._changed.notify_all()  # the inference thread may take its next item
            return taken

    def _run_output(self) -> None:
        """The output thread: ``finish`` of each handed-off value, in order."""
        while (taken := self._take_handoff()) is not None:
            item, value = taken
            try:
                self._finish(value)
            except Exception as error:  # the thread must survive any bad result
                self._on_error(item, error)
            finally:
                with self._changed:
                    self._finishing = False
                    self.processed += 1
                    self._changed.notify_all()
