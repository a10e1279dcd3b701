"""``matchanything_node``: the lifecycle node that matches image pairs with a MatchAnything matcher.

Thin glue between ROS and the runtime. Lifecycle:

- configure: read and check the parameters, start the inference and output threads and open the
  matcher on the inference thread (a bad or mismatched model fails the transition; the error text is
  logged), create the publishers and the ``/diagnostics`` timer;
- activate: let the inference thread take pairs and subscribe to the inputs;
- deactivate: unsubscribe (pairs still waiting are discarded; those being matched or published, at
  most one each plus one handed between them, finish);
- cleanup: close the matcher on its thread (frees its GPU memory), end both threads, destroy the publishers.

With ``autostart`` (default) the node configures and activates itself; a failed configure then ends
the process with exit status 1.

Topics (relative names, remappable): inputs ``image0`` + ``image1`` (mode ``pair``), ``image`` (modes
``reference`` and ``sequential``), ``reference`` (latched reference image); outputs ``~/matches``,
``~/matches_image``, ``/diagnostics`` and, for RoMa only, ``~/certainty_image`` and ``~/dense``
(with ``publish_dense``). Image 0 of a pair is
``image0`` in ``pair`` mode and the current frame in the others; image 1 is ``image1``, the reference
or frame t - k. Output headers are those of the input images (``header0``, ``header1``); pictures
carry ``header0``.

Subscription callbacks pair images and hand pairs to a two-stage pipeline
(:mod:`ma_trt_ros.ros.inference_worker`): the inference thread owns the matcher (GPU backends must
stay on one thread), converts and matches; the output thread fits geometry, builds and publishes the
messages of pair n - 1 while pair n is matched. With ``queue_policy: lossless`` the image callback
waits while the inference queue is full, so no further image is taken: the inputs are reliable and
keep-all, DDS holds the images not yet taken and reliable writers wait (see ``docs/node.md``,
"Lossless").
"""

from __future__ import annotations

import functools
import logging
import re
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.executors import ExternalShutdownException
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image
from std_msgs.msg import Header

from ma_trt_ros.cli_errors import fail
from ma_trt_ros.ros.image_conversion import ImageConversionError
from ma_trt_ros.ros.image_files import read_image_message
from ma_trt_ros.ros.inference_worker import InferenceWorker
from ma_trt_ros.ros.input_pairing import Pairer, ReferencePairer, RestartingPairer, make_pairer
from ma_trt_ros.ros.matcher_factory import MatcherFactory, factory_from_environment
from ma_trt_ros.ros.node_parameters import PARAMETERS, NodeParameters
from ma_trt_ros.ros.paced_executor import PacedMultiThreadedExecutor
from ma_trt_ros.ros.pair_pipeline import ConvertedPairs, MatchedPair, PairPipeline
from ma_trt_ros.ros.pair_sync import stamp_to_ns
from ma_trt_ros.ros.pipeline_stats import PipelineStats, report_values
from ma_trt_ros.ros.rejection_log import RejectionLog
from ma_trt_ros.runtime.errors import InputError, ModelError

NODE_NAME = "matchanything_node"
OUTPUT_DEPTH = 10
PICTURES = ("matches_image", "certainty_image")
TIME_RESET_IMAGES_PER_QUEUE = 2  # images late in a row, per sync_queue_size, that restart pairing


def input_qos(params: NodeParameters) -> QoSProfile:
    """QoS of the image subscriptions.

    ``latest``: keep-last ``sync_queue_size`` with ``input_reliability`` (old images may be lost).
    ``lossless``: reliable and keep-all whatever ``input_reliability`` says: the input callback waits
    while the inference queue is full, images not yet taken stay in the DDS reader's history, and
    reliable writers resend what the reader could not store, so nothing is overwritten.
    """
    if params.queue_policy == "lossless":
        return QoSProfile(history=HistoryPolicy.KEEP_ALL, depth=1, reliability=ReliabilityPolicy.RELIABLE)
    reliable = params.input_reliability == "reliable"
    return QoSProfile(
        depth=params.sync_queue_size,
        reliability=ReliabilityPolicy.RELIABLE if reliable else ReliabilityPolicy.BEST_EFFORT,
    )


def check_variant(params: NodeParameters, variant: str) -> None:
    """ModelError when ``expected_variant`` is set and the opened model is of another variant."""
    if params.expected_variant and variant != params.expected_variant:
        raise ModelError(
            f"{params.model_path} holds the {variant} variant, but expected_variant is {params.expected_variant}: "
            f"give a {params.expected_variant} model, or use the {variant} configuration file"
        )


