"""Reading the node's ``/diagnostics`` in tests."""

from __future__ import annotations

from typing import Any


def latest_status_values(collector: Any, node_name: str) -> dict[str, str]:
    """Key/values of the newest status ``<node_name>: matcher`` a harness Collector of
    ``diagnostic_msgs/DiagnosticArray`` received (empty when none yet)."""
    for array in reversed(collector.messages):
        for status in array.status:
            if status.name == f"{node_name}: matcher":
                return {kv.key: kv.value for kv in status.values}
    return {}


def published(collector: Any, node_name: str) -> str | None:
    """``results_published`` of the newest status of ``node_name`` (None before the first)."""
    return latest_status_values(collector, node_name).get("results_published")
