"""matchanything_node's queue under load: ``latest`` keeps latency bounded and counts its drops in /diagnostics."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from support.node_process import start_node, wait_for_outputs
from support.ros_harness import RosEnvironment, RosTestNode, run_module_in_ros_process, wait_until

pytestmark = pytest.mark.ros

INFERENCE_S = 0.1  # the fake's time per pair: 10 pairs/s
INPUT_HZ = 100.0  # 10x the inference rate
PAIRS = 200


def diagnostic_values(array: object, name: str) -> dict[str, str] | None:
    """key -> value of the status called ``name`` in a DiagnosticArray, or None."""
    for status in array.status:
        if status.name == name:
            return {kv.key: kv.value for kv in status.values}
    return None


@pytest.mark.timeout(120)
def test_latest_policy_under_10x_overload_bounds_latency_and_counts_drops(
    ros_env: RosEnvironment, ros_node: RosTestNode, tmp_path: Path
) -> None:
    from diagnostic_msgs.msg import DiagnosticArray

    from ma_trt_ros_interfaces.msg import Matches

    ns = "/overload"
    latencies_s: list[float] = []

    def on_matches(msg: Matches) -> None:
        latencies_s.append(time.time() - (msg.header0.stamp.sec + msg.header0.stamp.nanosec * 1e-9))

    results = ros_node.node.create_subscription(Matches, f"{ns}/matchanything_node/matches", on_matches, 100)
    diagnostics = ros_node.collect(DiagnosticArray, "/diagnostics", depth=100)
    params = {"model_path": "fake:eloftr", "queue_policy": "latest", "queue_size": 1, "diagnostics_period_s": 0.5}
    publisher_args = (
        "pair",
        str(PAIRS),
        str(INPUT_HZ),
        "--namespace",
        ns,
        "--wall-stamps",
        "--reliability",
        "best_effort",
    )
    memory_log = tmp_path / "memory_reads.log"
    node_env = {"FAKE_MATCHER_DELAY_S": str(INFERENCE_S), "FAKE_MATCHER_MEMORY_LOG": str(memory_log)}
    with start_node(ros_env, ns, params, node_env) as node:
        wait_for_outputs([results, diagnostics])
        with run_module_in_ros_process("support.image_publisher", ros_env, publisher_args) as publisher:
            wait_until(lambda: "published" in publisher.output(), 60.0, "the publisher to finish")
        time.sleep(1.5)  # the last results and one more diagnostics period
        name = f"{ns}/matchanything_node: matcher"
        reports = [v for v in (diagnostic_values(a, name) for a in diagnostics.messages) if v is not None]
        assert node.returncode is None, node.output()
    final = reports[-1]
    published, pairs = int(final["results_published"]), int(final["pairs_formed"])
    replaced = int(final["dropped_queue_replaced"])
    # 2 s of input at 10 pairs/s of inference: about 20 results, the rest replaced in the queue.
    assert 10 <= published <= 30 and len(latencies_s) == published
    assert pairs >= 0.9 * PAIRS and replaced >= pairs - published - 2 and replaced <= pairs - published
    # GPU memory is read at configure and then once per diagnostics period (0.5 s), not for every pair
    reads = len(memory_log.read_text().splitlines())
    assert 1 <= reads <= 8 < published
    assert (final["backend"], final["model"], final["queue_policy"], final["gpu_memory_bytes"]) == (
        "test_double",
        "fake:eloftr@00000000",
        "latest",
        "n/a",
    )
    # Latencies cover one period each; the runtime's own stage is the fake's sleep.
    inference_ms = [
        float(r["latency_runtime_inference_max_ms"]) for r in reports if "latency_runtime_inference_max_ms" in r
    ]
    assert inference_ms and max(inference_ms) == pytest.approx(INFERENCE_S * 1e3)
    assert max(float(r.get("latency_total_max_ms", 0)) for r in reports) < 1000.0
    # Bounded: a queue of one pair waits at most ~2 inference times (lossless would reach ~18 s here).
    assert max(latencies_s) < 1.0