@dataclass(frozen=True)
class PairJob:
    """One pair waiting for the worker: the two image messages and when the pair was formed (monotonic s)."""

    image0: Any
    image1: Any
    formed_s: float


@dataclass(frozen=True)
class PreparedJob:
    """One pair converted on the prepare thread, handed to the inference thread: its job, its images, when
    its conversion started and when it was handed over (monotonic s)."""

    job: PairJob
    converted: ConvertedPairs
    started_s: float
    prepared_s: float


@dataclass(frozen=True)
class MatchedJob:
    """One pair matched on the inference thread, handed to the output thread: its job, the matched pair,
    when its work started (conversion), when its matching started and when it was handed off (monotonic s)."""

    job: PairJob
    matched: MatchedPair
    started_s: float
    ready_wait_ms: float
    handed_off_s: float


class MatchAnythingNode(LifecycleNode):
    """The lifecycle node (see the module docstring).

    Args:
        matcher_factory: opens the matcher at configure; default: the runtime's ``open_matcher``, or
            the factory named by ``MA_TRT_ROS_MATCHER_FACTORY`` (tests).
        node_name: ROS node name.
        kwargs: passed to ``rclpy.node.Node`` (e.g. ``context``, ``parameter_overrides``).
    """

    def __init__(self, matcher_factory: MatcherFactory | None = None, node_name: str = NODE_NAME, **kwargs: Any):
        super().__init__(node_name, **kwargs)
        for name, default in PARAMETERS:
            self.declare_parameter(name, default)
        self._factory = matcher_factory or factory_from_environment()
        self.params: NodeParameters | None = None
        self.matcher: Any = None
        self._pipeline: PairPipeline | None = None
        self._stats = PipelineStats()
        self._outputs: dict[str, Any] = {}
        self._diagnostics_publisher: Any = None
        self._diagnostics_timer: Any = None
        self._inputs: list[Any] = []
        self._worker: InferenceWorker | None = None
        self._pairer: Pairer | None = None
        self._reference: Any = None
        self._last_pair_stamp_ns: int | None = None
        self._state = "unconfigured"
        self._reported_failures = 0
        self._gpu_bytes: int | None = None
        self._gpu_read_s = 0.0  # monotonic time of the last read of the matcher's GPU memory
        self._rejected = RejectionLog(self.get_logger().warning)
        self._failed = RejectionLog(self.get_logger().error)

    @property
    def autostart(self) -> bool:
        """Value of the ``autostart`` parameter."""
        return bool(self.get_parameter("autostart").value)

    # --- lifecycle -------------------------------------------------------------------------------

    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Check parameters, open the matcher, create publishers and the diagnostics timer."""
        try:
            self.params = NodeParameters.from_values({name: self.get_parameter(name).value for name, _ in PARAMETERS})
            self._reference = self._file_reference(self.params)
            self._worker = InferenceWorker(
                self._match,
                self.params.queue_policy,
                self.params.queue_size,
                self._on_worker_error,
                finish=self._publish,
                prepare=self._prepare,
            )
            params = self.params
            self.matcher = self._worker.call(
                lambda: self._factory(
                    params.model_path, params.backend, params.match_options(), params.backend_settings()
                )
            )
            check_variant(self.params, self.matcher.variant)
            self._pipeline = PairPipeline(self.matcher, self.params.output_settings())
            self._gpu_bytes = self._worker.call(self.matcher.gpu_memory_bytes)
        except Exception as error:
            self.get_logger().error(f"configure failed: {error}")
            self._release()
            return TransitionCallbackReturn.FAILURE
        self._stats = PipelineStats()
        self._reported_failures = 0
        self._outputs = self._create_outputs(self.matcher.variant, self.params.publish_dense)
        self._diagnostics_publisher = self.create_publisher(DiagnosticArray, "/diagnostics", OUTPUT_DEPTH)
        self._diagnostics_timer = self.create_timer(self.params.diagnostics_period_s, self._publish_diagnostics)
        self._state = "inactive"
        self.get_logger().info(
            f"configured: {self.matcher.model_id} ({self.matcher.variant}) on {self.matcher.backend_name}, "
            f"input mode {self.params.input_mode}, queue {self.params.queue_policy}"
        )
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Let the worker take pairs and subscribe to the inputs."""
        params = self.params

        def new_pairer() -> Pairer:
            slop_ns = int(params.sync_slop_s * 1e9)
            return make_pairer(params.input_mode, slop_ns, params.sync_queue_size, params.sequential_stride)

        self._pairer = new_pairer()
        if params.input_mode != "reference":
            self._pairer = RestartingPairer(new_pairer, TIME_RESET_IMAGES_PER_QUEUE * params.sync_queue_size)
        if isinstance(self._pairer, ReferencePairer) and self._reference is not None:
            self._pairer.set_reference(self._reference)
        self._last_pair_stamp_ns = None
        self._worker.resume()
        qos = input_qos(params)
        # One group for both image topics: while a lossless callback waits for room, neither topic is
        # taken (the other topic's images wait in DDS, not in the pairer); lifecycle and timers run apart.
        images = MutuallyExclusiveCallbackGroup()
        topics = ["image0", "image1"] if params.input_mode == "pair" else ["image"]
        self._inputs = [
            self.create_subscription(Image, topic, functools.partial(self._on_image, index), qos, callback_group=images)
            for index, topic in enumerate(topics)
        ]
        if params.input_mode == "reference" and not params.reference_image:
            latched = QoSProfile(
                depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL
            )
            self._inputs.append(self.create_subscription(Image, "reference", self._on_reference, latched))
        self._state = "active"
        return TransitionCallbackReturn.SUCCESS

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Unsubscribe; the worker drops waiting pairs and finishes those in its two stages."""
        self._stop_io()
        self._state = "inactive"
        return TransitionCallbackReturn.SUCCESS

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Close the matcher (frees GPU memory) and destroy publishers and timer."""
        self._release()
        self._state = "unconfigured"
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Stop everything from any state."""
        self.release_all()
        return TransitionCallbackReturn.SUCCESS

    def on_error(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Release everything after an error; the node returns to unconfigured."""
        self.release_all()
        return TransitionCallbackReturn.SUCCESS

    def release_all(self) -> None:
        """Stop I/O and close the matcher (idempotent; also used when the process ends)."""
        self._stop_io()
        self._release()
        self._state = "unconfigured"

    def _stop_io(self) -> None:
        for subscription in self._inputs:
            self.destroy_subscription(subscription)
        self._inputs = []
        self._pairer = None
        if self._worker is not None:
            self._worker.pause()

    def _release(self) -> None:
        """Close the matcher on its thread, end both threads, destroy publishers and timer."""
        if self._worker is not None:
            if self.matcher is not None:
                self._worker.call(self.matcher.close)
            self._worker.stop()
            self._worker = None
        self.matcher = None
        self._pipeline = None
        for publisher in self._outputs.values():
            self.destroy_publisher(publisher)
        self._outputs = {}
        if self._diagnostics_timer is not None:
            self.destroy_timer(self._diagnostics_timer)
            self._diagnostics_timer = None
        if self._diagnostics_publisher is not None:
            self.destroy_publisher(self._diagnostics_publisher)
            self._diagnostics_publisher = None

    def _create_outputs(self, variant: str, publish_dense: bool) -> dict[str, Any]:
        """The output publishers: ``~/matches`` and ``~/matches_image`` always; ``~/dense`` (with
        ``publish_dense``) and ``~/certainty_image`` only for RoMa, the variant with a dense field."""
        outputs = {
            "matches": self._output_publisher("Matches", "~/matches"),
            "matches_image": self.create_publisher(Image, "~/matches_image", OUTPUT_DEPTH),
        }
        if variant == "roma":
            outputs["certainty_image"] = self.create_publisher(Image, "~/certainty_image", OUTPUT_DEPTH)
            if publish_dense:
                outputs["dense"] = self._output_publisher("DenseCorrespondence", "~/dense")
        return outputs

    def _output_publisher(self, type_name: str, topic: str) -> Any:
        import ma_trt_ros_interfaces.msg as interfaces

        return self.create_publisher(getattr(interfaces, type_name), topic, OUTPUT_DEPTH)

    @staticmethod
    def _file_reference(params: NodeParameters) -> Any:
        """The reference image message read from ``reference_image`` (None when not in use)."""
        if params.input_mode != "reference" or not params.reference_image:
            return None
        return read_image_message(params.reference_image, Header(frame_id=params.reference_frame_id))

    # --- input (executor thread; in lossless mode waits while the inference queue is full) --------

    def _on_reference(self, msg: Image) -> None:
        self._reference = msg
        if isinstance(self._pairer, ReferencePairer):
            self._pairer.set_reference(msg)

    def _on_image(self, topic: int, msg: Image) -> None:
        pairer, worker, params = self._pairer, self._worker, self.params
        if pairer is None or worker is None or params is None:
            return
        self._stats.image_received()
        restarts = getattr(pairer, "restarts", 0)
        for image0, image1 in pairer.add(topic, stamp_to_ns(msg.header.stamp), msg):
            self._submit(worker, params, image0, image1)
        self._stats.set_drops(pairer.drops())
        if getattr(pairer, "restarts", 0) != restarts:
            self._last_pair_stamp_ns = None
            self.get_logger().warning(
                f"{pairer.patience} images in a row were older than those already paired: time went back "
                "(restarted publisher, bag played again or clock reset); pairing starts afresh"
            )

    def _submit(self, worker: InferenceWorker, params: NodeParameters, image0: Any, image1: Any) -> None:
        """Rate-limit by the stamps of image 0, then queue the pair (drops counted by reason); waits for room
        in ``lossless`` mode."""
        stamp_ns = stamp_to_ns(image0.header.stamp)
        last = self._last_pair_stamp_ns
        if params.max_rate_hz > 0 and last is not None and 0 <= stamp_ns - last < 1e9 / params.max_rate_hz:
            self._stats.dropped("rate_limit")
            return
        self._last_pair_stamp_ns = stamp_ns
        self._stats.pair_formed()
        outcome = worker.submit(PairJob(image0, image1, time.monotonic()))
        if outcome == "replaced":
            self._stats.dropped("queue_replaced")
        elif outcome == "refused":
            self._stats.dropped("queue_full")

    # --- inference (inference thread) and output (output thread) --------------------------------

    def _prepare(self, job: PairJob) -> PreparedJob:
        """Prepare thread: convert one pair's image messages to the matcher's images (NumPy, no matcher), so
        that the inference thread only matches."""
        start = time.monotonic()
        converted = self._pipeline.convert([(job.image0, job.image1)])
        return PreparedJob(job, converted, start, time.monotonic())

    def _match(self, prepared: PreparedJob) -> MatchedJob:
        """Inference thread: match one converted pair; read the matcher's GPU memory (the matcher is used
        on this thread only) once per diagnostics period, which is as often as it is reported: PyTorch's
        reading builds its whole table of allocator statistics in Python, ~0.5 ms under the GIL (measured on
        the H100 node, docs/benchmarks.md), too much for every pair."""
        start = time.monotonic()
        (matched,) = self._pipeline.match_converted(prepared.converted)
        done = time.monotonic()
        if done - self._gpu_read_s >= self.params.diagnostics_period_s:
            self._gpu_bytes, self._gpu_read_s = self.matcher.gpu_memory_bytes(), done
        ready_wait_ms = (start - prepared.prepared_s) * 1e3
        return MatchedJob(prepared.job, matched, prepared.started_s, ready_wait_ms, done)

    def _publish(self, matched: MatchedJob) -> None:
        """Output thread: build the messages of one matched pair (pictures only while subscribed, as counted
        now), publish them and record the stage latencies (ms): ``queue_wait`` (pair formed -> its conversion
        starts), ``ready_wait`` (converted -> matching starts), ``output_wait`` (handed off -> the output
        thread takes it), ``publish`` and ``total``
        (pair formed -> published), besides the pipeline's own."""
        outputs = self._outputs
        start = time.monotonic()
        pictures = frozenset(
            name for name in PICTURES if name in outputs and outputs[name].get_subscription_count() > 0
        )
        output = self._pipeline.messages(matched.matched, pictures)
        built = time.monotonic()
        for name, msg in output.messages.items():
            outputs[name].publish(msg)
        done = time.monotonic()
        formed_s = matched.job.formed_s
        stages = dict(output.stages_ms)
        stages.update(
            queue_wait=(matched.started_s - formed_s) * 1e3,
            ready_wait=matched.ready_wait_ms,
            output_wait=(start - matched.handed_off_s) * 1e3,
            publish=(done - built) * 1e3,
            total=(done - formed_s) * 1e3,
        )
        self._stats.result_published(stages)

    def _on_worker_error(self, job: PairJob, error: BaseException) -> None:
        if isinstance(error, (InputError, ImageConversionError)):
            self._stats.dropped("bad_input")
            self._rejected.report("pair rejected", error)
        else:
            self._stats.dropped("inference_error")
            self._failed.report(f"matching failed: {type(error).__name__}", error)

    # --- diagnostics ------------------------------------------------------------------------------

    def _publish_diagnostics(self) -> None:
        matcher, params = self.matcher, self.params
        if matcher is None or params is None or self._diagnostics_publisher is None:
            return
        report = self._stats.report()
        gpu_bytes = self._gpu_bytes
        static = {
            "state": self._state,
            "variant": matcher.variant,
            "backend": matcher.backend_name,
            "model": matcher.model_id,
            "input_mode": params.input_mode,
            "queue_policy": params.queue_policy,
            "gpu_memory_bytes": "n/a" if gpu_bytes is None else str(gpu_bytes),
        }
        status = DiagnosticStatus(
            name=f"{self.get_fully_qualified_name()}: matcher",
            hardware_id=matcher.backend_name,
            message=f"{self._state}, {report.output_rate_hz:.1f} results/s",
            values=[KeyValue(key=key, value=value) for key, value in report_values(report, static)],
        )
        failures = report.drops["bad_input"] + report.drops["inference_error"]
        new_failures, self._reported_failures = failures - self._reported_failures, failures
        pairs_without_result = report.pair_rate_hz > 0 and report.output_rate_hz == 0
        status.level = DiagnosticStatus.WARN if pairs_without_result or new_failures else DiagnosticStatus.OK
        array = DiagnosticArray(status=[status])
        array.header.stamp = self.get_clock().now().to_msg()
        self._diagnostics_publisher.publish(array)


