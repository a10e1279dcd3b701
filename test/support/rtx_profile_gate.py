"""TensorRT-RTX parse + build of an ONNX with dynamic inputs under one optimisation profile (no GPU needed).

For graphs without the converter's metadata (the RoMa resize alone), which ``build`` refuses: the
converter's TensorRT steps (module import, logger, strongly typed network, parser, ``desktop-rtx``
builder settings, the profile) without the metadata, the sidecar and the written plan.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from ma_trt_ros.contract.sizes import ShapeProfile


@dataclass
class GateResult:
    """What TensorRT-RTX said: ``built`` with a plan of ``plan_bytes``, else the parser/builder ``errors``."""

    version: str
    built: bool
    plan_bytes: int = 0
    layers: int = 0
    errors: list[str] = field(default_factory=list)


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@contextmanager
def _tensorrt_errors() -> Iterator[list[str]]:
    """Collect the ERROR lines the converter's TensorRT logger forwards while the block runs."""
    handler, logger = _Collect(), logging.getLogger("ma_trt_convert.tensorrt.build")
    logger.addHandler(handler)
    try:
        yield handler.messages
    finally:
        logger.removeHandler(handler)


def build_with_profile(onnx_path: str | os.PathLike[str], profiles: tuple[ShapeProfile, ...]) -> GateResult:
    """Parse ``onnx_path`` with ``tensorrt_rtx`` and build it for ``desktop-rtx`` with one profile.

    Args:
        profiles: the min/opt/max shapes of each dynamic input.

    Raises:
        ma_trt_convert.errors.ConversionError: ``tensorrt_rtx`` is missing or of another major version.
    """
    from ma_trt_convert.tensorrt.build import (
        add_profile,
        checked_version,
        configure,
        create_network,
        import_tensorrt,
        make_logger,
        parse_onnx,
    )
    from ma_trt_convert.tensorrt.targets import default_options, get_target

    target = get_target("desktop-rtx")
    trt = import_tensorrt(target)
    version = checked_version(trt, target)
    logger = make_logger(trt)
    builder = trt.Builder(logger)
    network = create_network(trt, builder, target)
    with _tensorrt_errors() as logged:
        parser, errors = parse_onnx(trt, network, logger, onnx_path)
        if errors:
            return GateResult(version, False, errors=errors)
        config = configure(trt, builder, target, default_options(target, os.fspath(onnx_path) + ".plan"))
        add_profile(builder, config, profiles)
        serialized = builder.build_serialized_network(network, config)
        del parser
    if serialized is None:
        return GateResult(version, False, layers=network.num_layers, errors=logged or ["build returned None"])
    return GateResult(version, True, plan_bytes=serialized.nbytes, layers=network.num_layers)
