"""Soak and the lossless guarantee, through the live node (real DDS, the fake matcher, ``ma-trt-replay``).

- Soak: 10,000 pairs of a bag replayed losslessly; the node's resident memory (target: < 5 % growth
  after warm-up) and its per-period latency, first periods against last.
- Lossless: with ``queue_policy: lossless`` every pair of a replayed bag yields exactly one result, in
  order (checked by stamps and by the images' values), also when the replay runs ahead of inference:
  paced with a window as large as the queue, and timed at twice the inference rate into a queue that
  holds the bag.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from support.diagnostics import latest_status_values, published
from support.node_process import start_node, wait_for_outputs
from support.process_memory import rss_bytes
from support.ros_harness import RosEnvironment, RosTestNode, run_module_in_ros_process, wait_until

pytestmark = [pytest.mark.ros, pytest.mark.slow]  # minutes of soak, faults or fuzzing: not in make test-quick

MIB = 1 << 20
SOAK_PAIRS = 10_000
FIRST_STAMP_NS = 1_000 * 1_000_000_000
PERIOD_NS = 10_000_000


def write_bag(path: Path, pairs: int) -> list[int]:
    """A bag of ``pairs`` mono8 pairs (16 × 12 and 20 × 10) on /left and /right; returns the stamps (ns)."""
    from std_msgs.msg import Header

    from ma_trt_ros.ros.bag_io import write_image_bag
    from ma_trt_ros.ros.image_conversion import numpy_to_image

    stamps = [FIRST_STAMP_NS + index * PERIOD_NS for index in range(pairs)]

    def images():
        for index, stamp in enumerate(stamps):
            header = Header(frame_id="left")
            header.stamp.sec, header.stamp.nanosec = divmod(stamp, 1_000_000_000)
            yield "/left", numpy_to_image(np.full((12, 16), index % 256, np.uint8), "mono8", header=header)
            header = Header(frame_id="right", stamp=header.stamp)
            yield "/right", numpy_to_image(np.full((10, 20), 255 - index % 256, np.uint8), "mono8", header=header)

    assert write_image_bag(path, images(), "mcap") == 2 * pairs
    return stamps


def stamp_ns(result: Any) -> int:
    """Nanoseconds of a result's image-0 stamp."""
    return result.header0.stamp.sec * 1_000_000_000 + result.header0.stamp.nanosec


def values_of(result: Any) -> list[int]:
    """The two image values the fake matcher encodes in a result's first confidences."""
    return np.rint(np.frombuffer(result.confidence, np.float32)[:2] * 255).astype(int).tolist()


def replay_args(bag: Path, ns: str, *extra: str) -> tuple[str, ...]:
    return (str(bag), "--image0", "/left", "--image1", "/right", "--namespace", ns, *extra)


def period_latencies(diagnostics: Any, node_name: str, stage: str) -> list[float]:
    """``latency_<stage>_mean_ms`` of every ``/diagnostics`` period of ``node_name`` that had results."""
    means = []
    for array in diagnostics.messages:
        for status in array.status:
            values = {kv.key: kv.value for kv in status.values}
            if status.name == f"{node_name}: matcher" and f"latency_{stage}_mean_ms" in values:
                means.append(float(values[f"latency_{stage}_mean_ms"]))
    return means