class RosLogHandler(logging.Handler):
    """Python ``logging`` records (e.g. the runtime's aspect-ratio warning) into a ROS logger, so they carry
    the node's prefix and go where its other log lines go."""

    def __init__(self, ros_logger: Any):
        super().__init__()
        self._ros_logger = ros_logger

    def emit(self, record: logging.LogRecord) -> None:
        """Log ``record`` at its level (DEBUG, INFO, WARNING, ERROR; CRITICAL as fatal)."""
        levels = ((logging.CRITICAL, "fatal"), (logging.ERROR, "error"), (logging.WARNING, "warning"))
        name = next((method for level, method in levels if record.levelno >= level), None)
        name = name or ("info" if record.levelno >= logging.INFO else "debug")
        getattr(self._ros_logger, name)(self.format(record))


def forward_python_logging(node: Any) -> RosLogHandler:
    """Send the ``ma_trt_ros`` package's Python log records to ``node``'s ROS logger (not to bare stderr)."""
    handler = RosLogHandler(node.get_logger())
    package = logging.getLogger("ma_trt_ros")
    package.addHandler(handler)
    package.propagate = False
    return handler


def parameter_type_error(error: Exception) -> str:
    """One line for a ``-p name:=value`` of the wrong type: the parameter, the value and the type expected."""
    declared = dict(PARAMETERS)
    found = re.search(r"parameter '(\w+)' to '(.*)' of type", str(error))
    if found is None or found.group(1) not in declared:
        return str(error)
    name, value = found.groups()
    expected = type(declared[name]).__name__
    kind, example = {
        "int": ("an integer", "5000"),
        "float": ("a number with a decimal point", "1.0"),
        "bool": ("true or false", "true"),
        "str": ("text (quote it when it looks like a number)", f"\"'{value}'\""),
    }[expected]
    return f"parameter {name} = {value!r}: it takes {kind}, e.g. -p {name}:={example}"


