"""Approximate-time synchronisation of two topics into pairs, with bounded memory and counted drops.

Pure Python, no rclpy: the node calls :meth:`PairSynchronizer.add` from its subscription callbacks
with the header stamp in nanoseconds (:func:`stamp_to_ns`) and an opaque item (the message).
Time comes only from the stamps; no clock is read, so a given sequence of ``add`` calls always gives
the same pairs.

Rule (assumes each topic's stamps mostly increase; late items are handled as stated):

1. Each topic has a queue sorted by stamp, at most ``queue_size`` items.
2. Let ``x`` be the oldest queued item of both topics (topic ``i``; ties go to topic 0) and ``y`` the
   oldest item of the other topic ``j``, so ``t_y >= t_x`` and ``y`` is ``x``'s nearest partner.
   - ``t_y - t_x > slop``: no partner within slop can come for ``x`` (topic ``j`` is already past
     it): ``x`` is dropped as ``no_partner``.
   - ``t_y == t_x``: nothing can be closer; the pair ``(x, y)`` is emitted.
   - otherwise the next item ``x2`` of topic ``i`` decides: if ``|t_x2 - t_y| < t_y - t_x``, ``y``
     has a closer partner and ``x`` is dropped as ``no_partner``; if not, ``(x, y)`` is emitted.
     Without ``x2`` the decision waits for topic ``i``'s next item (at most one period of that
     topic). Pairs are thus mutual nearest neighbours among the undecided items, and emitted pairs
     are in time order: neither stamp decreases from one pair to the next.
3. A queue longer than ``queue_size`` forces the decision: a waiting pair is emitted at once, and
   if there is none (the other topic is silent) the queue's oldest item is dropped as ``overflow``.
4. An item whose stamp is at or before the last decided (paired or dropped) stamp of its topic
   arrived too late to be paired in time order and is dropped as ``too_old``.

Latency: a pair with equal stamps (hardware-synchronised cameras) is emitted by the ``add`` of its
second item; any other pair by the ``add`` of the next item on the older item's topic, by a queue
overflow, or by :meth:`PairSynchronizer.flush`. Choose ``slop`` below half the period of the faster
topic: then every item has at most one candidate within slop.
"""

from __future__ import annotations

import bisect
import threading
from dataclasses import dataclass
from enum import Enum
from typing import Any


class DropReason(Enum):
    """Why an item left the synchronizer without being paired."""

    TOO_OLD = "too_old"
    OVERFLOW = "overflow"
    NO_PARTNER = "no_partner"


@dataclass(frozen=True)
class Pair:
    """Two items, one per topic, whose stamps differ by at most the slop.

    Attributes:
        stamps_ns: header stamps (topic 0, topic 1), nanoseconds.
        items: the items given to ``add`` (topic 0, topic 1).
    """

    stamps_ns: tuple[int, int]
    items: tuple[Any, Any]


@dataclass(frozen=True)
class SyncStats:
    """Counters of a :class:`PairSynchronizer`; every tuple is indexed by topic (0, 1).

    For each topic ``received == pairs + too_old + overflow + no_partner + pending``.
    """

    received: tuple[int, int]
    pairs: int
    too_old: tuple[int, int]
    overflow: tuple[int, int]
    no_partner: tuple[int, int]
    pending: tuple[int, int]

    @property
    def dropped(self) -> tuple[int, int]:
        """Items dropped per topic, all reasons together."""
        return _per_topic([self.too_old[k] + self.overflow[k] + self.no_partner[k] for k in (0, 1)])


def _per_topic(values: list[int]) -> tuple[int, int]:
    """The two per-topic counts of ``values`` as a tuple."""
    return (values[0], values[1])


def stamp_to_ns(stamp: Any) -> int:
    """Nanoseconds of a ``builtin_interfaces/Time``-like object (``sec``, ``nanosec``)."""
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


