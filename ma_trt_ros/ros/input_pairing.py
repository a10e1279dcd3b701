"""Which images form a matcher pair, in each input mode of the node (shared by the node and ``ma-trt-bag``).

Pure Python, no rclpy; items are opaque (image messages). Each pairer takes items in arrival order
with their header stamps (nanoseconds) and returns the pairs they complete as ``(item0, item1)``:

- ``pair``: image0 and image1 from two topics, approximate-time synchronised
  (:class:`~ma_trt_ros.ros.pair_sync.PairSynchronizer`).
- ``reference``: every frame is image 0, the reference image is image 1. Frames before any reference
  exists are dropped (reason ``no_reference``).
- ``sequential``: frame t is image 0, frame t - k is image 1 (k = stride). The first k frames have no
  partner and are not counted as drops.

:class:`RestartingPairer` (used by the node for ``pair`` and ``sequential``) starts pairing afresh when
stamps went back in time for good (a restarted publisher, a bag played again, a reset simulation clock):
without it every later image would be dropped as too old.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from typing import Any

from ma_trt_ros.ros.pair_sync import PairSynchronizer

ItemPair = tuple[Any, Any]


class SynchronizedPairer:
    """Mode ``pair``: topic 0 = image0, topic 1 = image1, approximate time within ``slop_ns``."""

    def __init__(self, slop_ns: int, queue_size: int):
        self.sync = PairSynchronizer(slop_ns, queue_size)

    def add(self, topic: int, stamp_ns: int, item: Any) -> list[ItemPair]:
        """Queue ``item`` of ``topic`` (0 or 1); return the pairs it completes, oldest first."""
        return [pair.items for pair in self.sync.add(topic, stamp_ns, item)]

    def flush(self) -> list[ItemPair]:
        """End of stream: the pairs still waiting for a decision."""
        return [pair.items for pair in self.sync.flush()]

    def drops(self) -> dict[str, int]:
        """Items dropped so far by reason (``sync_too_old``, ``sync_overflow``, ``sync_no_partner``), both topics."""
        stats = self.sync.stats()
        return {
            "sync_too_old": sum(stats.too_old),
            "sync_overflow": sum(stats.overflow),
            "sync_no_partner": sum(stats.no_partner),
        }


class ReferencePairer:
    """Mode ``reference``: each frame against the current reference image (set by :meth:`set_reference`)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._reference: Any = None
        self._no_reference = 0

    def set_reference(self, item: Any) -> None:
        """Use ``item`` as image 1 of every following pair."""
        with self._lock:
            self._reference = item

    @property
    def has_reference(self) -> bool:
        """True once a reference image was set."""
        with self._lock:
            return self._reference is not None

    def add(self, topic: int, stamp_ns: int, item: Any) -> list[ItemPair]:
        """A frame (``topic`` and ``stamp_ns`` unused): the pair (frame, reference), or none without a reference."""
        with self._lock:
            if self._reference is None:
                self._no_reference += 1
                return []
            return [(item, self._reference)]

    def flush(self) -> list[ItemPair]:
        """Nothing waits in this mode."""
        return []

    def drops(self) -> dict[str, int]:
        """Frames dropped because no reference image had arrived yet."""
        with self._lock:
            return {"no_reference": self._no_reference}


class SequentialPairer:
    """Mode ``sequential``: frame t against frame t - ``stride`` (in arrival order of stamps)."""

    def __init__(self, stride: int):
        if stride < 1:
            raise ValueError(f"sequential stride must be >= 1, got {stride}")
        self._lock = threading.Lock()
        self._history: deque[tuple[int, Any]] = deque(maxlen=stride)
        self._too_old = 0

    def add(self, topic: int, stamp_ns: int, item: Any) -> list[ItemPair]:
        """A frame: the pair (frame, frame ``stride`` earlier) once that many frames were seen.

        A frame stamped at or before the newest frame seen is dropped (reason ``too_old``): pairs
        always go forward in time.
        """
        with self._lock:
            if self._history and stamp_ns <= self._history[-1][0]:
                self._too_old += 1
                return []
            full = len(self._history) == self._history.maxlen
            earlier = self._history[0][1] if full else None
            self._history.append((stamp_ns, item))
            return [(item, earlier)] if full else []

    def flush(self) -> list[ItemPair]:
        """Nothing waits in this mode."""
        return []

    def drops(self) -> dict[str, int]:
        """Frames dropped for going back in time."""
        with self._lock:
            return {"too_old": self._too_old}


LATE_REASONS = ("sync_too_old", "too_old")


class RestartingPairer:
    """A pairer of mode ``pair`` or ``sequential`` that is replaced by a fresh one after ``patience``
    images in a row were dropped as too old (time went back for good); drop totals carry over.

    Args:
        make: builds the wrapped pairer (again at each restart).
        patience: images dropped as too old in a row that mean a new timeline (>= 1). The image that
            completes the run is dropped too; pairing resumes with the next one.
    """

    def __init__(self, make: Callable[[], SynchronizedPairer | SequentialPairer], patience: int):
        if patience < 1:
            raise ValueError(f"patience must be >= 1, got {patience}")
        self._make = make
        self._pairer = make()
        self.patience = patience
        self.restarts = 0
        self._late_in_a_row = 0
        self._carried: dict[str, int] = {}

    def add(self, topic: int, stamp_ns: int, item: Any) -> list[ItemPair]:
        """As the wrapped pairer's ``add``; restarts it after ``patience`` late images in a row."""
        before = self._late()
        pairs = self._pairer.add(topic, stamp_ns, item)
        if self._late() == before:
            self._late_in_a_row = 0
            return pairs
        self._late_in_a_row += 1
        if self._late_in_a_row >= self.patience:
            self._carried = self.drops()
            self._pairer = self._make()
            self._late_in_a_row = 0
            self.restarts += 1
        return pairs

    def flush(self) -> list[ItemPair]:
        """The wrapped pairer's pairs still waiting."""
        return self._pairer.flush()

    def drops(self) -> dict[str, int]:
        """Drop totals since the first pairer, by reason."""
        current = self._pairer.drops()
        return {reason: self._carried.get(reason, 0) + count for reason, count in current.items()}

    def _late(self) -> int:
        return sum(count for reason, count in self._pairer.drops().items() if reason in LATE_REASONS)


Pairer = SynchronizedPairer | ReferencePairer | SequentialPairer | RestartingPairer


def make_pairer(input_mode: str, slop_ns: int, queue_size: int, stride: int) -> Pairer:
    """The pairer of ``input_mode`` (``pair``, ``reference`` or ``sequential``)."""
    if input_mode == "pair":
        return SynchronizedPairer(slop_ns, queue_size)
    if input_mode == "reference":
        return ReferencePairer()
    if input_mode == "sequential":
        return SequentialPairer(stride)
    raise ValueError(f"unknown input mode {input_mode!r}")