def quiet_interrupt_while_spinning() -> Callable[[], None]:
    """Install the process's SIGINT handler (before ``rclpy.init``, whose own handler calls it after shutting
    the context down); returns the function to call when spinning starts.

    Before spinning, Ctrl-C raises ``KeyboardInterrupt`` (it stops a long configure: a model compile). While
    spinning it raises nothing: rclpy's shutdown ends the spin, and no exception lands in whatever runs at
    that moment (one landing in a ``Future.__del__`` was printed as ignored and the process exited 1).
    """
    spinning = threading.Event()

    def on_interrupt(signum: int, frame: object) -> None:
        if not spinning.is_set():
            raise KeyboardInterrupt

    signal.signal(signal.SIGINT, on_interrupt)
    return spinning.set


def main(args: list[str] | None = None) -> int:
    """Entry point of ``matchanything_node``: ``matchanything_node --ros-args --params-file X.yaml -r ...``."""
    from rclpy.exceptions import InvalidParameterTypeException

    start_spinning = quiet_interrupt_while_spinning()
    rclpy.init(args=args)
    try:
        node = MatchAnythingNode()
    except InvalidParameterTypeException as error:
        rclpy.try_shutdown()
        return fail(parameter_type_error(error))
    forward_python_logging(node)
    try:
        if node.autostart:
            if node.trigger_configure() != TransitionCallbackReturn.SUCCESS:
                return 1
            if node.trigger_activate() != TransitionCallbackReturn.SUCCESS:
                return 1
        # Several threads: a lossless input callback may wait for room while lifecycle services,
        # the reference topic and the diagnostics timer go on.
        start_spinning()
        rclpy.spin(node, executor=PacedMultiThreadedExecutor(num_threads=3))
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        node.release_all()
        node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
