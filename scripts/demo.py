"""``make demo``: the whole main job on a machine without GPU or downloaded weights.

1. weights: ``ma-trt-convert random-checkpoint --matching``, synthetic ELoFTR weights in the release
   layout (UNTRAINED: seeded random values rescaled so that the network produces matches at all; the
   matches mean nothing), or ``--checkpoint``;
2. export ELoFTR to ONNX at a small size (default 224 x 288, fp32);
3. write a bag of image pairs (textured images, image 1 = image 0 moved by a known shift);
4. start ``matchanything_node`` on ONNX Runtime, replay the bag through it losslessly
   (``ma-trt-replay``), record its outputs into a bag;
5. write ``summary.md``/``summary.json`` and pictures of the first pairs.

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
UNTRAINED_NOTE = (
    "UNTRAINED synthetic weights: seeded random values rescaled so that the network produces matches "
    "at all. The matches are meaningless; the demo shows the pipeline, not matching quality. "
    "Run `make demo CHECKPOINT=matchanything_eloftr.ckpt` with the released weights for real matches."
)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", help="matchanything_eloftr.ckpt as released (default: synthetic weights)")
    parser.add_argument("--output-dir", default=str(REPO_ROOT / "build" / "demo"))
    parser.add_argument("--pairs", type=int, default=8, help="image pairs in the bag")
    parser.add_argument("--height", type=int, default=224, help="network height (multiple of 32)")
    parser.add_argument("--width", type=int, default=288, help="network width (multiple of 32)")
    parser.add_argument("--image-scale", type=int, default=2, help="camera images are this many times the network size")
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


def write_weights(path: Path, height: int, width: int, log: Path) -> None:
    """``ma-trt-convert random-checkpoint --matching``: synthetic ELoFTR weights (release layout) that give
    matches on textured pairs at the network size; untrained."""
    convert(["random-checkpoint", "--variant", "eloftr", "--output", str(path), "--matching", f"{height}x{width}"], log)


def export_onnx(checkpoint: Path, onnx: Path, height: int, width: int, log: Path) -> None:
    """``ma-trt-convert export`` (fp32, batch 1) of ``checkpoint`` to ``onnx``."""
    arguments = ["export", "--variant", "eloftr", "--checkpoint", str(checkpoint), "--height", str(height)]
    convert([*arguments, "--width", str(width), "--precision", "fp32", "--output", str(onnx)], log)


def pair_shift(index: int) -> tuple[int, int]:
    """Known shift (dx, dy) of pair ``index``, network pixels: image-0 content at (x, y) is at (x + dx, y + dy)."""
    return ((index * 3) % 13 - 6, (index * 5) % 11 - 5)


def write_pair_bag(path: Path, pairs: int, height: int, width: int, scale: int) -> list[tuple[int, int]]:
    """A bag of ``pairs`` mono8 pairs (``scale`` x the network size) at 5 Hz; returns the shifts in camera pixels."""
    import torch.nn.functional as F
    from std_msgs.msg import Header

    from ma_trt_convert.synthetic.pairs import textured_pair
    from ma_trt_ros.ros.bag_io import write_image_bag
    from ma_trt_ros.ros.image_conversion import numpy_to_image

    shifts = []
    messages = []
    for index in range(pairs):
        dx, dy = pair_shift(index)
        images = textured_pair(height, width, shift=(dx, dy), seed=index + 1)
        header = Header()
        header.stamp.sec, header.stamp.nanosec = 1000 + index // 5, (index % 5) * 200_000_000
        for topic, frame, image in zip(TOPICS, ("left", "right"), images, strict=True):
            large = F.interpolate(image, scale_factor=scale, mode="bilinear", align_corners=False)[0, 0].numpy()
            array = np.clip(np.rint(large * 255), 0, 255).astype(np.uint8)
            messages.append((topic, numpy_to_image(array, "mono8", header=Header(stamp=header.stamp, frame_id=frame))))
        shifts.append((dx * scale, dy * scale))
    write_image_bag(path, messages)
    return shifts


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


def summarise(recorder: Recorder, shifts: list[tuple[int, int]], root: Path, untrained: bool) -> dict[str, Any]:
    """Numbers of the run; writes the output bag and the pictures."""
    import cv2

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
    for msg, (dx, dy) in zip(matches, shifts, strict=False):
        points0 = np.frombuffer(msg.points0, np.float32).reshape(-1, 2)
        points1 = np.frombuffer(msg.points1, np.float32).reshape(-1, 2)
        error = np.linalg.norm(points1 - points0 - np.array([dx, dy], np.float32), axis=1)
        per_pair.append(
            {
                "stamp": f"{msg.header0.stamp.sec}.{msg.header0.stamp.nanosec:09d}",
                "matches": int(msg.count),
                "homography_inliers": int(sum(msg.inliers)),
                "median_error_vs_known_shift_px": float(np.median(error)) if msg.count else None,
                "inference_ms": round(float(msg.inference_latency_ms), 1),
            }
        )
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
        "untrained_weights": untrained,
        "note": UNTRAINED_NOTE if untrained else "released weights",
        "pairs_in_bag": len(shifts),
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
    lines = ["# ma_trt_ros demo", ""]
    if summary["untrained_weights"]:
        lines += [f"**{UNTRAINED_NOTE}**", ""]
    lines += [
        f"- pairs in the bag: {summary['pairs_in_bag']}; results from the live node: {summary['results']}",
        f"- model: `{summary['engine_id']}` on ONNX Runtime (CPU)",
        f"- outputs recorded in `results_bag/` (mcap); pictures: {', '.join(summary['pictures'])}",
        "",
        "| stamp | matches | homography inliers | median error vs known shift (px) | inference (ms) |",
        "| --- | --- | --- | --- | --- |",
    ]
    for row in summary["per_pair"]:
        error = row["median_error_vs_known_shift_px"]
        lines.append(
            f"| {row['stamp']} | {row['matches']} | {row['homography_inliers']} | "
            f"{'-' if error is None else f'{error:.1f}'} | {row['inference_ms']} |"
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
    untrained = args.checkpoint is None
    checkpoint = root / "synthetic_eloftr_untrained.ckpt" if untrained else Path(args.checkpoint)
    onnx = root / f"eloftr_{args.height}x{args.width}_fp32.onnx"
    if untrained:
        with steps.step("write synthetic (untrained) ELoFTR weights"):
            write_weights(checkpoint, args.height, args.width, root / "convert.log")
    with steps.step("export ELoFTR to ONNX"):
        export_onnx(checkpoint, onnx, args.height, args.width, root / "convert.log")
    with steps.step("write the bag of image pairs"):
        bag = root / "pairs_bag"
        shutil.rmtree(bag, ignore_errors=True)
        shifts = write_pair_bag(bag, args.pairs, args.height, args.width, args.image_scale)
    env = ros_environment(root)
    with steps.step("live node on ONNX Runtime with the bag replayed through it"):
        shutil.rmtree(root / "results_bag", ignore_errors=True)
        recorder = run_node_and_replay(onnx, bag, root, env, args.pairs)
    with steps.step("summary and pictures"):
        summary = summarise(recorder, shifts, root, untrained)
        recorder.close()
    steps.seconds["total"] = time.monotonic() - start
    path = write_summary(summary, steps, root)
    print(path.read_text())
    print(f"[demo] done in {steps.seconds['total']:.0f} s; everything is in {root}")
    return 0 if summary["results"] == args.pairs else 1


if __name__ == "__main__":
    sys.exit(main())
