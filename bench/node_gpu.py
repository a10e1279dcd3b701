"""``matchanything_node`` itself with real DDS: latency, saturation, lossless replay and GPU memory.

Starts the node (``python -m ma_trt_ros.ros.matchanything_node``, the given YAML plus ``-p`` overrides)
as a child process, and plays the camera and the consumer from this process: a publisher of 640×480
``rgb8`` pairs on ``/bench/image0`` and ``/bench/image1`` (equal stamps: the wall clock at publication;
every pair the same: :data:`PHOTOGRAPH` and its warp by a known homography, so a trained matcher finds
real matches and the node's geometry fit is real work) and a subscriber of
``/bench/matchanything_node/matches``. Everything stays on this machine (``ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST``,
the project's Fast DDS profile for large messages).

Phases, one node each (``queue_policy`` differs):

1. ``latest`` (the YAML's QoS, ``queue_size`` 1):
   * latency: ``--latency-pairs`` pairs at ``--latency-hz`` (below the node's rate, so nothing queues);
     latency = receipt of the matches − the input stamp (median, p90, p99, ms);
   * rates: pairs at each of ``--rates`` for ``--rate-s`` seconds: the share of pairs that came back and
     results per second, where the input does not flood the node as at saturation;
   * saturation and memory: pairs at ``--saturation-hz`` (above the node's rate) until
     ``--memory-pairs`` results or ``--saturation-max-s``; pairs/s = results over that time; the
     device's used memory (``nvidia-smi``, MiB, the node is its only user) every 2 s.
2. ``lossless`` (reliable input, ``queue_size`` 8): ``--lossless-pairs`` pairs paced on the results
   (at most 4 waiting, as ``ma-trt-replay --lossless``); every stamp must come back exactly once.

Each phase also keeps the node's own ``/diagnostics`` over its span (``node``: input, pair and output rates,
the mean of each stage's latency, drop totals), which says where a pair's time goes. With
``--profile-with PY_SPY`` the ``latest`` node runs under ``py-spy record --gil`` (which thread holds
Python's GIL, and where; folded stacks beside the node logs).

Writes JSON (``--out``); a phase that fails records its error and the others still run.

    python bench/node_gpu.py --config config/desktop_torch_eloftr.yaml --model eloftr.ckpt --out eloftr.json
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
NAMESPACE = "/bench"
RESULTS = f"{NAMESPACE}/matchanything_node/matches"
SIZE = (480, 640)  # height, width
PHOTOGRAPH = ROOT / "scripts" / "demo_data" / "astronaut.png"  # held out from ELoFTR's training
LOSSLESS_WINDOW = 4


def latencies_ms(results: list[tuple[int, int, int]]) -> list[float]:
    """Receipt − input stamp of each ``(stamp ns, receipt ns, match count)`` result, ms."""
    return [(receipt - stamp) / 1e6 for stamp, receipt, _ in results]


def quantiles(values: list[float]) -> dict[str, float]:
    """median / p90 / p99 / max and count of ``values``."""
    if not values:
        return {"n": 0}
    data = np.asarray(values)
    return {
        "median": float(np.median(data)),
        "p90": float(np.percentile(data, 90)),
        "p99": float(np.percentile(data, 99)),
        "max": float(data.max()),
        "n": len(values),
    }


def device_memory_mib() -> int | None:
    """Used memory of GPU 0 in MiB (``nvidia-smi``), or None without it."""
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=memory.used", "--format=csv,noheader,nounits", "-i", "0"],
            capture_output=True,
            text=True,
            timeout=10,
        )
        return int(out.stdout.split()[0])
    except (OSError, ValueError, IndexError, subprocess.TimeoutExpired):
        return None


class NodeProcess:
    """The node as a child process with its log in a file; stopped with SIGINT (then SIGKILL)."""

    def __init__(self, config: str, overrides: dict[str, Any], log: Path, profile: list[str] | None = None) -> None:
        args = [*(profile or []), sys.executable, "-m", "ma_trt_ros.ros.matchanything_node"]
        args += ["--ros-args", "-r", f"__ns:={NAMESPACE}"]
        args += ["--params-file", config]
        for name, value in overrides.items():
            text = str(value).lower() if isinstance(value, bool) else str(value) or "''"  # '': an empty string
            args += ["-p", f"{name}:={text}"]
        self.log = log
        self._file = log.open("w")
        self.process = subprocess.Popen(args, stdout=self._file, stderr=subprocess.STDOUT)

    def stop(self) -> int | None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._file.close()
        return self.process.returncode

    def tail(self, lines: int = 15) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


def photograph_pair() -> tuple[np.ndarray, np.ndarray]:
    """uint8 RGB ``[480, 640, 3]`` images: :data:`PHOTOGRAPH` stretched to :data:`SIZE` and its warp by the
    known homography of pair 0 (:func:`ma_trt_convert.training.photo_pairs.known_homography`)."""
    import cv2

    from ma_trt_convert.training.photo_pairs import known_homography, warped_pair

    photo = cv2.cvtColor(cv2.imread(str(PHOTOGRAPH), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    photo = cv2.resize(photo, (SIZE[1], SIZE[0]), interpolation=cv2.INTER_AREA)
    return warped_pair(photo, known_homography(0, *SIZE), 0)


def against_truth(msg: Any) -> dict[str, float | None] | None:
    """How one ``Matches`` message of the benchmark pair agrees with its known homography: the share of
    matches within 3 and 1 image-1 pixels, and the mean corner error (px) of the published homography
    (None where the node fits another geometry)."""
    if msg is None:
        return None
    from ma_trt_convert.training.metrics import corner_error, match_errors
    from ma_trt_convert.training.photo_pairs import known_homography

    truth = known_homography(0, *SIZE)
    points0, points1 = (
        np.frombuffer(p, np.float32).reshape(-1, 2).astype(np.float64) for p in (msg.points0, msg.points1)
    )
    errors = match_errors(truth, points0, points1)
    homography = None
    if msg.geometry_type == msg.GEOMETRY_HOMOGRAPHY:
        published = np.array(msg.geometry, dtype=np.float64).reshape(3, 3)
        homography = published / published[2, 2]
    return {
        "matches": len(errors),
        "within_3px": float(np.mean(errors < 3.0)) if len(errors) else 0.0,
        "within_1px": float(np.mean(errors < 1.0)) if len(errors) else 0.0,
        "homography_corner_error_px": corner_error(truth, homography, *SIZE) if homography is not None else None,
    }


class Client:
    """Publisher of pairs and subscriber of results, spun on a background thread."""

    def __init__(self, reliable_input: bool) -> None:
        import rclpy
        from diagnostic_msgs.msg import DiagnosticArray
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.qos import QoSProfile, ReliabilityPolicy
        from sensor_msgs.msg import Image

        from ma_trt_ros.ros.image_conversion import numpy_to_image
        from ma_trt_ros_interfaces.msg import Matches

        self.node = rclpy.create_node("bench_client", namespace=NAMESPACE)
        input_qos = QoSProfile(
            depth=10, reliability=ReliabilityPolicy.RELIABLE if reliable_input else ReliabilityPolicy.BEST_EFFORT
        )
        self.publishers = [self.node.create_publisher(Image, f"image{i}", input_qos) for i in (0, 1)]
        output_qos = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)
        self.node.create_subscription(Matches, RESULTS, self._on_result, output_qos)
        self.messages = [numpy_to_image(image, "rgb8") for image in photograph_pair()]
        for index, msg in enumerate(self.messages):
            msg.header.frame_id = f"cam{index}"
        self.received: list[tuple[int, int, int]] = []  # (stamp ns, receipt ns, match count)
        self.last: Any = None  # the latest Matches message
        self.diagnostics: list[tuple[float, dict[str, float]]] = []  # (monotonic s, the node's numeric values)
        self.node.create_subscription(DiagnosticArray, "/diagnostics", self._on_diagnostics, 10)
        self._changed = threading.Condition()
        self.executor = SingleThreadedExecutor()
        self.executor.add_node(self.node)
        self._thread = threading.Thread(target=self.executor.spin, daemon=True)
        self._thread.start()

    def _on_result(self, msg: Any) -> None:
        now = time.time_ns()
        stamp = msg.header0.stamp.sec * 1_000_000_000 + msg.header0.stamp.nanosec
        with self._changed:
            self.received.append((stamp, now, int(msg.count)))
            self.last = msg
            self._changed.notify_all()

    def _on_diagnostics(self, msg: Any) -> None:
        now = time.monotonic()
        for status in msg.status:
            if "matchanything_node" in status.name:
                values = {}
                for item in status.values:
                    try:
                        values[item.key] = float(item.value)
                    except ValueError:
                        continue
                self.diagnostics.append((now, values))

    def node_report(self, start: float, end: float) -> dict[str, float]:
        """The node's own ``/diagnostics`` over monotonic ``[start, end]``: the mean of each rate and stage
        latency (``*_mean_ms``, ms) over the reports of that span, the largest of each ``*_max_ms``, the
        last of each count; an empty dict when none came."""
        reports = [values for at, values in self.diagnostics if start <= at <= end]
        if not reports:
            return {}
        keys = sorted({key for values in reports for key in values})
        summary: dict[str, float] = {"reports": len(reports)}
        for key in keys:
            series = [values[key] for values in reports if key in values]
            if key.endswith("_max_ms"):
                summary[key] = max(series)
            elif key.endswith(("_hz", "_mean_ms")):
                summary[key] = round(statistics.fmean(series), 3)
            else:
                summary[key] = series[-1]
        return summary

    def wait_connected(self, timeout_s: float, node: NodeProcess) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if node.process.poll() is not None:
                raise RuntimeError(f"the node exited with status {node.process.returncode}")
            if all(p.get_subscription_count() > 0 for p in self.publishers) and self._results_matched():
                time.sleep(1.0)
                return
            time.sleep(0.2)
        raise TimeoutError(f"the node did not subscribe / publish within {timeout_s:.0f} s")

    def _results_matched(self) -> bool:
        return self.node.count_publishers(RESULTS) > 0

    def publish(self) -> int:
        """Publish one pair stamped now; returns the stamp in ns."""
        now = time.time_ns()
        for msg, publisher in zip(self.messages, self.publishers, strict=True):
            msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(now, 1_000_000_000)
            publisher.publish(msg)
        return now

    def count(self) -> int:
        with self._changed:
            return len(self.received)

    def wait_count(self, count: int, timeout_s: float) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: len(self.received) >= count, timeout=timeout_s)

    def close(self) -> None:
        self.executor.shutdown(timeout_sec=2)
        self.node.destroy_node()


def paced(client: Client, pairs: int, rate_hz: float, until: float | None = None, stop_at: int | None = None) -> int:
    """Publish up to ``pairs`` pairs at ``rate_hz``; stops early at ``until`` (monotonic) or when ``stop_at``
    results have arrived. Returns the pairs published."""
    start = time.monotonic()
    for index in range(pairs):
        time.sleep(max(0.0, start + index / rate_hz - time.monotonic()))
        if (until is not None and time.monotonic() > until) or (stop_at is not None and client.count() >= stop_at):
            return index
        client.publish()
    return pairs


def warm_up(client: Client, seconds: float) -> int:
    """Pairs at 2 Hz until 3 results came back (the first calls capture CUDA graphs); returns the pairs published."""
    deadline = time.monotonic() + seconds
    published = 0
    while client.count() < 3 and time.monotonic() < deadline:
        client.publish()
        published += 1
        time.sleep(0.5)
    if client.count() < 3:
        raise TimeoutError(f"fewer than 3 results within {seconds:.0f} s of warm-up")
    time.sleep(1.0)
    return published


def rate_phase(client: Client, rate_hz: float, seconds: float) -> dict[str, Any]:
    """Pairs at ``rate_hz`` for ``seconds``: the share that came back (``latest`` drops what it cannot take),
    results per second and their latency; the node's own stage times over the span."""
    before = client.count()
    start = time.monotonic()
    published = paced(client, 10**9, rate_hz, until=start + seconds)
    client.wait_count(before + published, 2.0)
    results = client.received[before:]
    return {
        "rate_hz": rate_hz,
        "published": published,
        "received": len(results),
        "received_share": round(len(results) / published, 3) if published else 0.0,
        "pairs_per_s": len(results) / seconds,
        "latency_ms": quantiles(latencies_ms(results)),
        "node": client.node_report(start + 1.5, start + seconds),
    }


