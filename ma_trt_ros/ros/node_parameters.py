"""Parameters of ``matchanything_node``: names, defaults, descriptions and validation.

No rclpy: :data:`PARAMETERS` is the single list the node declares, the YAML files in
``config/`` document and the static launch test checks. :meth:`NodeParameters.from_values` turns
the values read from ROS into a validated, typed record.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from ma_trt_ros.contract.variants import VARIANTS as KNOWN_VARIANTS
from ma_trt_ros.ros.result_messages import OutputSettings
from ma_trt_ros.runtime.loading import BACKENDS
from ma_trt_ros.runtime.options import BackendSettings, MatchOptions, parse_providers

INPUT_MODES = ("pair", "reference", "sequential")
QUEUE_POLICIES = ("latest", "lossless")
RELIABILITIES = ("best_effort", "reliable")
GEOMETRIES = ("none", "homography", "fundamental")
# expected_variant: empty (any) or one of the variants the contract knows
VARIANTS = ("", *KNOWN_VARIANTS)


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
        device: torch: ``cuda``, ``cuda:N`` or ``cpu``; tensorrt: ``cuda:N``; empty = the default (CUDA
            when available, GPU 0).
        precision: torch: ``fp16`` or ``fp32`` (an engine or ONNX file has its own).
        cuda_graph: torch/tensorrt: replay the model as a CUDA graph (torch: the fast path).
        compile: torch with ``cuda_graph``: ``default`` or ``max-autotune-no-cudagraphs`` to
            ``torch.compile`` the fast path at configure; empty = no compilation.
        compile_cache_dir: torch with ``compile``: folder that keeps the compiled kernels between starts
            (first start ~35 s for ELoFTR on an H200, later ~7 s); empty = PyTorch's temporary folder.
        dinov2_path: torch, RoMa: ``dinov2_vitl14_pretrain.pth`` beside the RoMa checkpoint.
        network_height, network_width: torch, ELoFTR: network input size, pixels (multiples of 32);
            0 = the variant's default (480 x 640).
        network_size_range: torch, ELoFTR: ``MIN_HxMIN_W:MAX_HxMAX_W``, one model for every camera size
            in that range (each call at the camera's own size when it fits); empty = a fixed size.
        coarse_res, upsample_res: torch, RoMa: pass-1 and pass-2 sides, pixels; 0 = the default (560, 864).
        camera_sizes: torch, RoMa: ``MIN_HxMIN_W:MAX_HxMAX_W``, camera sizes the model takes as they are and
            resizes inside the graph, on the GPU (docs/roma_resize.md); empty = the runtime resizes on the CPU.
        onnxruntime_providers: onnxruntime: comma-separated providers in order of preference
            (``CUDAExecutionProvider,CPUExecutionProvider``); empty = CUDA when available, else CPU.
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
    device: str = ""
    precision: str = "fp32"
    cuda_graph: bool = False
    compile: str = ""
    compile_cache_dir: str = ""
    dinov2_path: str = ""
    network_height: int = 0
    network_width: int = 0
    network_size_range: str = ""
    coarse_res: int = 0
    upsample_res: int = 0
    camera_sizes: str = ""
    onnxruntime_providers: str = ""

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
        sizes = ("network_height", "network_width", "coarse_res", "upsample_res")
        for name in sizes:
            if getattr(self, name) < 0:
                raise ParameterError(f"{name} = {getattr(self, name)}; it must be >= 0 (0: the variant's default)")
        self.backend_settings()

    def match_options(self) -> MatchOptions:
        """The runtime's per-match options of these parameters."""
        return MatchOptions(num_matches=self.num_matches, certainty_threshold=self.certainty_threshold)

    def output_settings(self) -> OutputSettings:
        """What each pair's output messages hold."""
        return OutputSettings(self.geometry, self.ransac_reproj_px, self.publish_dense, self.dense_stride)

    def backend_settings(self) -> BackendSettings:
        """The backend settings of these parameters (empty text and 0 sizes: the defaults).

        Raises:
            ParameterError: a combination no backend runs, naming the parameter to change.
        """
        build_args = {
            "height": self.network_height,
            "width": self.network_width,
            "size_range": self.network_size_range,
            "coarse_res": self.coarse_res,
            "upsample_res": self.upsample_res,
            "camera_sizes": self.camera_sizes,
        }
        try:
            return BackendSettings(
                device=self.device or None,
                cuda_graph=self.cuda_graph,
                dinov2=self.dinov2_path or None,
                precision=self.precision,
                compile=self.compile or None,
                compile_cache_dir=self.compile_cache_dir or None,
                build_args={name: value for name, value in build_args.items() if value},
                providers=parse_providers(self.onnxruntime_providers),
            )
        except ValueError as error:
            raise ParameterError(str(error)) from error


PARAMETERS: tuple[tuple[str, Any], ...] = tuple((f.name, f.default) for f in fields(NodeParameters))


def parameter_names() -> list[str]:
    """Names of all node parameters, in declaration order."""
    return [name for name, _ in PARAMETERS]
