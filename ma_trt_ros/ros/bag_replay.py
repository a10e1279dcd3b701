"""``ma-trt-replay``: publish the images of a ROS 2 bag onto matchanything_node's inputs.

    ma-trt-replay BAG --image0 /cam0/image_raw --image1 /cam1/image_raw --namespace /front [--rate 1.0]
    ma-trt-replay BAG --image0 ... --image1 ... --lossless        # every pair, as fast as the node goes
    ma-trt-replay BAG --image /cam/image_raw --lossless --unpaired 1   # sequential mode, stride 1

Bag topics are published (raw CDR, no decoding) on ``<namespace>/image0`` and ``<namespace>/image1``
(``--image``: ``<namespace>/image``) with reliable QoS, which matches best-effort and reliable
subscribers.

- Timed (default): the bag's message times, sped up by ``--rate`` (0 = as fast as possible).
- ``--lossless``: paced on the node's results (``--results``, default
  ``<namespace>/matchanything_node/matches``): at most ``--window`` pairs are waiting for their result
  at any time. A node with ``queue_policy: lossless`` gets every pair at any pace; pacing keeps what
  waits in DDS to ``--window`` pairs and lets the run stop at the first pair without a result.
  Pairs are counted on the first image topic; ``--unpaired`` frames give no result (sequential mode:
  the stride). Ends when every result arrived, or fails after ``--timeout-s`` without progress.

While it waits (for the node's subscriptions, or for results) it says so on stderr every
``NOTICE_S`` seconds, naming the topics.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import threading
import time
from collections.abc import Callable

from ma_trt_ros.cli_errors import fail, run_command
from ma_trt_ros.ros.bag_io import bag_errors, check_topics, count_messages, read_messages

MATCHES_TOPIC = "matchanything_node/matches"
NOTICE_S = 3.0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="ma-trt-replay", description=__doc__.split("\n\n")[0])
    parser.add_argument("bag", help="bag folder (sqlite3 or mcap)")
    parser.add_argument("--image0", help="bag topic published as <namespace>/image0")
    parser.add_argument("--image1", help="bag topic published as <namespace>/image1")
    parser.add_argument("--image", help="bag topic published as <namespace>/image (reference, sequential modes)")
    parser.add_argument("--namespace", default="/", help="namespace of the node's inputs (default /)")
    parser.add_argument("--rate", type=float, default=1.0, help="timed mode: speed factor, 0 = unpaced")
    parser.add_argument(
        "--lossless", action="store_true", help="pace on the node's results: at most --window pairs without a result"
    )
    parser.add_argument("--window", type=int, default=4, help="lossless: most pairs waiting for a result")
    parser.add_argument("--results", help=f"lossless: results topic (default <namespace>/{MATCHES_TOPIC})")
    parser.add_argument("--unpaired", type=int, default=0, help="lossless: frames that give no result")
    parser.add_argument("--timeout-s", type=float, default=60.0, help="lossless: longest wait for one result")
    args = parser.parse_args(argv)
    if bool(args.image) == bool(args.image0 or args.image1) or (args.image0 is None) != (args.image1 is None):
        parser.error("give --image0 and --image1 (pair mode), or --image")
    if args.window < 1:
        parser.error("--window must be >= 1")
    return args


def joined(namespace: str, name: str) -> str:
    """``namespace/name`` as an absolute topic."""
    return "/" + "/".join(part for part in (namespace.strip("/"), name) if part)


class ResultCounter:
    """Counts messages on the results topic (subscription callback; thread-safe wait)."""

    def __init__(self) -> None:
        self.count = 0
        self._changed = threading.Condition()

    def on_message(self, msg: object) -> None:
        with self._changed:
            self.count += 1
            self._changed.notify_all()

    def wait_for(self, count: int, timeout_s: float, notice: Callable[[], None] = lambda: None) -> bool:
        """Wait until ``count`` results arrived; False when none came for ``timeout_s``. ``notice`` is called
        every :data:`NOTICE_S` seconds without a result."""
        with self._changed:
            quiet_s = 0.0
            while self.count < count:
                if self._changed.wait(timeout=min(NOTICE_S, timeout_s - quiet_s)):
                    quiet_s = 0.0
                    continue
                quiet_s += min(NOTICE_S, timeout_s - quiet_s)
                if quiet_s >= timeout_s:
                    return False
                notice()
            return True


def say(message: str) -> None:
    """A progress note on stderr (stdout keeps the result line)."""
    print(message, file=sys.stderr, flush=True)


def spin_quietly(executor: object) -> None:
    """``executor.spin()`` that ends without a traceback when the context is shut down."""
    from rclpy.executors import ExternalShutdownException

    with contextlib.suppress(ExternalShutdownException):
        executor.spin()


def replay(args: argparse.Namespace) -> int:
    """Publish the bag as ``args`` say; returns the process exit status."""
    import rclpy
    from rclpy.duration import Duration
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import Image

    from ma_trt_ros_interfaces.msg import Matches

    sources = {args.image0: "image0", args.image1: "image1"} if args.image0 else {args.image: "image"}
    counted_topic = args.image0 or args.image
    check_topics(args.bag, sources)
    total = count_messages(args.bag, counted_topic)
    rclpy.init()
    node = rclpy.create_node("ma_trt_replay")
    qos = QoSProfile(depth=max(10, 2 * args.window), reliability=ReliabilityPolicy.RELIABLE)
    publishers = {
        topic: node.create_publisher(Image, joined(args.namespace, name), qos) for topic, name in sources.items()
    }
    results = ResultCounter()
    results_topic = args.results or joined(args.namespace, MATCHES_TOPIC)
    node.create_subscription(Matches, results_topic, results.on_message, QoSProfile(depth=100))
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    spinner = threading.Thread(target=spin_quietly, args=(executor,), daemon=True)
    spinner.start()
    try:
        outputs = ", ".join(p.topic_name for p in publishers.values())
        start = time.monotonic()
        next_notice = start + NOTICE_S
        while not all(p.get_subscription_count() > 0 for p in publishers.values()):
            if time.monotonic() > start + args.timeout_s:
                return fail(
                    f"no subscriber on {outputs} after {args.timeout_s} s; start matchanything_node in namespace "
                    f"{args.namespace} (-r __ns:={args.namespace}), or give the node's namespace with --namespace"
                )
            if time.monotonic() > next_notice:
                say(f"waiting for a subscriber on {outputs} (matchanything_node in namespace {args.namespace})")
                next_notice += NOTICE_S
            time.sleep(0.05)
        time.sleep(0.5)  # let the subscriber side match this publisher too
        published, first_time_ns, start = 0, None, time.monotonic()

        def waiting() -> None:
            say(f"waiting for results on {results_topic}: {results.count} after {published} pairs")

        for message in read_messages(args.bag, sources):
            if message.topic == counted_topic:
                if args.lossless:
                    expected = published - args.unpaired - args.window + 1
                    if not results.wait_for(expected, args.timeout_s, waiting):
                        return fail(
                            f"no result on {results_topic} for {args.timeout_s} s: {results.count} results after "
                            f"{published} pairs; is the node active, and are its results on that topic (--results)?"
                        )
                published += 1
            if not args.lossless and args.rate > 0:
                first_time_ns = message.time_ns if first_time_ns is None else first_time_ns
                time.sleep(max(0.0, start + (message.time_ns - first_time_ns) * 1e-9 / args.rate - time.monotonic()))
            publishers[message.topic].publish(message.cdr)
        if args.lossless and not results.wait_for(total - args.unpaired, args.timeout_s, waiting):
            return fail(f"incomplete: {results.count} of {total - args.unpaired} results on {results_topic}")
        for publisher in publishers.values():
            publisher.wait_for_all_acked(Duration(seconds=args.timeout_s))
        print(f"replayed {published} pairs from {args.bag}; {results.count} results on {results_topic}", flush=True)
        return 0
    finally:
        rclpy.try_shutdown()
        spinner.join(timeout=5.0)
        executor.shutdown(timeout_sec=1.0)
        node.destroy_node()


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``ma-trt-replay``: exit 0, or non-zero with one ``error:`` line."""
    args = parse_args(argv)
    return run_command(lambda: replay(args), (ValueError, *bag_errors()))


if __name__ == "__main__":
    sys.exit(main())
