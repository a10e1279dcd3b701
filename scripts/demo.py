"""``make demo``: the whole main job on a machine without GPU or downloaded weights.

1. weights: the ELoFTR weights trained in this repository (``weights/matchanything_eloftr_trained.ckpt``,
   see ``weights/README.md``), or the released ones with ``--checkpoint``;
2. export ELoFTR to ONNX (default 384 x 512, fp32);
3. write a bag of image pairs: a photograph held out from training (``scripts/demo_data/astronaut.png``)
   and the same photograph warped by a known, seeded homography (rotation, scale, perspective) with a
   change of brightness;
4. start ``matchanything_node`` on ONNX Runtime, replay the bag through it losslessly
   (``ma-trt-replay``), record its outputs into a bag;
5. write ``summary.md``/``summary.json`` (per pair: matches, share within 3 px of the known warp,
   corner error of the homography MAGSAC++ fits to the matches) and pictures of the first pairs.

Everything goes to ``--output-dir`` (default ``build/demo``). ROS runs on an isolated domain on
loopback with the project's Fast DDS profile.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
NAMESPACE = "/demo"
TOPICS = ("/cameras/left/image", "/cameras/right/image")
TRAINED_WEIGHTS = REPO_ROOT / "weights" / "matchanything_eloftr_trained.ckpt"
PHOTOGRAPH = REPO_ROOT / "scripts" / "demo_data" / "astronaut.png"
TRUTH_PX = 3.0


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--checkpoint",
        default=str(TRAINED_WEIGHTS),
        help="ELoFTR weights (default: the ones trained in this repository; or matchanything_eloftr.ckpt as released)",
    )
    parser.add_argument("--output-dir", default=str(REPO_ROOT / "build" / "demo"))
    parser.add_argument("--pairs", type=int, default=8, help="image pairs in the bag")
    parser.add_argument("--height", type=int, default=384, help="network height (multiple of 32)")
    parser.add_argument("--width", type=int, default=512, help="network width (multiple of 32)")
    parser.add_argument("--image-scale", type=int, default=1, help="camera images are this many times the network size")
    return parser.parse_args()


class Steps:
    """Wall time of each step, seconds."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextlib.contextmanager
    def step(self, name: str) -> Iterator[None]:
        print(f"[demo] {name} ...", flush=True)
        start = time.monotonic()
        yield
        self.seconds[name] = time.monotonic() - start
        print(f"[demo] {name}: {self.seconds[name]:.1f} s", flush=True)


CONVERT = [sys.executable, "-c", "import sys; from ma_trt_convert.cli import main; sys.exit(main())"]


def convert(arguments: list[str], log: Path) -> None:
    """Run ``ma-trt-convert ARGUMENTS`` (this interpreter), output appended to ``log``."""
    with open(log, "a") as out:
        subprocess.run([*CONVERT, *arguments], check=True, stdout=out, stderr=subprocess.STDOUT)


def export_onnx(checkpoint: Path, onnx: Path, height: int, width: int, log: Path) -> None:
    """``ma-trt-convert export`` (fp32, batch 1) of ``checkpoint`` to ``onnx``."""
    arguments = ["export", "--variant", "eloftr", "--checkpoint", str(checkpoint), "--height", str(height)]
    convert([*arguments, "--width", str(width), "--precision", "fp32", "--output", str(onnx)], log)


def write_pair_bag(path: Path, pairs: int, height: int, width: int) -> list[np.ndarray]:
    """A bag of ``pairs`` mono8 pairs (``height × width`` camera pixels) at 5 Hz; returns the known homographies."""
    import cv2
    from std_msgs.msg import Header

    from ma_trt_convert.training.photo_pairs import known_homography, warped_pair
    from ma_trt_ros.ros.bag_io import write_image_bag
    from ma_trt_ros.ros.image_conversion import numpy_to_image

    photo = cv2.resize(cv2.imread(str(PHOTOGRAPH), cv2.IMREAD_GRAYSCALE), (width, height), interpolation=cv2.INTER_AREA)
    homographies = []
    messages = []
    for index in range(pairs):
        homography = known_homography(index, height, width)
        header = Header()
        header.stamp.sec, header.stamp.nanosec = 1000 + index // 5, (index % 5) * 200_000_000
        for topic, frame, image in zip(TOPICS, ("left", "right"), warped_pair(photo, homography, index), strict=True):
            messages.append((topic, numpy_to_image(image, "mono8", header=Header(stamp=header.stamp, frame_id=frame))))
        homographies.append(homography)
    write_image_bag(path, messages)
    return homographies