@pytest.mark.timeout(300)
def test_soak_10000_pairs_exactly_once_with_flat_memory(
    ros_env: RosEnvironment, ros_node: RosTestNode, tmp_path: Path
) -> None:
    from diagnostic_msgs.msg import DiagnosticArray

    from ma_trt_ros_interfaces.msg import Matches

    stamps = write_bag(tmp_path / "soak", SOAK_PAIRS)
    ns = "/soak"
    name = f"{ns}/matchanything_node"
    matches = ros_node.collect(Matches, f"{name}/matches", depth=1000)
    diagnostics = ros_node.collect(DiagnosticArray, "/diagnostics", depth=100)
    params = {
        "model_path": "fake:eloftr",
        "queue_policy": "lossless",
        "queue_size": 16,
        "input_reliability": "reliable",
    }
    samples: list[tuple[int, int]] = []
    done = threading.Event()
    started = time.monotonic()
    with start_node(ros_env, ns, params) as node:
        wait_for_outputs([matches, diagnostics])

        def sample() -> None:
            while not done.wait(0.5):
                samples.append((len(matches.messages), rss_bytes(node.pid)))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        args = replay_args(tmp_path / "soak", ns, "--lossless", "--window", "16")
        try:
            with run_module_in_ros_process("ma_trt_ros.ros.bag_replay", ros_env, args) as replay:
                status = replay.wait(timeout_s=280.0)
            assert status == 0, replay.output()
            received = matches.wait_for(SOAK_PAIRS, timeout_s=10.0)
            wait_until(lambda: published(diagnostics, name) == str(SOAK_PAIRS), 10.0, "the totals in /diagnostics")
            values = latest_status_values(diagnostics, name)
        finally:
            done.set()
            sampler.join()
        assert node.returncode is None
    elapsed = time.monotonic() - started
    assert [stamp_ns(m) for m in received] == stamps
    assert [values_of(m) for m in received[:: SOAK_PAIRS // 10]] == [
        [i % 256, 255 - i % 256] for i in range(0, SOAK_PAIRS, SOAK_PAIRS // 10)
    ]
    warm = [rss for count, rss in samples if count >= SOAK_PAIRS // 10]
    growth = (warm[-1] - warm[0]) / warm[0]
    totals = period_latencies(diagnostics, name, "total")
    tenth = max(1, len(totals) // 10)
    early, late = np.mean(totals[1 : 1 + tenth]), np.mean(totals[-tenth:])
    print(
        f"soak: {SOAK_PAIRS} pairs in {elapsed:.0f} s ({SOAK_PAIRS / elapsed:.0f} pairs/s), RSS after "
        f"{SOAK_PAIRS // 10} pairs {warm[0] / MIB:.1f} MiB, at the end {warm[-1] / MIB:.1f} MiB ({growth:+.2%}), "
        f"peak {max(rss for _, rss in samples) / MIB:.1f} MiB; pair->published mean latency first periods "
        f"{early:.1f} ms, last {late:.1f} ms"
    )
    assert growth < 0.05
    assert (values["images_received"], values["results_published"]) == (str(2 * SOAK_PAIRS), str(SOAK_PAIRS))
    assert all(value == "0" for key, value in values.items() if key.startswith("dropped_"))
    assert late < 3 * early + 20.0  # no drift beyond noise on a shared machine


@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    ("pairs", "delay_s", "queue", "pacing"),
    [(300, 0.01, 16, ("--lossless", "--window", "16")), (200, 0.005, 256, ("--rate", "4"))],
    ids=["window-as-large-as-the-queue", "timed-at-twice-the-inference-rate"],
)
def test_lossless_replay_ahead_of_inference_gives_every_pair_once_in_order(
    ros_env: RosEnvironment,
    ros_node: RosTestNode,
    tmp_path: Path,
    pairs: int,
    delay_s: float,
    queue: int,
    pacing: tuple[str, ...],
) -> None:
    from ma_trt_ros_interfaces.msg import Matches

    stamps = write_bag(tmp_path / "bag", pairs)
    ns = "/lossless_ahead"
    matches = ros_node.collect(Matches, f"{ns}/matchanything_node/matches", depth=pairs)
    params = {
        "model_path": "fake:eloftr",
        "queue_policy": "lossless",
        "queue_size": queue,
        "input_reliability": "reliable",
    }
    with start_node(ros_env, ns, params, {"FAKE_MATCHER_DELAY_S": str(delay_s)}) as node:
        wait_for_outputs([matches])
        with run_module_in_ros_process(
            "ma_trt_ros.ros.bag_replay", ros_env, replay_args(tmp_path / "bag", ns, *pacing)
        ) as replay:
            assert replay.wait(timeout_s=100.0) == 0, replay.output()
        received = matches.wait_for(pairs, timeout_s=30.0)
        time.sleep(2 * delay_s + 0.5)  # nothing more may come
        assert node.returncode is None
    assert len(matches.messages) == pairs
    assert [stamp_ns(m) for m in received] == stamps
    assert [values_of(m) for m in received] == [[i % 256, 255 - i % 256] for i in range(pairs)]
