"""Counters and latencies of the node's pipeline, and their ``/diagnostics`` report.

:class:`PipelineStats` is thread-safe and pure Python: subscription callbacks count inputs and drops,
the node's output thread records outputs and stage latencies, a timer calls :meth:`PipelineStats.report`
once per period. Rates and latencies in a report cover the time since the previous report; drop
counts are totals since configure.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from dataclasses import dataclass

DROP_REASONS = (
    "sync_no_partner",
    "sync_overflow",
    "sync_too_old",
    "no_reference",
    "too_old",
    "rate_limit",
    "queue_replaced",
    "queue_full",
    "bad_input",
    "inference_error",
)


@dataclass(frozen=True)
class StatsReport:
    """One period of statistics.

    Attributes:
        period_s: seconds covered by the rates and latencies.
        input_rate_hz: images received per second (all input topics together).
        pair_rate_hz: pairs formed per second.
        output_rate_hz: results published per second.
        latency_ms: stage -> (mean, max) milliseconds over the results of the period.
        drops: reason -> total pairs/images dropped since configure (every reason of DROP_REASONS).
        images_received, pairs_formed, results_published: totals since configure.
    """

    period_s: float
    input_rate_hz: float
    pair_rate_hz: float
    output_rate_hz: float
    latency_ms: dict[str, tuple[float, float]]
    drops: dict[str, int]
    images_received: int
    pairs_formed: int
    results_published: int


class PipelineStats:
    """Thread-safe pipeline counters (see module docstring)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._drops: dict[str, int] = dict.fromkeys(DROP_REASONS, 0)
        self._images = 0
        self._pairs = 0
        self._results = 0
        self._period_start = time.monotonic()
        self._period_counts = [0, 0, 0]
        self._latencies: dict[str, list[float]] = defaultdict(list)

    def image_received(self) -> None:
        """Count one input image."""
        with self._lock:
            self._images += 1
            self._period_counts[0] += 1

    def pair_formed(self) -> None:
        """Count one pair handed to the queue."""
        with self._lock:
            self._pairs += 1
            self._period_counts[1] += 1

    def dropped(self, reason: str, count: int = 1) -> None:
        """Count ``count`` drops for ``reason`` (one of DROP_REASONS)."""
        if reason not in self._drops:
            raise ValueError(f"unknown drop reason {reason!r}; known: {DROP_REASONS}")
        with self._lock:
            self._drops[reason] += count

    def set_drops(self, totals: dict[str, int]) -> None:
        """Set drop totals kept elsewhere (the pairers count their own drops)."""
        with self._lock:
            for reason, total in totals.items():
                if reason not in self._drops:
                    raise ValueError(f"unknown drop reason {reason!r}; known: {DROP_REASONS}")
                self._drops[reason] = total

    def result_published(self, stage_ms: dict[str, float]) -> None:
        """Count one published result with its per-stage latencies (milliseconds)."""
        with self._lock:
            self._results += 1
            self._period_counts[2] += 1
            for stage, value in stage_ms.items():
                self._latencies[stage].append(float(value))

    def report(self) -> StatsReport:
        """Statistics since the previous report (rates, latencies) and totals (drops); starts a new period."""
        with self._lock:
            now = time.monotonic()
            period = max(now - self._period_start, 1e-9)
            images, pairs, results = self._period_counts
            latency = {stage: (sum(v) / len(v), max(v)) for stage, v in self._latencies.items() if v}
            report = StatsReport(
                period_s=period,
                input_rate_hz=images / period,
                pair_rate_hz=pairs / period,
                output_rate_hz=results / period,
                latency_ms=latency,
                drops=dict(self._drops),
                images_received=self._images,
                pairs_formed=self._pairs,
                results_published=self._results,
            )
            self._period_start = now
            self._period_counts = [0, 0, 0]
            self._latencies = defaultdict(list)
            return report


def report_values(report: StatsReport, static: dict[str, str]) -> list[tuple[str, str]]:
    """``(key, value)`` strings of a ``DiagnosticStatus``: ``static`` first, then rates, latencies, drops.

    Keys: ``input_rate_hz``, ``pair_rate_hz``, ``output_rate_hz``, ``images_received``,
    ``pairs_formed``, ``results_published``, ``latency_<stage>_mean_ms`` / ``_max_ms``, ``dropped_<reason>``.
    """
    values = list(static.items())
    values += [
        ("input_rate_hz", f"{report.input_rate_hz:.2f}"),
        ("pair_rate_hz", f"{report.pair_rate_hz:.2f}"),
        ("output_rate_hz", f"{report.output_rate_hz:.2f}"),
        ("images_received", str(report.images_received)),
        ("pairs_formed", str(report.pairs_formed)),
        ("results_published", str(report.results_published)),
    ]
    for stage, (mean, peak) in sorted(report.latency_ms.items()):
        values += [(f"latency_{stage}_mean_ms", f"{mean:.2f}"), (f"latency_{stage}_max_ms", f"{peak:.2f}")]
    values += [(f"dropped_{reason}", str(count)) for reason, count in report.drops.items()]
    return values