def ros_environment(root: Path) -> dict[str, str]:
    """Environment of an isolated ROS domain on loopback with the large-message Fast DDS profile."""
    home = root / "ros_home"
    (home / "log").mkdir(parents=True, exist_ok=True)
    return {
        **os.environ,
        "ROS_DOMAIN_ID": str(150 + os.getpid() % 80),
        "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST",
        "ROS_HOME": str(home),
        "ROS_LOG_DIR": str(home / "log"),
        "RMW_IMPLEMENTATION": "rmw_fastrtps_cpp",
        "FASTDDS_DEFAULT_PROFILES_FILE": str(REPO_ROOT / "config" / "fastdds_large_messages.xml"),
        "PYTHONUNBUFFERED": "1",
    }


class Recorder:
    """Subscribes to the node's outputs and /diagnostics in this process and keeps every message."""

    def __init__(self) -> None:
        import rclpy
        from diagnostic_msgs.msg import DiagnosticArray
        from rclpy.executors import SingleThreadedExecutor
        from sensor_msgs.msg import Image

        from ma_trt_ros_interfaces.msg import Matches

        rclpy.init()
        self.node = rclpy.create_node("demo_recorder")
        self.messages: dict[str, list[Any]] = {"matches": [], "matches_image": [], "diagnostics": []}
        self._lock = threading.Lock()
        topics = {
            "matches": (Matches, f"{NAMESPACE}/matchanything_node/matches"),
            "matches_image": (Image, f"{NAMESPACE}/matchanything_node/matches_image"),
            "diagnostics": (DiagnosticArray, "/diagnostics"),
        }
        self.subscriptions = [
            self.node.create_subscription(msg_type, topic, functools.partial(self._keep, key), 100)
            for key, (msg_type, topic) in topics.items()
        ]
        self._executor = SingleThreadedExecutor()
        self._executor.add_node(self.node)
        self._thread = threading.Thread(target=self._spin, daemon=True)
        self._thread.start()

    def _spin(self) -> None:
        from rclpy.executors import ExternalShutdownException

        with contextlib.suppress(ExternalShutdownException):
            self._executor.spin()

    def _keep(self, key: str, msg: Any) -> None:
        with self._lock:
            self.messages[key].append(msg)

    def wait_for_node(self, timeout_s: float) -> None:
        """Wait until the node's outputs are matched with our subscriptions."""
        deadline = time.monotonic() + timeout_s
        while not all(s.get_publisher_count() > 0 for s in self.subscriptions):
            if time.monotonic() > deadline:
                raise TimeoutError("the node's outputs did not appear")
            time.sleep(0.05)
        time.sleep(0.5)

    def close(self) -> None:
        import rclpy

        rclpy.try_shutdown()
        self._thread.join(timeout=5.0)
        self.node.destroy_node()


