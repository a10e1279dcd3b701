"""The node's pipeline threads behind a bounded queue with policy ``latest`` or ``lossless``: an
optional prepare thread, the inference thread and the output thread.

Pure Python, no rclpy. Items go through two or three stages, each on a thread of its own, so that the
stages of consecutive items overlap:

- prepare thread (optional): ``prepare(item)`` returns a value (in the node: convert the image messages
  to the matcher's float images). It touches no matcher;
- inference thread: ``process(value)`` (``process(item)`` without a prepare stage) returns a value. It
  owns the matcher (GPU backends must be opened, run and closed on one thread), so everything that
  touches the matcher runs here;
- output thread: ``finish(value)`` (in the node: build and publish the messages, count them).

Between two stages waits at most one value (a slot): a stage takes its next input only while its own
output slot is empty, so at most ``2 × stages − 1`` items are past the queue at once (one in each stage,
one in each slot), memory stays bounded, and a slow later stage holds the earlier ones back, which
holds the queue back (and, in ``lossless``, the submitter). Items leave every stage in submission order.
With stage times P (prepare), M (process) and F (finish), seconds per item, the pipeline passes one item
per max(P, M, F) instead of one per P + M + F, as far as the stages can run at once (Python's GIL lets
them overlap where they wait for the GPU or run NumPy, OpenCV or DDS code). A prepare stage also lets the
inference thread start the next item the moment it is done, with its input already prepared; in
``latest`` that prepared item is older than the newest in the queue by at most one process time.
:meth:`~InferenceWorker.pause` and :meth:`~InferenceWorker.wait_idle` wait for the items in all stages.

Two kinds of work run on the inference thread, one at a time:

- calls (:meth:`InferenceWorker.call`): a function run on the thread while the caller waits for its
  value or exception (open the matcher at configure, close it at cleanup); they go before items;
- items (:meth:`InferenceWorker.submit`): the stages above for each accepted item, in submission
  order. Items are accepted only between :meth:`resume` and :meth:`pause`.

Queue policies (``capacity`` = most items waiting, not counting those in the stages):

- ``latest``: a full queue discards its oldest waiting item to take the new one (outcome
  ``replaced``): the worker always takes the newest work, and the delay from submission to the end of
  ``finish`` stays below about ``capacity + 1`` times the slowest stage plus once each other stage (plus
  one more process time with a prepare stage).
- ``lossless``: every item is processed and finished in order; :meth:`~InferenceWorker.submit` waits
  while the queue is full (the caller is held back: the node's input callback then takes no further
  image, and DDS holds the rest). Only :meth:`~InferenceWorker.pause` ends such a wait, with outcome
  ``refused``.

An exception in any stage goes to ``on_error`` with the item (on the thread of that stage); the item is
then done, and every thread goes on with the next one.
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
    """The stage threads (see module docstring); they start paused.

    Args:
        process: called on the inference thread with each item's value of ``prepare`` (with each item
            without a prepare stage); its value goes to ``finish``.
        policy: ``latest`` or ``lossless``.
        capacity: most items waiting in the queue, >= 1.
        on_error: called with (item, exception) when a stage raises, on the thread of that stage.
        name: name of the inference thread; the others are ``<name>-prepare`` and ``<name>-output``.
        finish: called on the output thread with each value of ``process``, in submission order.
        prepare: None (two stages), or called on the prepare thread with each item, in submission order.

    Attributes:
        replaced: items discarded by ``latest`` to make room for newer ones.
        refused: items not accepted (paused, or a waiting ``lossless`` submit ended by :meth:`pause`).
        processed: items done: finished, or failed in any stage.
    """

    def __init__(
        self,
        process: Callable[[Any], Any],
        policy: str,
        capacity: int,
        on_error: Callable[[Any, BaseException], None],
        name: str = "inference",
        finish: Callable[[Any], None] = ignore_value,
        prepare: Callable[[Any], Any] | None = None,
    ):
        if policy not in ("latest", "lossless"):
            raise ValueError(f"queue policy must be 'latest' or 'lossless', got {policy!r}")
        if capacity < 1:
            raise ValueError(f"queue capacity must be >= 1, got {capacity}")
        self.policy = policy
        self.capacity = capacity
        self._on_error = on_error
        stages = [(f"{name}-prepare", prepare)] if prepare is not None else []
        stages += [(name, process), (f"{name}-output", finish)]
        self._functions = [function for _, function in stages]
        self._owner = len(stages) - 2  # the inference thread's stage: it also runs the calls
        self._queue: collections.deque[Any] = collections.deque()
        self._calls: collections.deque[tuple[Callable[[], Any], Future]] = collections.deque()
        self._changed = threading.Condition()
        self._accepting = False
        self._stopping = False
        self._busy = [False] * len(stages)  # stage k has an item
        self._slots: list[tuple[Any, Any] | None] = [None] * (len(stages) - 1)  # (item, value) after stage k
        self.replaced = 0
        self.refused = 0
        self.processed = 0
        self._threads = [
            threading.Thread(target=self._run, args=(stage,), name=thread_name, daemon=True)
            for stage, (thread_name, _) in enumerate(stages)
        ]
        for thread in self._threads:
            thread.start()

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
        up to ``timeout_s`` seconds for those already in the stages (in a stage or a slot between two);
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
        """Wait up to ``timeout_s`` seconds until no item waits or is in any stage; False on timeout."""
        with self._changed:
            return self._changed.wait_for(lambda: not self._queue and self._stages_empty(), timeout=timeout_s)

    def stop(self, timeout_s: float = 30.0) -> None:
        """Pause, run the calls already queued, and end every thread (each joined up to ``timeout_s`` seconds)."""
        self.pause(timeout_s)
        with self._changed:
            self._stopping = True
            self._changed.notify_all()
        for thread in self._threads:
            thread.join(timeout=timeout_s)

    def _stages_empty(self) -> bool:
        """No item is in a stage or a slot (call with the lock held)."""
        return not any(self._busy) and all(slot is None for slot in self._slots)

    def _input_ready(self, stage: int) -> bool:
        """``stage`` has an input waiting and room for its output (call with the lock held)."""
        waiting = bool(self._queue) if stage == 0 else self._slots[stage - 1] is not None
        return waiting and (stage == len(self._slots) or self._slots[stage] is None)

    def _upstream_done(self, stage: int) -> bool:
        """Nothing can reach ``stage`` any more: the worker stops and every earlier stage and slot is empty
        (call with the lock held; the queue is empty once stopping, :meth:`stop` pauses first)."""
        return self._stopping and not any(self._busy[:stage]) and all(s is None for s in self._slots[:stage])

    def _next(self, stage: int) -> tuple[str, Any]:
        """Wait for work of ``stage``'s thread: ("call", (function, future)) on the inference thread,
        ("item", (item, input)) or ("stop", None)."""
        owner = stage == self._owner
        with self._changed:
            self._changed.wait_for(
                lambda: (owner and self._calls) or self._input_ready(stage) or self._upstream_done(stage)
            )
            if owner and self._calls:
                return "call", self._calls.popleft()
            if not self._input_ready(stage):
                return "stop", None
            if stage == 0:
                item = self._queue.popleft()
                taken = (item, item)
            else:
                taken, self._slots[stage - 1] = self._slots[stage - 1], None
            self._busy[stage] = True
            self._changed.notify_all()  # room: a lossless submit, or the stage before, may go on
            return "item", taken

    def _run(self, stage: int) -> None:
        """The thread of ``stage``: the calls (inference thread), and the stage's function of each item."""
        while True:
            kind, work = self._next(stage)
            if kind == "stop":
                return
            if kind == "call":
                function, future = work
                try:
                    future.set_result(function())
                except BaseException as error:  # handed to the caller
                    future.set_exception(error)
                continue
            self._run_item(stage, *work)

    def _run_item(self, stage: int, item: Any, value: Any) -> None:
        """``stage`` of ``item`` on ``value``: its result goes to the next slot (the item is done after the last
        stage), an exception to ``on_error`` (the item is then done)."""
        result = None
        try:
            result = (item, self._functions[stage](value))
        except Exception as error:  # the thread must survive any bad pair or result
            self._on_error(item, error)
        finally:
            with self._changed:
                if result is not None and stage < len(self._slots):
                    self._slots[stage] = result
                else:  # finished, or failed: the item is done
                    self.processed += 1
                self._busy[stage] = False
                self._changed.notify_all()
