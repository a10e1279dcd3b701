"""PairSynchronizer: pairing rule, drops per reason, bounded queues, out-of-order input, threads."""

from __future__ import annotations

import itertools
import random
import threading
from types import SimpleNamespace

import pytest

from ma_trt_ros.ros.pair_sync import Pair, PairSynchronizer, SyncStats, stamp_to_ns

MS = 1_000_000


def feed(sync: PairSynchronizer, events: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Add (topic, stamp_ms) events with the item (topic, stamp_ms); return the pairs' stamps in ms."""
    pairs: list[Pair] = []
    for topic, stamp_ms in events:
        pairs += sync.add(topic, stamp_ms * MS, (topic, stamp_ms))
    for pair in pairs:
        assert pair.items == ((0, pair.stamps_ns[0] // MS), (1, pair.stamps_ns[1] // MS))
    return [(pair.stamps_ns[0] // MS, pair.stamps_ns[1] // MS) for pair in pairs]


def assert_consistent(stats: SyncStats, queue_size: int) -> None:
    """Every received item is paired, dropped or pending, and no queue exceeds its bound."""
    for topic in (0, 1):
        accounted = stats.pairs + stats.dropped[topic] + stats.pending[topic]
        assert stats.received[topic] == accounted
        assert stats.pending[topic] <= queue_size


def test_equal_stamps_pair_immediately() -> None:
    sync = PairSynchronizer(slop_ns=0, queue_size=3)
    assert sync.add(0, 5 * MS, "a") == []
    assert sync.add(1, 5 * MS, "b") == [Pair(stamps_ns=(5 * MS, 5 * MS), items=("a", "b"))]
    assert sync.stats() == SyncStats(
        received=(1, 1), pairs=1, too_old=(0, 0), overflow=(0, 0), no_partner=(0, 0), pending=(0, 0)
    )


def test_offset_pair_waits_for_next_item_of_older_topic() -> None:
    sync = PairSynchronizer(slop_ns=50 * MS, queue_size=5)
    assert feed(sync, [(0, 0), (1, 30)]) == []
    assert feed(sync, [(1, 130)]) == []
    assert feed(sync, [(0, 100)]) == [(0, 30)]
    assert feed(sync, [(0, 200)]) == [(100, 130)]
    assert sync.stats().pending == (1, 0)


def test_pairs_are_mutual_nearest_when_rates_differ() -> None:
    sync = PairSynchronizer(slop_ns=40 * MS, queue_size=10)
    topic0 = [(0, t) for t in range(0, 400, 50)]
    topic1 = [(1, t) for t in (30, 130, 230, 330)]
    events = sorted(topic0 + topic1, key=lambda event: event[1])
    assert feed(sync, events) == [(50, 30), (150, 130), (250, 230)]
    stats = sync.stats()
    assert stats.no_partner == (4, 0)
    assert stats.pending == (1, 1)
    assert_consistent(stats, 10)


def test_item_without_partner_within_slop_is_dropped() -> None:
    sync = PairSynchronizer(slop_ns=10 * MS, queue_size=5)
    assert feed(sync, [(0, 0), (1, 100), (0, 100)]) == [(100, 100)]
    assert sync.stats().no_partner == (1, 0)


def test_out_of_order_arrival_within_queue_is_sorted() -> None:
    sync = PairSynchronizer(slop_ns=10 * MS, queue_size=5)
    events = [(0, 200), (0, 0), (0, 100), (1, 0), (1, 100), (1, 200)]
    assert feed(sync, events) == [(0, 0), (100, 100), (200, 200)]
    assert sync.stats().dropped == (0, 0)


def test_partner_arriving_after_the_decision_is_not_used() -> None:
    sync = PairSynchronizer(slop_ns=10 * MS, queue_size=5)
    assert feed(sync, [(0, 0), (0, 100), (1, 100), (1, 0)]) == [(100, 100)]
    stats = sync.stats()
    assert (stats.no_partner, stats.too_old) == ((1, 0), (0, 1))


def test_item_at_or_before_last_decided_stamp_is_too_old() -> None:
    sync = PairSynchronizer(slop_ns=10 * MS, queue_size=5)
    assert feed(sync, [(0, 100), (1, 100)]) == [(100, 100)]
    assert feed(sync, [(0, 50), (1, 100), (0, 101), (1, 101)]) == [(101, 101)]
    stats = sync.stats()
    assert stats.too_old == (1, 1)
    assert_consistent(stats, 5)


def test_burst_on_one_topic_overflows_its_queue_only() -> None:
    sync = PairSynchronizer(slop_ns=10 * MS, queue_size=4)
    assert feed(sync, [(0, t) for t in range(0, 1000, 100)]) == []
    assert sync.stats().overflow == (6, 0)
    assert sync.stats().pending == (4, 0)
    assert feed(sync, [(1, 705), (1, 805), (1, 905)]) == [(700, 705), (800, 805)]
    stats = sync.stats()
    assert stats.no_partner == (1, 0)
    assert stats.pending == (1, 1)
    assert_consistent(stats, 4)


def test_burst_between_items_of_other_topic_keeps_nearest() -> None:
    sync = PairSynchronizer(slop_ns=20 * MS, queue_size=8)
    events = [(0, 0), *[(1, t) for t in range(-10, 110, 10)], (0, 100)]
    assert feed(sync, events) == [(0, 0), (100, 100)]
    stats = sync.stats()
    assert stats.no_partner == (0, 8)
    assert stats.overflow == (0, 2)
    assert_consistent(stats, 8)


def test_silent_topic_bounds_memory_and_counts_overflow() -> None:
    sync = PairSynchronizer(slop_ns=10 * MS, queue_size=5)
    assert feed(sync, [(0, t) for t in range(100)]) == []
    assert sync.stats() == SyncStats(
        received=(100, 0), pairs=0, too_old=(0, 0), overflow=(95, 0), no_partner=(0, 0), pending=(5, 0)
    )


def test_full_queue_forces_waiting_pair() -> None:
    sync = PairSynchronizer(slop_ns=50 * MS, queue_size=1)
    assert feed(sync, [(0, 0), (1, 30)]) == []
    assert feed(sync, [(1, 130)]) == [(0, 30)]
    assert sync.stats().dropped == (0, 0)


def test_flush_emits_waiting_pair_and_drops_rest() -> None:
    sync = PairSynchronizer(slop_ns=50 * MS, queue_size=5)
    assert feed(sync, [(0, 0), (1, 30), (1, 500)]) == []
    assert [pair.stamps_ns for pair in sync.flush()] == [(0, 30 * MS)]
    stats = sync.stats()
    assert (stats.pairs, stats.no_partner, stats.pending) == (1, (0, 1), (0, 0))


def test_random_jittered_streams_keep_invariants_and_are_deterministic() -> None:
    def run(seed: int) -> tuple[list[tuple[int, int]], SyncStats]:
        rng = random.Random(seed)
        events = [(0, 33 * k + rng.randint(-3, 3)) for k in range(300)]
        events += [(1, 50 * k + 7 + rng.randint(-3, 3)) for k in range(200)]
        events.sort(key=lambda event: event[1] + rng.randint(0, 20))
        sync = PairSynchronizer(slop_ns=16 * MS, queue_size=6)
        return feed(sync, events), sync.stats()

    pairs, stats = run(seed=7)
    assert (pairs, stats) == run(seed=7)
    assert all(abs(a - b) <= 16 for a, b in pairs)
    assert all(p[0] < q[0] and p[1] < q[1] for p, q in itertools.pairwise(pairs))
    assert stats.pairs == len(pairs) > 150
    assert_consistent(stats, 6)


def test_concurrent_adds_from_two_threads_lose_nothing() -> None:
    count = 2000
    sync = PairSynchronizer(slop_ns=0, queue_size=count)
    results: list[list[Pair]] = [[], []]

    def producer(topic: int) -> None:
        for k in range(count):
            results[topic] += sync.add(topic, k * MS, k)

    threads = [threading.Thread(target=producer, args=(topic,)) for topic in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    pairs = sorted(results[0] + results[1], key=lambda pair: pair.stamps_ns[0])
    assert [pair.items for pair in pairs] == [(k, k) for k in range(count)]
    assert sync.stats().dropped == (0, 0)


def test_invalid_arguments_are_rejected() -> None:
    with pytest.raises(ValueError, match="slop_ns"):
        PairSynchronizer(slop_ns=-1, queue_size=1)
    with pytest.raises(ValueError, match="queue_size"):
        PairSynchronizer(slop_ns=0, queue_size=0)
    with pytest.raises(ValueError, match="topic"):
        PairSynchronizer(slop_ns=0, queue_size=1).add(2, 0, None)


def test_stamp_to_ns() -> None:
    assert stamp_to_ns(SimpleNamespace(sec=3, nanosec=5)) == 3_000_000_005