def run_node_and_replay(onnx: Path, bag: Path, root: Path, env: dict[str, str], pairs: int) -> Recorder:
    """Start the node on ONNX Runtime, replay ``bag`` through it losslessly, return the recorder."""
    node_args = ["--ros-args", "-r", f"__ns:={NAMESPACE}", "-p", f"model_path:={onnx}", "-p", "backend:=onnxruntime"]
    for name, value in (("queue_policy", "lossless"), ("queue_size", "4"), ("input_reliability", "reliable")):
        node_args += ["-p", f"{name}:={value}"]
    node_args += ["-p", "geometry:=homography", "-p", "ransac_reproj_px:=6.0"]
    node_log = open(root / "node.log", "w")  # noqa: SIM115 (closed below)
    node = subprocess.Popen(
        [sys.executable, "-m", "ma_trt_ros.ros.matchanything_node", *node_args],
        env=env,
        stdout=node_log,
        stderr=subprocess.STDOUT,
    )
    recorder = None
    try:
        deadline = time.monotonic() + 120.0
        while "configured:" not in (root / "node.log").read_text():
            if node.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the node did not start; see {root / 'node.log'}")
            time.sleep(0.1)
        os.environ.update(env)
        recorder = Recorder()
        recorder.wait_for_node(60.0)
        replay = [sys.executable, "-m", "ma_trt_ros.ros.bag_replay", str(bag), "--image0", TOPICS[0]]
        replay += ["--image1", TOPICS[1], "--namespace", NAMESPACE, "--lossless", "--window", "2"]
        with open(root / "replay.log", "w") as replay_log:
            subprocess.run(replay, env=env, check=True, stdout=replay_log, stderr=subprocess.STDOUT, timeout=600)
        deadline = time.monotonic() + 30.0
        while len(recorder.messages["matches_image"]) < pairs and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(1.5)  # one more diagnostics report
    finally:
        node.send_signal(signal.SIGINT)
        try:
            node.wait(timeout=20.0)
        except subprocess.TimeoutExpired:
            node.kill()
        node_log.close()
    return recorder


def summarise(
    recorder: Recorder, homographies: list[np.ndarray], size: tuple[int, int], root: Path, checkpoint: Path
) -> dict[str, Any]:
    """Numbers of the run against the known homographies (camera ``size`` = height, width); writes the
    output bag and the pictures."""
    import cv2

    from ma_trt_convert.training.metrics import pair_summary
    from ma_trt_ros.ros.bag_io import BagWriter, serialize
    from ma_trt_ros.ros.image_conversion import image_to_numpy
    from ma_trt_ros.ros.pair_sync import stamp_to_ns

    matches = recorder.messages["matches"]
    with BagWriter(root / "results_bag", "mcap") as writer:
        for msg in matches:
            topic, kind = f"{NAMESPACE}/matchanything_node/matches", "ma_trt_ros_interfaces/msg/Matches"
            writer.write(topic, kind, stamp_to_ns(msg.header0.stamp), serialize(msg))
        for msg in recorder.messages["matches_image"]:
            topic = f"{NAMESPACE}/matchanything_node/matches_image"
            writer.write(topic, "sensor_msgs/msg/Image", stamp_to_ns(msg.header.stamp), serialize(msg))
    pictures = []
    for index, msg in enumerate(recorder.messages["matches_image"][:3]):
        path = root / f"matches_{index}.png"
        cv2.imwrite(str(path), np.ascontiguousarray(image_to_numpy(msg)[:, :, ::-1]))
        pictures.append(path.name)
    per_pair = []
    for msg, homography in zip(matches, homographies, strict=False):
        points0 = np.frombuffer(msg.points0, np.float32).reshape(-1, 2).astype(np.float64)
        points1 = np.frombuffer(msg.points1, np.float32).reshape(-1, 2).astype(np.float64)
        accuracy = pair_summary(homography, points0, points1, *size)
        per_pair.append(
            {
                "stamp": f"{msg.header0.stamp.sec}.{msg.header0.stamp.nanosec:09d}",
                "matches": int(msg.count),
                "within_3px": round(accuracy["precision_3px"] * accuracy["matches"]),
                "precision_3px": accuracy["precision_3px"],
                "corner_error_px": accuracy["corner_error_px"],
                "homography_inliers": int(sum(msg.inliers)),
                "inference_ms": round(float(msg.inference_latency_ms), 1),
            }
        )
    published = sum(row["matches"] for row in per_pair)
    within = sum(row["within_3px"] for row in per_pair)
    reports = [
        {kv.key: kv.value for kv in status.values}
        for array in recorder.messages["diagnostics"]
        for status in array.status
        if status.name.startswith(f"{NAMESPACE}/matchanything_node")
    ]
    diagnostics = dict(reports[-1]) if reports else {}
    totals = [float(r["latency_total_max_ms"]) for r in reports if "latency_total_max_ms" in r]
    diagnostics["latency_total_max_ms (whole run)"] = f"{max(totals):.1f}" if totals else "n/a"
    return {
        "weights": str(checkpoint),
        "matches_published": published,
        "within_3px": within,
        "precision_3px": within / published if published else 0.0,
        "pairs_in_bag": len(homographies),
        "results": len(matches),
        "engine_id": matches[0].engine_id if matches else None,
        "per_pair": per_pair,
        "pictures": pictures,
        "last_diagnostics": diagnostics,
    }


