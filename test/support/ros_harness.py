"""Test harness for ROS 2: isolated domains on loopback, nodes in child processes, publish/collect helpers.

Isolation: every test session takes its own ``ROS_DOMAIN_ID`` (1..101, reserved with a lock file so
concurrent sessions on one machine never share a domain), restricts discovery to this host
(``ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST``), and writes ROS logs under a temporary ``ROS_HOME``.
The Fast DDS profile ``config/fastdds_large_messages.xml`` is used by default so that large messages
(1080p images, dense outputs) cross processes through shared memory.

Nothing here imports rclpy at module import time, so non-ROS tests can import the conftest freely.
Child processes run with ``PYTHONPATH`` holding the repository root and this folder: their code can
``from support import ros_harness`` and use :func:`publish_in_child`.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

REPO_ROOT = Path(__file__).resolve().parents[2]
TEST_DIR = Path(__file__).resolve().parents[1]
FASTDDS_PROFILE = REPO_ROOT / "config" / "fastdds_large_messages.xml"
DOMAIN_IDS = range(1, 102)
DOMAIN_LOCK_DIR = Path("/tmp/ma_trt_ros_test_domains")
CHILD_LIFETIME_S = 120.0
INHERITED_VARIABLES_REMOVED = ("ROS_LOCALHOST_ONLY", "ROS_STATIC_PEERS", "FASTDDS_DEFAULT_PROFILES_FILE")


@dataclass(frozen=True)
class RosEnvironment:
    """Environment variables that put a process on the session's isolated ROS domain.

    Attributes:
        domain_id: ROS_DOMAIN_ID of the session.
        root: temporary folder holding ROS_HOME, ROS_LOG_DIR and child-process logs.
        variables: the ROS/Fast DDS variables to set (name → value).
    """

    domain_id: int
    root: Path
    variables: dict[str, str]

    def process_env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        """Full environment for a child process: this process's, the ROS variables, PYTHONPATH, ``extra``."""
        env = {k: v for k, v in os.environ.items() if k not in INHERITED_VARIABLES_REMOVED}
        env.update(self.variables)
        paths = [str(REPO_ROOT), str(TEST_DIR), env.get("PYTHONPATH", "")]
        env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
        env["PYTHONUNBUFFERED"] = "1"
        env.update(extra or {})
        return env


@contextlib.contextmanager
def reserved_domain_id(lock_dir: Path = DOMAIN_LOCK_DIR) -> Iterator[int]:
    """Reserve a ROS_DOMAIN_ID in 1..101 for the duration of the context.

    The first candidate is derived from the process id; a candidate is taken when its lock file
    (``lock_dir/<id>.lock``) can be locked exclusively, so concurrent test sessions on this machine
    get distinct domains. Raises RuntimeError when all 101 are taken.
    """
    lock_dir.mkdir(parents=True, exist_ok=True)
    start = os.getpid() % len(DOMAIN_IDS)
    for offset in range(len(DOMAIN_IDS)):
        domain_id = DOMAIN_IDS[(start + offset) % len(DOMAIN_IDS)]
        with open(lock_dir / f"{domain_id}.lock", "w") as lock_file:
            try:
                fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue
            try:
                yield domain_id
            finally:
                fcntl.flock(lock_file, fcntl.LOCK_UN)
            return
    raise RuntimeError(f"all ROS domain ids {DOMAIN_IDS.start}..{DOMAIN_IDS.stop - 1} are reserved in {lock_dir}")


def ros_environment(domain_id: int, root: Path, fastdds_profile: Path | None = FASTDDS_PROFILE) -> RosEnvironment:
    """Build the isolated environment: loopback discovery, ``domain_id``, ROS_HOME under ``root``.

    ``fastdds_profile=None`` leaves Fast DDS on its built-in transports (no profile file; an inherited
    FASTDDS_DEFAULT_PROFILES_FILE is removed, see :data:`INHERITED_VARIABLES_REMOVED`).
    """
    home = root / "ros_home"
    (home / "log").mkdir(parents=True, exist_ok=True)
    variables = {
        "ROS_DOMAIN_ID": str(domain_id),
        "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST",
        "ROS_HOME": str(home),
        "ROS_LOG_DIR": str(home / "log"),
        "RMW_IMPLEMENTATION": "rmw_fastrtps_cpp",
    }
    if fastdds_profile is not None:
        variables["FASTDDS_DEFAULT_PROFILES_FILE"] = str(fastdds_profile)
    return RosEnvironment(domain_id=domain_id, root=root, variables=variables)