def latest_phases(client: Client, args: argparse.Namespace) -> dict[str, Any]:
    report: dict[str, Any] = {"warm_up_pairs": warm_up(client, args.warmup_s)}
    before = client.count()
    latency_start = time.monotonic()
    published = paced(client, args.latency_pairs, args.latency_hz)
    client.wait_count(before + published, 10.0)
    results = client.received[before:]
    latencies = latencies_ms(results)
    report["latency"] = {
        "published": published,
        "received": len(results),
        "rate_hz": args.latency_hz,
        "ms": quantiles(latencies),
        "matches_median": statistics.median(c for _, _, c in results) if results else 0,
        "last_result_against_truth": against_truth(client.last),
        "node": client.node_report(latency_start + 1.0, time.monotonic()),
    }
    time.sleep(1.0)
    report["rates"] = [rate_phase(client, rate, args.rate_s) for rate in args.rates]
    memory: list[tuple[float, int | None]] = []
    stop = threading.Event()
    start_memory = time.monotonic()

    def sample() -> None:
        while not stop.is_set():
            memory.append((time.monotonic() - start_memory, device_memory_mib()))
            stop.wait(2.0)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    before = client.count()
    start = time.monotonic()
    target = before + args.memory_pairs
    published = paced(client, 10**9, args.saturation_hz, until=start + args.saturation_max_s, stop_at=target)
    elapsed = time.monotonic() - start
    end_ns = time.time_ns()
    time.sleep(1.0)
    stop.set()
    sampler.join()
    results = client.received[before:]
    inside = [r for r in results if r[1] <= end_ns]  # while pairs still came in
    spans = (inside[-1][1] - inside[0][1]) / 1e9 if len(inside) > 1 else float("nan")
    used = [m for _, m in memory if m is not None]
    report["saturation"] = {
        "published": published,
        "publish_rate_hz": published / elapsed,
        "results": len(results),
        "seconds": elapsed,
        "pairs_per_s": (len(inside) - 1) / spans if len(inside) > 1 else 0.0,
        "latency_ms": quantiles(latencies_ms(results)),
        "node": client.node_report(start + 1.5, start + elapsed),
    }
    report["memory"] = {
        "pairs": len(results),
        "device_used_mib_samples": memory,
        "first_mib": used[0] if used else None,
        "last_mib": used[-1] if used else None,
        "max_mib": max(used) if used else None,
        "growth_mib": (used[-1] - used[0]) if used else None,
    }
    return report