def write_summary(summary: dict[str, Any], steps: Steps, root: Path) -> Path:
    """summary.json and summary.md in ``root``; returns the markdown path."""
    summary["step_seconds"] = {name: round(value, 1) for name, value in steps.seconds.items()}
    (root / "summary.json").write_text(json.dumps(summary, indent=2))
    lines = [
        "# ma_trt_ros demo",
        "",
        f"**{summary['within_3px']} of {summary['matches_published']} published matches "
        f"({100 * summary['precision_3px']:.1f} %) lie within {TRUTH_PX:g} px of the known warp.**",
        "",
        f"- weights: `{summary['weights']}`",
        f"- pairs in the bag: {summary['pairs_in_bag']} (held-out photograph and its warp by a known homography); "
        f"results from the live node: {summary['results']}",
        f"- model: `{summary['engine_id']}` on ONNX Runtime (CPU)",
        f"- outputs recorded in `results_bag/` (mcap); pictures: {', '.join(summary['pictures'])}",
        "",
        "| stamp | matches | within 3 px | corner error of the MAGSAC++ homography (px) | node's homography inliers "
        "| inference (ms) |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for row in summary["per_pair"]:
        lines.append(
            f"| {row['stamp']} | {row['matches']} | {100 * row['precision_3px']:.1f} % | "
            f"{row['corner_error_px']:.2f} | {row['homography_inliers']} | {row['inference_ms']} |"
        )
    keys = ("backend", "model", "pairs_formed", "results_published", "latency_total_max_ms (whole run)")
    lines += [
        "",
        "Last `/diagnostics` of the node: " + ", ".join(f"{k} = {summary['last_diagnostics'].get(k)}" for k in keys),
    ]
    lines += ["", "Step times (s): " + ", ".join(f"{k} {v}" for k, v in summary["step_seconds"].items())]
    path = root / "summary.md"
    path.write_text("\n".join(lines) + "\n")
    return path


def main() -> int:
    args = parse_args()
    root = Path(args.output_dir).resolve()
    root.mkdir(parents=True, exist_ok=True)
    steps = Steps()
    start = time.monotonic()
    checkpoint = Path(args.checkpoint)
    onnx = root / f"eloftr_{args.height}x{args.width}_fp32.onnx"
    with steps.step("export ELoFTR to ONNX"):
        export_onnx(checkpoint, onnx, args.height, args.width, root / "convert.log")
    with steps.step("write the bag of image pairs"):
        bag = root / "pairs_bag"
        shutil.rmtree(bag, ignore_errors=True)
        size = (args.height * args.image_scale, args.width * args.image_scale)
        homographies = write_pair_bag(bag, args.pairs, *size)
    env = ros_environment(root)
    with steps.step("live node on ONNX Runtime with the bag replayed through it"):
        shutil.rmtree(root / "results_bag", ignore_errors=True)
        recorder = run_node_and_replay(onnx, bag, root, env, args.pairs)
    with steps.step("summary and pictures"):
        summary = summarise(recorder, homographies, size, root, checkpoint)
        recorder.close()
    steps.seconds["total"] = time.monotonic() - start
    path = write_summary(summary, steps, root)
    print(path.read_text())
    print(f"[demo] done in {steps.seconds['total']:.0f} s; everything is in {root}")
    return 0 if summary["results"] == args.pairs else 1


if __name__ == "__main__":
    sys.exit(main())
