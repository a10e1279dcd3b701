"""Parameters of ``matchanything_node``: names, defaults, descriptions and validation.

Pure Python (no rclpy): :data:`PARAMETERS` is the single list the node declares, the YAML files in
``config/`` document and the static launch test checks. :meth:`NodeParameters.from_values` turns
the values read from ROS into a validated, typed record.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

INPUT_MODES = ("pair", "reference", "sequential")
BACKENDS = ("auto", "tensorrt", "onnxruntime", "torch")
QUEUE_POLICIES = ("latest", "lossless")
RELIABILITIES = ("best_effort", "reliable")
GEOMETRIES = ("none", "homography", "fundamental")
VARIANTS = ("", "roma", "eloftr")


class ParameterError(ValueError):
    """A parameter value is invalid; the message names the parameter and the accepted values."""


@dataclass(frozen=True)
class NodeParameters:
    """All parameters of the node, with their defaults (units in the names or descriptions).

    Attributes:
        model_path: engine plan (``.plan`` + sidecar), ONNX file or checkpoint to run.
        backend: ``auto`` picks TensorRT for plans, ONNX Runtime for ONNX files, PyTorch for checkpoints.
        expected_variant: ``roma`` or ``eloftr``: configure fails when the model is of the other variant
            (the rest of the configuration, e.g. ``publish_dense``, is written for one); empty = any.
        input_mode: ``pair`` (topics image0 + image1), ``reference`` (topic image against a fixed
            image), ``sequential`` (topic image, frame t against frame t - k).
        reference_image: image file for ``reference`` mode; empty = wait for the latched ``reference`` topic.
        reference_frame_id: header frame_id given to a reference image read from a file.
        sequential_stride: k of ``sequential`` mode, frames.
        sync_slop_s: largest stamp difference of an image0/image1 pair, seconds.
        sync_queue_size: images kept per topic while waiting for a partner.
        queue_policy: ``latest`` (keep only the newest pairs, drops counted) or ``lossless``
            (every pair, in order, whatever the producer's pace: the node takes an image only when
            the queue has room; for bag replay).
        queue_size: pairs waiting for the inference worker (``latest``: 1 means always the newest).
        input_reliability: QoS reliability of the image subscriptions with ``latest`` (depth =
            ``sync_queue_size``); ``lossless`` always subscribes reliable, keep-all.
        max_rate_hz: most pairs per second given to the matcher; 0 = unlimited. Extra pairs are dropped
            (reason ``rate_limit``).
        publish_dense: publish ``~/dense`` (RoMa only).
        dense_stride: thinning of the dense grid on ``~/dense`` (must divide the grid size).
        num_matches: sparse matches sampled from the RoMa dense field per pair.
        certainty_threshold: RoMa certainty below which cells are not sampled as sparse matches.
        geometry: two-view geometry fitted to the sparse matches with OpenCV USAC (MAGSAC++).
        ransac_reproj_px: inlier threshold of the geometry fit, pixels.
        diagnostics_period_s: period of the ``/diagnostics`` status, seconds.
        autostart: configure and activate on start-up (false: wait for lifecycle transitions).
    """

    model_path: str = ""
    backend: str = "auto"
    expected_variant: str = ""
    input_mode: str = "pair"
    reference_image: str = ""
    reference_frame_id: str = "reference"
    sequential_stride: int = 1
    sync_slop_s: float = 0.01
    sync_queue_size: int = 10
    queue_policy: str = "latest"
    queue_size: int = 1
    input_reliability: str = "best_effort"
    max_rate_hz: float = 0.0
    publish_dense: bool = True
    dense_stride: int = 1
    num_matches: int = 5000
    certainty_threshold: float = 0.05
    geometry: str = "none"
    ransac_reproj_px: float = 3.0
    diagnostics_period_s: float = 1.0
    autostart: bool = True

    @classmethod
    def from_values(cls, values: dict[str, Any]) -> NodeParameters:
        """Validated parameters from ``name -> value`` (missing names take defaults); raises ParameterError."""
        unknown = sorted(set(values) - set(parameter_names()))
        if unknown:
            raise ParameterError(f"unknown parameter(s) {unknown}; known: {parameter_names()}")
        params = cls(**values)
        params.validate()
        return params

    def validate(self) -> None:
        """Raise ParameterError naming the first invalid value and what is accepted."""
        choices = {
            "backend": BACKENDS,
            "input_mode": INPUT_MODES,
            "queue_policy": QUEUE_POLICIES,
            "input_reliability": RELIABILITIES,
            "geometry": GEOMETRIES,
            "expected_variant": VARIANTS,
        }
        for name, accepted in choices.items():
            if getattr(self, name) not in accepted:
                raise ParameterError(f"{name} = {getattr(self, name)!r}; use one of {', '.join(accepted)}")
        at_least_one = ("sequential_stride", "sync_queue_size", "queue_size", "dense_stride", "num_matches")
        for name in at_least_one:
            if getattr(self, name) < 1:
                raise ParameterError(f"{name} = {getattr(self, name)}; it must be >= 1")
        positive = ("sync_slop_s", "max_rate_hz", "certainty_threshold", "ransac_reproj_px")
        for name in positive:
            if getattr(self, name) < 0:
                raise ParameterError(f"{name} = {getattr(self, name)}; it must be >= 0")
        if self.diagnostics_period_s <= 0:
            raise ParameterError(f"diagnostics_period_s = {self.diagnostics_period_s}; it must be > 0")
        if not self.model_path:
            raise ParameterError("model_path is empty; set it to an engine plan, ONNX file or checkpoint")


PARAMETERS: tuple[tuple[str, Any], ...] = tuple((f.name, f.default) for f in fields(NodeParameters))


def parameter_names() -> list[str]:
    """Names of all node parameters, in declaration order."""
    return [name for name, _ in PARAMETERS]