def lossless_phase(client: Client, args: argparse.Namespace) -> dict[str, Any]:
    warm = warm_up(client, args.warmup_s)
    client.wait_count(warm, 60.0)  # lossless: every warm-up pair gives a result
    before = client.count()
    stamps = []
    start = time.monotonic()
    for index in range(args.lossless_pairs):
        if not client.wait_count(before + index - LOSSLESS_WINDOW + 1, 30.0):
            break
        stamps.append(client.publish())
    client.wait_count(before + len(stamps), 30.0)
    elapsed = time.monotonic() - start
    results = client.received[before:]
    got = [stamp for stamp, _, _ in results]
    return {
        "warm_up_pairs": warm,
        "published": len(stamps),
        "received": len(results),
        "lost": len(set(stamps) - set(got)),
        "duplicates": len(got) - len(set(got)),
        "in_order": got == sorted(got),
        "pairs_per_s": len(results) / elapsed,
        "node": client.node_report(start + 1.5, start + elapsed),
    }


def profiler(args: argparse.Namespace, log: Path) -> list[str] | None:
    """The ``py-spy record`` command line that runs the node under ``--profile-with`` (None without it):
    samples of the thread holding the GIL, per thread, as folded stacks in ``<log stem>_gil.txt``."""
    if not args.profile_with:
        return None
    out = log.with_name(f"{log.stem}_gil.txt")
    return [args.profile_with, "record", "--threads", "--gil", "-r", "250", "-f", "raw", "-o", str(out), "--"]


