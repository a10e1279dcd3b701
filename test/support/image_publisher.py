"""Child-process image publisher for the node tests: constant images whose value encodes their index.

``python -m support.image_publisher MODE COUNT RATE_HZ [options]`` publishes ``COUNT`` frames at
``RATE_HZ`` (0: unpaced, as fast as ``publish`` returns): in MODE ``pair`` an image on ``image0``
and one on ``image1`` per frame with equal stamps,
in MODE ``single`` one image on ``image`` per frame. Frame ``i`` is mono8 filled with ``i % 256``,
stamped ``FIRST_STAMP_S + i`` seconds (``--wall-stamps``: the wall clock at publication), frame ids
``cam0`` / ``cam1`` (``single``: ``cam``). Writers are keep-last ``--depth`` (default 100; 0: keep-all).
Prints ``published COUNT in S s, acknowledged after S s`` when done and then lingers.
"""

from __future__ import annotations

import argparse
import contextlib
import time

FIRST_STAMP_S = 100


def frame_value(index: int) -> int:
    """Pixel value of frame ``index``."""
    return index % 256


def writer_qos(reliability: str, depth: int) -> object:
    """Keep-last ``depth`` with ``reliability``, or keep-all when ``depth`` is 0."""
    from rclpy.qos import HistoryPolicy

    from support.ros_harness import qos_profile

    qos = qos_profile(reliability, max(depth, 1))
    if depth == 0:
        qos.history = HistoryPolicy.KEEP_ALL
    return qos


def main() -> None:
    import numpy as np
    import rclpy
    from rclpy.duration import Duration
    from sensor_msgs.msg import Image
    from std_msgs.msg import Header

    from ma_trt_ros.ros.image_conversion import numpy_to_image
    from support.ros_harness import CHILD_LIFETIME_S, wait_until

    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["pair", "single"])
    parser.add_argument("count", type=int)
    parser.add_argument("rate_hz", type=float)
    parser.add_argument("--namespace", default="/")
    parser.add_argument("--size0", default="37x29", help="WIDTHxHEIGHT of image0 / image")
    parser.add_argument("--size1", default="45x31", help="WIDTHxHEIGHT of image1")
    parser.add_argument("--reliability", default="reliable")
    parser.add_argument("--wall-stamps", action="store_true")
    parser.add_argument("--depth", type=int, default=100, help="history depth of the writers (0: keep all)")
    args = parser.parse_args()

    rclpy.init()
    node = rclpy.create_node("test_image_publisher", namespace=args.namespace)
    topics = {
        "pair": [("image0", "cam0", args.size0), ("image1", "cam1", args.size1)],
        "single": [("image", "cam", args.size0)],
    }
    publishers = [
        (node.create_publisher(Image, topic, writer_qos(args.reliability, args.depth)), frame, size)
        for topic, frame, size in topics[args.mode]
    ]
    wait_until(lambda: all(p.get_subscription_count() > 0 for p, _, _ in publishers), 30.0, "the node's subscriptions")
    time.sleep(0.5)
    start = time.monotonic()
    for index in range(args.count):
        if args.rate_hz > 0:
            time.sleep(max(0.0, start + index / args.rate_hz - time.monotonic()))
        header = Header()
        if args.wall_stamps:
            now_ns = time.time_ns()
            header.stamp.sec, header.stamp.nanosec = now_ns // 1_000_000_000, now_ns % 1_000_000_000
        else:
            header.stamp.sec = FIRST_STAMP_S + index
        for publisher, frame, size in publishers:
            width, height = (int(v) for v in size.split("x"))
            header.frame_id = frame
            image = np.full((height, width), frame_value(index), np.uint8)
            publisher.publish(numpy_to_image(image, "mono8", header=header))
    published_s = time.monotonic() - start
    if args.reliability == "reliable":
        for publisher, _, _ in publishers:
            publisher.wait_for_all_acked(Duration(seconds=10))
    acknowledged_s = time.monotonic() - start
    print(f"published {args.count} in {published_s:.2f} s, acknowledged after {acknowledged_s:.2f} s", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        time.sleep(CHILD_LIFETIME_S)
    node.destroy_node()
    rclpy.try_shutdown()


if __name__ == "__main__":
    main()
