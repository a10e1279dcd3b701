"""``doctor``: what this machine has for the converter, the runtime and the node, and what a target needs."""

from __future__ import annotations

import argparse
import json

from ma_trt_convert.tensorrt.targets import TARGETS


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``doctor``."""
    doc = sub.add_parser(
        "doctor",
        help="check this machine: Python, GPU and driver, CUDA, TensorRT, pycuda, ONNX Runtime, PyTorch, ROS 2",
        description=(
            "Look at every component the converter, the runtime and the ROS node use (no import is required: "
            "missing ones are reported) and print a table. With --target, also what that target needs and for "
            "which command, the install step for each missing need (JetPack wording for jetson-* targets), and "
            "the GPU's compute capability against the target's; exits 1 when the target cannot build and run "
            "plans here. Without --target, exits 0 unless no TensorRT module, ONNX Runtime or PyTorch is present."
        ),
    )
    doc.add_argument(
        "--target", choices=TARGETS, help="judge this machine for one target (described in `build --help`)"
    )
    doc.add_argument(
        "--no-ros", action="store_true", help="rclpy and the messages do not count (ma-trt-match without the node)"
    )
    doc.add_argument("--json", action="store_true", help="print the report as JSON")
    doc.set_defaults(run=run_doctor)


def run_doctor(args: argparse.Namespace) -> int:
    """Print the report; the exit code says whether the target (or anything) can run here."""
    from ma_trt_convert.doctor.checks import take_inventory
    from ma_trt_convert.doctor.report import make_report, render_text, to_json

    target = TARGETS[args.target] if args.target else None
    report = make_report(take_inventory(), target, with_ros=not args.no_ros)
    print(json.dumps(to_json(report), indent=2) if args.json else render_text(report))
    return report.exit_code