def run_node(
    args: argparse.Namespace, overrides: dict[str, Any], log: Path, phases: Any, reliable: bool, profile: bool = False
) -> dict:
    """Start a node with ``overrides`` (under py-spy when ``profile``), run ``phases(client, args)`` against it,
    stop it."""
    started = time.monotonic()
    node = NodeProcess(args.config, {**args.overrides, **overrides}, log, profiler(args, log) if profile else None)
    client = Client(reliable)
    try:
        client.wait_connected(args.start_timeout_s, node)
        report = {"node_start_s": time.monotonic() - started, **phases(client, args)}
    except Exception as error:  # recorded: the other phase still runs
        report = {"error": f"{type(error).__name__}: {error}", "node_log_tail": node.tail()}
    finally:
        client.close()
        report["node_exit"] = node.stop()
        report["node_run_s"] = time.monotonic() - started  # the --seconds of bench/gil_profile.py
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", required=True, help="the node's YAML (e.g. config/desktop_torch_roma.yaml)")
    parser.add_argument("--set", action="append", default=[], help="NAME=VALUE parameter overrides (model_path, ...)")
    parser.add_argument("--out", required=True)
    parser.add_argument("--logs", default=".", help="folder for the node logs")
    parser.add_argument("--latency-pairs", type=int, default=200)
    parser.add_argument("--latency-hz", type=float, default=10.0)
    parser.add_argument("--saturation-hz", type=float, default=100.0)
    parser.add_argument(
        "--rates", type=float, nargs="*", default=[], help="pair rates (Hz) each published for --rate-s (latest)"
    )
    parser.add_argument("--rate-s", type=float, default=6.0)
    parser.add_argument("--saturation-max-s", type=float, default=60.0)
    parser.add_argument("--memory-pairs", type=int, default=5000)
    parser.add_argument("--lossless-pairs", type=int, default=200)
    parser.add_argument("--warmup-s", type=float, default=120.0)
    parser.add_argument("--start-timeout-s", type=float, default=240.0)
    parser.add_argument(
        "--profile-with",
        default="",
        help="py-spy executable: the latest-policy node runs under 'py-spy record --gil' (folded stacks in --logs)",
    )
    args = parser.parse_args()
    args.overrides = dict(item.split("=", 1) for item in args.set)
    # a time limit's SIGTERM unwinds like Ctrl-C, so that the node child is stopped too
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    import rclpy

    rclpy.init()
    logs = Path(args.logs)
    logs.mkdir(parents=True, exist_ok=True)
    name = Path(args.out).stem
    report: dict[str, Any] = {
        "config": args.config,
        "overrides": args.overrides,
        "image_size_wh": [SIZE[1], SIZE[0]],
        "pair": f"{PHOTOGRAPH.name} (rgb8) and its warp by known_homography(0)",
        "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "commit": (ROOT / "COMMIT").read_text().strip() if (ROOT / "COMMIT").exists() else "unknown",
        "rmw": os.environ.get("RMW_IMPLEMENTATION", "default"),
    }
    latest = {"queue_policy": "latest", "queue_size": 1}
    report["latest"] = run_node(args, latest, logs / f"{name}_latest.log", latest_phases, False, profile=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    lossless = {"queue_policy": "lossless", "queue_size": 8, "input_reliability": "reliable"}
    report["lossless"] = run_node(args, lossless, logs / f"{name}_lossless.log", lossless_phase, reliable=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    rclpy.shutdown()
    short = {
        "latency_ms": report["latest"].get("latency", {}).get("ms"),
        "pairs_per_s": report["latest"].get("saturation", {}).get("pairs_per_s"),
        "memory": {k: v for k, v in report["latest"].get("memory", {}).items() if k != "device_used_mib_samples"},
        "lossless": {k: report["lossless"].get(k) for k in ("published", "received", "lost", "duplicates")},
        "errors": [report[p].get("error") for p in ("latest", "lossless") if "error" in report[p]],
    }
    print(name, json.dumps(short), flush=True)


if __name__ == "__main__":
    main()
