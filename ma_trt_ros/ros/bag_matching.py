"""``ma-trt-bag``: match the image pairs of a ROS 2 bag offline and write the results to a new bag.

    ma-trt-bag IN_BAG OUT_BAG --model eloftr.onnx --image0 /cam0/image_raw --image1 /cam1/image_raw
    ma-trt-bag IN_BAG OUT_BAG --model roma.plan --image /cam/image_raw --mode sequential --stride 2 --pictures
    ma-trt-bag IN_BAG OUT_BAG --model eloftr.plan --image /cam/image_raw --mode reference --reference-image map.png

Pairs are formed by the node's rules (:mod:`ma_trt_ros.ros.input_pairing`, every pair kept: the
offline run is lossless), matched ``--batch`` at a time with the backend's ``match_batch``, and
written as the node would publish them: ``<namespace>/matches``, ``<namespace>/dense`` (RoMa) and,
with ``--pictures``, ``<namespace>/matches_image`` and ``<namespace>/certainty_image``; each at the
bag time of its image 0. No DDS is involved. A progress bar counts the input frames.

The input bag, its topics and the output name are checked before the model is loaded; the output is
written to ``.OUT_BAG.partial`` next to it and renamed at the end, so a failed run leaves nothing behind.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ma_trt_ros.cli_errors import run_command
from ma_trt_ros.ros.bag_io import (
    BagWriter,
    bag_errors,
    check_topics,
    count_messages,
    deserialize,
    read_messages,
    serialize,
)
from ma_trt_ros.ros.image_files import read_image_message
from ma_trt_ros.ros.input_pairing import ReferencePairer, make_pairer
from ma_trt_ros.ros.matcher_factory import factory_from_environment
from ma_trt_ros.ros.node_parameters import BACKENDS, GEOMETRIES, INPUT_MODES, NodeParameters
from ma_trt_ros.ros.pair_pipeline import PairPipeline
from ma_trt_ros.ros.pair_sync import stamp_to_ns
from ma_trt_ros.ros.result_messages import OutputSettings
from ma_trt_ros.runtime.options import MatchOptions
from ma_trt_ros.runtime.settings_arguments import add_backend_arguments, backend_settings

OUTPUT_TYPES = {
    "matches": "ma_trt_ros_interfaces/msg/Matches",
    "dense": "ma_trt_ros_interfaces/msg/DenseCorrespondence",
    "matches_image": "sensor_msgs/msg/Image",
    "certainty_image": "sensor_msgs/msg/Image",
}


@dataclass(frozen=True)
class PendingPair:
    """A pair waiting for its batch: the two image messages and the bag time of image 0 (ns)."""

    image0: Any
    image1: Any
    time_ns: int


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="ma-trt-bag", description=__doc__.split("\n\n")[0])
    parser.add_argument("input", help="input bag folder (sqlite3 or mcap)")
    parser.add_argument("output", help="output bag folder (must not exist)")
    parser.add_argument("--model", required=True, help="engine plan, ONNX file or checkpoint")
    parser.add_argument("--backend", default="auto", choices=BACKENDS)
    parser.add_argument("--mode", default="pair", choices=INPUT_MODES, help="pairing rule, as the node's input_mode")
    parser.add_argument("--image0", help="bag topic of image 0 (mode pair)")
    parser.add_argument("--image1", help="bag topic of image 1 (mode pair)")
    parser.add_argument("--image", help="bag topic of the frames (modes reference, sequential)")
    parser.add_argument("--reference-image", default="", help="mode reference: image file")
    parser.add_argument("--reference-topic", help="mode reference: bag topic holding the reference image(s)")
    parser.add_argument("--stride", type=int, default=1, help="mode sequential: k (frame t against t - k)")
    parser.add_argument("--slop-s", type=float, default=0.01, help="mode pair: largest stamp difference, s")
    parser.add_argument("--batch", type=int, default=4, help="pairs per match_batch call")
    parser.add_argument("--num-matches", type=int, default=5000, help="RoMa sparse samples per pair")
    parser.add_argument("--certainty-threshold", type=float, default=0.0, help="RoMa sampling threshold")
    parser.add_argument("--geometry", default="none", choices=GEOMETRIES)
    parser.add_argument("--ransac-reproj-px", type=float, default=3.0)
    parser.add_argument("--dense-stride", type=int, default=1)
    parser.add_argument("--no-dense", action="store_true", help="do not write <namespace>/dense")
    parser.add_argument("--pictures", action="store_true", help="also write the two picture topics")
    parser.add_argument("--namespace", default="/matchanything", help="prefix of the output topics")
    parser.add_argument("--storage", default="sqlite3", choices=["sqlite3", "mcap"])
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_backend_arguments(parser)
    args = parser.parse_args(argv)
    if args.mode == "pair" and not (args.image0 and args.image1):
        parser.error("mode pair needs --image0 and --image1")
    if args.mode != "pair" and not args.image:
        parser.error(f"mode {args.mode} needs --image")
    if args.mode == "reference" and bool(args.reference_image) == bool(args.reference_topic):
        parser.error("mode reference needs one of --reference-image, --reference-topic")
    for name in ("batch", "stride", "dense_stride", "num_matches"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1")
    return args


def output_settings(args: argparse.Namespace) -> OutputSettings:
    """What each pair's output messages hold (the node's rules for the same parameters)."""
    return OutputSettings(args.geometry, args.ransac_reproj_px, not args.no_dense, args.dense_stride)


def progress_bar(total: int, disabled: bool) -> Any:
    """A tqdm progress bar over ``total`` frames."""
    from tqdm import tqdm

    return tqdm(total=total, unit="frame", disable=disabled, file=sys.stderr)


def partial_path(output: str) -> Path:
    """Where the output bag is written until it is complete: ``.NAME.partial`` in the output's folder."""
    path = Path(output)
    return path.with_name(f".{path.name}.partial")