class RosProcess:
    """A child Python process on the isolated domain; stdout/stderr go to files under ``env.root``.

    Use as a context manager: leaving it stops the process (SIGINT, then SIGKILL after a timeout).
    """

    def __init__(self, argv: list[str], env: RosEnvironment, name: str, extra_env: dict[str, str] | None = None):
        log_dir = env.root / "processes"
        log_dir.mkdir(parents=True, exist_ok=True)
        self.name = name
        self.log_path = log_dir / f"{name}-{time.monotonic_ns()}.log"
        self._log: IO[bytes] = open(self.log_path, "wb")  # noqa: SIM115 (closed in stop())
        self._popen = subprocess.Popen(
            argv,
            env=env.process_env(extra_env),
            cwd=REPO_ROOT,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def __enter__(self) -> RosProcess:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def pid(self) -> int:
        """Process id of the child."""
        return self._popen.pid

    @property
    def returncode(self) -> int | None:
        """Exit status, or None while running."""
        return self._popen.poll()

    def output(self) -> str:
        """Everything the process printed so far (stdout and stderr interleaved)."""
        return self.log_path.read_text(errors="replace")

    def wait(self, timeout_s: float) -> int:
        """Wait for the process to exit; returns its exit status. Raises TimeoutError with its output."""
        try:
            return self._popen.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            raise TimeoutError(f"{self.name} still running after {timeout_s} s; output:\n{self.output()}") from None

    def stop(self, timeout_s: float = 5.0) -> int:
        """Stop the process (SIGINT, then SIGKILL after ``timeout_s``); returns its exit status."""
        if self._popen.poll() is None:
            self._popen.send_signal(signal.SIGINT)
            try:
                self._popen.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self._popen.kill()
                self._popen.wait(timeout=timeout_s)
        self._log.close()
        return self._popen.returncode


def run_python_in_ros_process(
    code: str,
    env: RosEnvironment,
    name: str = "python",
    args: tuple[str, ...] = (),
    extra_env: dict[str, str] | None = None,
) -> RosProcess:
    """Start ``python -c code args...`` on the isolated domain (``sys.argv[1:] == args`` in the child)."""
    return RosProcess([sys.executable, "-c", code, *args], env, name, extra_env)


def run_module_in_ros_process(
    module: str, env: RosEnvironment, args: tuple[str, ...] = (), extra_env: dict[str, str] | None = None
) -> RosProcess:
    """Start ``python -m module args...`` on the isolated domain (e.g. a node with ``--ros-args``)."""
    return RosProcess([sys.executable, "-m", module, *args], env, module, extra_env)


def qos_profile(reliability: str, depth: int) -> Any:
    """rclpy QoSProfile with KEEP_LAST ``depth`` and ``reliability`` ('reliable' or 'best_effort')."""
    from rclpy.qos import QoSProfile, ReliabilityPolicy

    policies = {"reliable": ReliabilityPolicy.RELIABLE, "best_effort": ReliabilityPolicy.BEST_EFFORT}
    return QoSProfile(depth=depth, reliability=policies[reliability])


def wait_until(condition: Callable[[], bool], timeout_s: float, what: str, poll_s: float = 0.01) -> None:
    """Poll ``condition`` until true; raise TimeoutError naming ``what`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(poll_s)


class Collector:
    """Messages received on one subscription of a :class:`RosTestNode`, in arrival order.

    Attributes:
        subscription: the rclpy Subscription.
        receive_times: ``time.monotonic()`` of each arrival, seconds.
    """

    def __init__(self) -> None:
        self._messages: list[Any] = []
        self.receive_times: list[float] = []
        self._changed = threading.Condition()
        self.subscription: Any = None

    def on_message(self, msg: Any) -> None:
        """Subscription callback: store ``msg``."""
        with self._changed:
            self._messages.append(msg)
            self.receive_times.append(time.monotonic())
            self._changed.notify_all()

    @property
    def messages(self) -> list[Any]:
        """Copy of the messages received so far."""
        with self._changed:
            return list(self._messages)

    def wait_for(self, count: int, timeout_s: float) -> list[Any]:
        """Wait until at least ``count`` messages arrived; return them all. TimeoutError names the shortfall."""
        with self._changed:
            if not self._changed.wait_for(lambda: len(self._messages) >= count, timeout=timeout_s):
                raise TimeoutError(f"received {len(self._messages)} of {count} messages within {timeout_s} s")
            return list(self._messages)

    def wait_for_publishers(self, count: int, timeout_s: float) -> None:
        """Wait until ``count`` publishers are matched with this subscription."""
        wait_until(lambda: self.subscription.get_publisher_count() >= count, timeout_s, f"{count} publisher(s)")


class RosTestNode:
    """An rclpy node in the test process, on its own context, spun by a background thread.

    Create it after the session's ROS environment variables are in ``os.environ`` (the ``ros_env``
    fixture does that): rclpy and Fast DDS read them when the context and participant are created.
    """

    def __init__(self, env: RosEnvironment, name: str = "ros_harness"):
        import rclpy
        from rclpy.context import Context
        from rclpy.executors import SingleThreadedExecutor

        self._context = Context()
        rclpy.init(context=self._context, domain_id=env.domain_id)
        self.node = rclpy.create_node(name, context=self._context)
        self._executor = SingleThreadedExecutor(context=self._context)
        self._executor.add_node(self.node)
        self._thread = threading.Thread(target=self._spin, name=f"{name}-spin", daemon=True)
        self._thread.start()

    def _spin(self) -> None:
        from rclpy.executors import ExternalShutdownException

        with contextlib.suppress(ExternalShutdownException):
            while self._context.ok():
                self._executor.spin_once(timeout_sec=0.05)

    def collect(self, msg_type: type, topic: str, reliability: str = "reliable", depth: int = 10) -> Collector:
        """Subscribe to ``topic`` and return the :class:`Collector` that stores what arrives."""
        collector = Collector()
        collector.subscription = self.node.create_subscription(
            msg_type, topic, collector.on_message, qos_profile(reliability, depth)
        )
        return collector

    def publisher(self, msg_type: type, topic: str, reliability: str = "reliable", depth: int = 10) -> Any:
        """Create an rclpy Publisher on ``topic``."""
        return self.node.create_publisher(msg_type, topic, qos_profile(reliability, depth))

    def close(self) -> None:
        """Destroy the node and shut its context down; joins the spin thread."""
        self._context.try_shutdown()
        self._thread.join(timeout=5.0)
        self._executor.shutdown(timeout_sec=1.0)
        self.node.destroy_node()


def publish_in_child(
    msg_type: type,
    topic: str,
    make_message: Callable[[int], Any],
    count: int,
    rate_hz: float,
    reliability: str = "reliable",
    depth: int = 10,
    subscribers: int = 1,
    match_timeout_s: float = 20.0,
    settle_s: float = 0.5,
) -> None:
    """Child-process side: publish ``make_message(i)`` for i in 0..count-1 at ``rate_hz``, then linger.

    Waits for ``subscribers`` matched subscriptions (and ``settle_s`` more, so that the subscriber side
    has matched this writer too: best-effort samples sent before that are lost), publishes, waits for
    reliable samples to be acknowledged, prints ``published <count>`` and then stays alive (messages in
    flight are not cut off) until stopped or after CHILD_LIFETIME_S. Exit status 3 when no subscriber
    matched in time.
    """
    import rclpy
    from rclpy.duration import Duration

    rclpy.init()
    node = rclpy.create_node("ros_harness_publisher")
    publisher = node.create_publisher(msg_type, topic, qos_profile(reliability, depth))
    try:
        wait_until(lambda: publisher.get_subscription_count() >= subscribers, match_timeout_s, "subscribers")
    except TimeoutError as error:
        print(error, flush=True)
        sys.exit(3)
    time.sleep(settle_s)
    period_s = 1.0 / rate_hz
    start = time.monotonic()
    for index in range(count):
        time.sleep(max(0.0, start + index * period_s - time.monotonic()))
        publisher.publish(make_message(index))
    if reliability == "reliable":
        publisher.wait_for_all_acked(Duration(seconds=10))
    print(f"published {count}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        time.sleep(CHILD_LIFETIME_S)
    node.destroy_node()
    rclpy.try_shutdown()


def call_idempotent(client: Any, request: Any, attempts: int = 4, wait_s: float = 5.0) -> Any:
    """Call a service whose request is harmless to repeat, sending it again when no answer comes.

    Right after discovery DDS may not yet have matched the server's response writer with the
    client's reader, and the first response can be lost; a repeated request then gets through.
    """
    for _ in range(attempts):
        future = client.call_async(request)
        try:
            wait_until(future.done, wait_s, f"a response from {client.srv_name}")
        except TimeoutError:
            continue
        return future.result()
    raise TimeoutError(f"no response from {client.srv_name} in {attempts} attempts of {wait_s} s")