class PairSynchronizer:
    """Approximate-time pairing of two topics (rules in the module docstring); thread-safe.

    Args:
        slop_ns: largest stamp difference of a pair, nanoseconds (>= 0).
        queue_size: most items kept per topic while waiting for a partner (>= 1).
    """

    def __init__(self, slop_ns: int, queue_size: int):
        if slop_ns < 0:
            raise ValueError(f"slop_ns must be >= 0, got {slop_ns}")
        if queue_size < 1:
            raise ValueError(f"queue_size must be >= 1, got {queue_size}")
        self.slop_ns = int(slop_ns)
        self.queue_size = int(queue_size)
        self._lock = threading.Lock()
        self._stamps: tuple[list[int], list[int]] = ([], [])
        self._items: tuple[list[Any], list[Any]] = ([], [])
        self._decided_ns: list[int | None] = [None, None]
        self._received = [0, 0]
        self._pairs = 0
        self._drops = {reason: [0, 0] for reason in DropReason}

    def add(self, topic: int, stamp_ns: int, item: Any) -> list[Pair]:
        """Queue ``item`` stamped ``stamp_ns`` on ``topic`` (0 or 1); return the pairs this decides, oldest first."""
        if topic not in (0, 1):
            raise ValueError(f"topic must be 0 or 1, got {topic}")
        with self._lock:
            self._received[topic] += 1
            decided = self._decided_ns[topic]
            if decided is not None and stamp_ns <= decided:
                self._drops[DropReason.TOO_OLD][topic] += 1
                return []
            position = bisect.bisect_right(self._stamps[topic], stamp_ns)
            self._stamps[topic].insert(position, stamp_ns)
            self._items[topic].insert(position, item)
            return self._resolve()

    def flush(self) -> list[Pair]:
        """End of stream: decide every waiting pair now; items left without a partner are dropped as no_partner."""
        with self._lock:
            pairs: list[Pair] = []
            while self._step(pairs, force=True):
                pass
            for topic in (0, 1):
                while self._stamps[topic]:
                    self._pop(topic, DropReason.NO_PARTNER)
            return pairs

    def stats(self) -> SyncStats:
        """Snapshot of the counters."""
        with self._lock:
            return SyncStats(
                received=_per_topic(self._received),
                pairs=self._pairs,
                too_old=_per_topic(self._drops[DropReason.TOO_OLD]),
                overflow=_per_topic(self._drops[DropReason.OVERFLOW]),
                no_partner=_per_topic(self._drops[DropReason.NO_PARTNER]),
                pending=(len(self._stamps[0]), len(self._stamps[1])),
            )

    def _resolve(self) -> list[Pair]:
        """Apply rules 2 and 3 until nothing more can be decided; return the pairs emitted."""
        pairs: list[Pair] = []
        while True:
            if self._step(pairs, force=False):
                continue
            overflowing = [k for k in (0, 1) if len(self._stamps[k]) > self.queue_size]
            if not overflowing:
                return pairs
            if not self._step(pairs, force=True):
                self._pop(overflowing[0], DropReason.OVERFLOW)

    def _step(self, pairs: list[Pair], force: bool) -> bool:
        """One decision of rule 2 on the oldest item (appending an emitted pair); False when it must wait.

        ``force`` emits a pair within slop without waiting for the next item of the oldest item's topic.
        """
        if not self._stamps[0] or not self._stamps[1]:
            return False
        i = 0 if self._stamps[0][0] <= self._stamps[1][0] else 1
        t_x, t_y = self._stamps[i][0], self._stamps[1 - i][0]
        gap = t_y - t_x
        if gap > self.slop_ns:
            self._pop(i, DropReason.NO_PARTNER)
            return True
        if gap > 0 and not force:
            if len(self._stamps[i]) < 2:
                return False
            if abs(self._stamps[i][1] - t_y) < gap:
                self._pop(i, DropReason.NO_PARTNER)
                return True
        pairs.append(self._emit())
        return True

    def _emit(self) -> Pair:
        """Take the oldest item of each topic as a pair."""
        stamps = (self._stamps[0].pop(0), self._stamps[1].pop(0))
        items = (self._items[0].pop(0), self._items[1].pop(0))
        self._decided_ns = list(stamps)
        self._pairs += 1
        return Pair(stamps_ns=stamps, items=items)

    def _pop(self, topic: int, reason: DropReason) -> None:
        """Drop the oldest item of ``topic``, counting it under ``reason``."""
        self._decided_ns[topic] = self._stamps[topic].pop(0)
        self._items[topic].pop(0)
        self._drops[reason][topic] += 1