def write_atomically(args: argparse.Namespace) -> dict[str, int]:
    """:func:`match_bag` into :func:`partial_path`, renamed to ``args.output`` at the end; removed on failure."""
    output, partial = Path(args.output), partial_path(args.output)
    if output.exists():
        raise ValueError(f"{output} exists already; remove it or give another output folder")
    shutil.rmtree(partial, ignore_errors=True)  # left by a killed run
    try:
        written = match_bag(args)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    partial.rename(output)
    return written


def match_bag(args: argparse.Namespace) -> dict[str, int]:
    """Run the whole bag into :func:`partial_path`; returns how many messages were written per output name."""
    from sensor_msgs.msg import Image
    from std_msgs.msg import Header

    frame_topics = [args.image0, args.image1] if args.mode == "pair" else [args.image]
    topics = [*frame_topics, *([args.reference_topic] if args.reference_topic else [])]
    check_topics(args.input, topics)
    pairer = make_pairer(args.mode, int(args.slop_s * 1e9), 1 << 30, args.stride)
    if isinstance(pairer, ReferencePairer) and args.reference_image:
        header = Header(frame_id=NodeParameters.reference_frame_id)
        pairer.set_reference((0, read_image_message(args.reference_image, header)))
    options = MatchOptions(num_matches=args.num_matches, certainty_threshold=args.certainty_threshold)
    matcher = factory_from_environment()(args.model, args.backend, options, backend_settings(args))
    pipeline = PairPipeline(matcher, output_settings(args))
    pictures = frozenset({"matches_image", "certainty_image"} if args.pictures else ())
    written = dict.fromkeys(OUTPUT_TYPES, 0)
    pending: list[PendingPair] = []

    def run_batch(writer: BagWriter) -> None:
        outputs = pipeline.process([(p.image0, p.image1) for p in pending], pictures)
        for pair, output in zip(pending, outputs, strict=True):
            for name, msg in output.messages.items():
                writer.write(f"{args.namespace}/{name}", OUTPUT_TYPES[name], pair.time_ns, serialize(msg))
                written[name] += 1
        pending.clear()

    try:
        with (
            BagWriter(partial_path(args.output), args.storage) as writer,
            progress_bar(sum(count_messages(args.input, t) for t in frame_topics), args.no_progress) as bar,
        ):
            for message in read_messages(args.input, topics):
                image = deserialize(message.cdr, Image)
                # Pairer items are (bag time ns, image): outputs are written at the bag time of image 0.
                item = (message.time_ns, image)
                if message.topic == args.reference_topic:
                    pairer.set_reference(item)
                    continue
                bar.update(1)
                for (time_ns, image0), (_, image1) in pairer.add(
                    frame_topics.index(message.topic), stamp_to_ns(image.header.stamp), item
                ):
                    pending.append(PendingPair(image0, image1, time_ns))
                    if len(pending) >= args.batch:
                        run_batch(writer)
            pending.extend(PendingPair(i0, i1, t0) for (t0, i0), (_, i1) in pairer.flush())
            if pending:
                run_batch(writer)
    finally:
        matcher.close()
    return written


def run(args: argparse.Namespace) -> int:
    """Match the bag and print what was written; returns the exit status."""
    written = write_atomically(args)
    summary = ", ".join(f"{count} {name}" for name, count in written.items() if count)
    print(f"wrote {args.output}: {summary or 'no pairs'}", flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``ma-trt-bag``: exit 0, or 2 with one ``error:`` line (nothing written)."""
    from ma_trt_ros.runtime.errors import MatcherError

    args = parse_args(argv)
    return run_command(lambda: run(args), (MatcherError, ValueError, *bag_errors()))


if __name__ == "__main__":
    sys.exit(main())
