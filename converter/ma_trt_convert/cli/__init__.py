"""``ma-trt-convert``: the converter's command line (one subcommand per module)."""

from __future__ import annotations

import argparse
import logging
import sys

from ma_trt_convert import __version__
from ma_trt_convert.cli import checkpoints, doctor, engines, export
from ma_trt_convert.errors import USER_ERRORS
from ma_trt_ros.cli_errors import run_command

COMMAND_MODULES = (checkpoints, export, engines, doctor)


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every subcommand registered."""
    parser = argparse.ArgumentParser(
        prog="ma-trt-convert",
        description=(
            "Convert the released MatchAnything matchers (RoMa dense, ELoFTR semi-dense) from their "
            "PyTorch checkpoints to ONNX and TensorRT engines, and check the files on the way."
        ),
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug details")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMAND_MODULES:
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one subcommand; returns the process exit code (0 ok, 1 check failed, 2 bad input)."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s %(message)s")
    return run_command(lambda: args.run(args), USER_ERRORS)


if __name__ == "__main__":
    sys.exit(main())
