"""``ma-trt-bag``, ``ma-trt-replay`` and ``matchanything_node`` as a new user meets them (issue 20): every
failure is one ``error:`` line and a non-zero exit, a failed ``ma-trt-bag`` leaves no output behind, a
successful replay ends without a traceback, and a replay without a node says what it waits for."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from support.cli_run import assert_one_line_error, run_tool
from support.node_process import FAKE_FACTORY, start_node, wait_for_outputs
from support.ros_harness import RosEnvironment, RosTestNode

pytestmark = pytest.mark.ros

FAKE = {"MA_TRT_ROS_MATCHER_FACTORY": FAKE_FACTORY}


def image(value: int, stamp_ms: int, encoding: str = "mono8") -> object:
    """A 16x12 image filled with ``value`` (``32FC2``: an encoding the matcher cannot take), stamped ``stamp_ms``."""
    from std_msgs.msg import Header

    from ma_trt_ros.ros.image_conversion import numpy_to_image

    header = Header(frame_id="cam")
    header.stamp.sec, header.stamp.nanosec = stamp_ms // 1000, (stamp_ms % 1000) * 1_000_000
    if encoding == "32FC2":
        return numpy_to_image(np.zeros((12, 16, 2), np.float32), encoding, header=header)
    return numpy_to_image(np.full((12, 16), value, np.uint8), encoding, header=header)


def write_pair_bag(folder: Path, bad_pair: int | None) -> Path:
    """An sqlite3 bag of 6 pairs on /cam0 and /cam1; image 1 of ``bad_pair`` has an encoding the matcher cannot take."""
    import shutil

    from ma_trt_ros.ros.bag_io import write_image_bag

    shutil.rmtree(folder, ignore_errors=True)
    frames = []
    for k in range(6):
        frames.append(("/cam0", image(k, 1000 + 100 * k)))
        frames.append(("/cam1", image(k, 1000 + 100 * k, "32FC2" if k == bad_pair else "mono8")))
    write_image_bag(folder, frames)
    return folder


@pytest.fixture
def pair_bag(tmp_path: Path) -> Path:
    """:func:`write_pair_bag` with pair 4 bad, in ``tmp_path/in``."""
    return write_pair_bag(tmp_path / "in", bad_pair=4)


def bag_args(bag: Path, out: Path, *extra: str, model: str = "fake:eloftr") -> list[str]:
    return [str(bag), str(out), "--model", model, "--image0", "/cam0", "--image1", "/cam1", "--no-progress", *extra]


def test_bag_failures_are_one_line_each(pair_bag: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "metadata.yaml").write_text("::: [\n")
    corrupt = tmp_path / "corrupt"
    corrupt.mkdir()
    for source in pair_bag.iterdir():
        data = source.read_bytes()
        (corrupt / source.name).write_bytes(data if source.suffix == ".yaml" else data[:100])
    exists = tmp_path / "exists"
    exists.mkdir()
    cases = [
        (bag_args(tmp_path / "nobag", out), FAKE, f"{tmp_path / 'nobag'}: no such bag folder"),
        (bag_args(junk, out), FAKE, "metadata.yaml"),
        (bag_args(corrupt, out), FAKE, ""),
        (bag_args(pair_bag, exists), FAKE, f"{exists} exists already; remove it or give another output folder"),
        (bag_args(pair_bag, out, "--image1", "/nope"), FAKE, "has no topic ['/nope']; it has ['/cam0', '/cam1']"),
        (bag_args(pair_bag, out, model=str(tmp_path / "m.onnx")), {}, "no such model file"),
        (bag_args(pair_bag, out, model="fake:other"), FAKE, "is not a model (use fake:eloftr or fake:roma)"),
    ]
    for args, env, fragment in cases:
        finished = run_tool("ma-trt-bag", args, extra_env=env)
        assert finished.code == 2, (args, finished)
        assert_one_line_error(finished, fragment)
        assert not out.exists() and not (tmp_path / ".out.partial").exists()


def test_a_failed_bag_run_leaves_nothing_and_the_retry_works(pair_bag: Path, tmp_path: Path) -> None:
    from ma_trt_ros.ros.bag_io import count_messages

    out = tmp_path / "out"
    # batches of 2: pairs 0-3 are written before pair 4's bad image stops the run
    finished = run_tool("ma-trt-bag", bag_args(pair_bag, out, "--batch", "2"), extra_env=FAKE)
    assert finished.code == 2
    assert_one_line_error(finished, "32FC2")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in"]  # no out, no .out.partial
    # the same command on the mended bag is not refused with "exists already"
    write_pair_bag(pair_bag, bad_pair=None)
    finished = run_tool("ma-trt-bag", bag_args(pair_bag, out, "--batch", "2"), extra_env=FAKE)
    assert finished.code == 0, finished.stderr
    assert count_messages(out, "/matchanything/matches") == 6
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in", "out"]


def test_replay_failures_are_one_line(pair_bag: Path, tmp_path: Path, ros_env: RosEnvironment) -> None:
    args = [str(tmp_path / "nobag"), "--image0", "/cam0", "--image1", "/cam1"]
    finished = run_tool("ma-trt-replay", args)
    assert finished.code == 2
    assert_one_line_error(finished, "no such bag folder")
    finished = run_tool("ma-trt-replay", [str(pair_bag), "--image0", "/cam0", "--image1", "/left"])
    assert finished.code == 2
    assert_one_line_error(finished, "has no topic ['/left']; it has ['/cam0', '/cam1']")


@pytest.mark.timeout(60)
def test_replay_without_a_node_says_what_it_waits_for(pair_bag: Path, ros_env: RosEnvironment) -> None:
    args = [str(pair_bag), "--image0", "/cam0", "--image1", "/cam1", "--namespace", "/nobody", "--timeout-s", "7"]
    start = time.monotonic()
    finished = run_tool("ma-trt-replay", args)
    assert 7 <= time.monotonic() - start < 30
    notes, error = finished.stderr.splitlines()[:-1], finished.stderr.splitlines()[-1:]
    assert notes and all(
        n == "waiting for a subscriber on /nobody/image0, /nobody/image1 (matchanything_node in namespace /nobody)"
        for n in notes
    )
    assert len(notes) == 2  # at 3 s and 6 s
    assert finished.code == 2 and error[0].startswith("error: no subscriber on /nobody/image0, /nobody/image1 after 7")


@pytest.mark.timeout(120)
def test_successful_replay_ends_without_a_traceback(
    tmp_path: Path, ros_env: RosEnvironment, ros_node: RosTestNode
) -> None:
    from ma_trt_ros_interfaces.msg import Matches

    bag = write_pair_bag(tmp_path / "good", bad_pair=None)
    ns = "/clean_end"
    matches = ros_node.collect(Matches, f"{ns}/matchanything_node/matches", depth=100)
    params = {"model_path": "fake:eloftr", "queue_policy": "lossless"}
    with start_node(ros_env, ns, params) as node:
        wait_for_outputs([matches])
        args = [str(bag), "--image0", "/cam0", "--image1", "/cam1", "--namespace", ns, "--lossless"]
        finished = run_tool("ma-trt-replay", args, timeout_s=90)
        assert node.returncode is None
    assert finished.code == 0, finished.stderr
    # On a loaded machine discovery can outlast the first notice; progress lines are all stderr may hold.
    assert all(line.startswith("waiting for ") for line in finished.stderr.splitlines()), finished.stderr
    assert finished.stdout.strip().endswith(f"6 results on {ns}/matchanything_node/matches")
    assert len(matches.messages) == 6


@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        ("num_matches:=abc", "parameter num_matches = 'abc': it takes an integer, e.g. -p num_matches:=5000"),
        ("sync_slop_s:=1", "parameter sync_slop_s = '1': it takes a number with a decimal point, e.g. "),
        ("autostart:=maybe", "parameter autostart = 'maybe': it takes true or false, e.g. -p autostart:=true"),
    ],
)
def test_node_parameter_of_the_wrong_type_is_one_line(setting: str, expected: str, ros_env: RosEnvironment) -> None:
    finished = run_tool("matchanything_node", ["--ros-args", "-p", setting], extra_env=FAKE)
    assert finished.code == 2
    assert_one_line_error(finished, expected)


def test_runtime_log_records_go_through_the_ros_logger(ros_env: RosEnvironment, capfd: pytest.CaptureFixture) -> None:
    import logging

    import rclpy
    from rclpy.context import Context

    from ma_trt_ros.ros.matchanything_node import forward_python_logging

    context = Context()
    rclpy.init(context=context, domain_id=ros_env.domain_id)
    node = rclpy.create_node("log_forwarding", context=context)
    handler = forward_python_logging(node)
    try:
        logging.getLogger("ma_trt_ros.runtime.variants.eloftr").warning("image 5x3 has aspect %.3f", 5 / 3)
        err = capfd.readouterr().err
    finally:
        logging.getLogger("ma_trt_ros").removeHandler(handler)
        logging.getLogger("ma_trt_ros").propagate = True
        node.destroy_node()
        context.try_shutdown()
    assert "[WARN]" in err and "[log_forwarding]: image 5x3 has aspect 1.667" in err


@pytest.mark.parametrize(
    ("model", "publish_dense", "outputs"),
    [
        ("fake:eloftr", True, {"matches", "matches_image"}),
        ("fake:roma", True, {"matches", "matches_image", "certainty_image", "dense"}),
        ("fake:roma", False, {"matches", "matches_image", "certainty_image"}),
    ],
)
def test_node_advertises_dense_outputs_for_roma_only(
    model: str, publish_dense: bool, outputs: set[str], ros_env: RosEnvironment
) -> None:
    import rclpy
    from rclpy.context import Context
    from rclpy.lifecycle import TransitionCallbackReturn
    from rclpy.parameter import Parameter
    from support.fake_matcher import open_fake_matcher

    from ma_trt_ros.ros.matchanything_node import MatchAnythingNode

    context = Context()
    rclpy.init(context=context, domain_id=ros_env.domain_id)
    values = {"autostart": False, "model_path": model, "publish_dense": publish_dense}
    overrides = [Parameter(name, value=value) for name, value in values.items()]
    namespace = f"/adv_{model.removeprefix('fake:')}_{int(publish_dense)}"  # no stale graph entries of another case
    node = MatchAnythingNode(open_fake_matcher, context=context, namespace=namespace, parameter_overrides=overrides)
    prefix = f"{namespace}/matchanything_node/"

    def advertised() -> set[str]:
        topics = node.get_publisher_names_and_types_by_node("matchanything_node", namespace)
        return {t.removeprefix(prefix) for t, _ in topics if t.startswith(prefix)} - {"transition_event"}

    try:
        assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
        deadline = time.monotonic() + 10.0  # the graph cache catches up with the node's own publishers
        while advertised() != outputs and time.monotonic() < deadline:
            time.sleep(0.05)
        found = advertised()
    finally:
        node.release_all()
        node.destroy_node()
        context.try_shutdown()
    assert found == outputs


def test_replay_help_stands_on_its_own(capsys: pytest.CaptureFixture[str]) -> None:
    from ma_trt_ros.ros.bag_replay import parse_args

    with pytest.raises(SystemExit):
        parse_args(["--help"])
    text = " ".join(capsys.readouterr().out.split())  # the help's line wrapping depends on the terminal
    assert "see above" not in text
    assert "--lossless pace on the node's results: at most --window pairs without a result" in text


@pytest.mark.timeout(90)
@pytest.mark.parametrize("setting", ["num_matches:=abc", "model_path:=3"])
def test_the_parameter_fix_the_node_suggests_runs(setting: str, ros_env: RosEnvironment) -> None:
    import re
    import shlex

    from support.ros_harness import run_module_in_ros_process, wait_until

    finished = run_tool("matchanything_node", ["--ros-args", "-p", setting, "-p", "autostart:=false"], extra_env=FAKE)
    line = assert_one_line_error(finished, "e.g. -p ")
    suggested = shlex.split(re.search(r"e\.g\. (-p \S+)$", line).group(1))  # as a shell would pass it
    name = setting.split(":=")[0]
    args = (
        ("--ros-args", *suggested, "-p", "model_path:=fake:eloftr")
        if name != "model_path"
        else ("--ros-args", *suggested)
    )
    args += ("-p", "autostart:=false")
    with run_module_in_ros_process("ma_trt_ros.ros.matchanything_node", ros_env, args, FAKE) as node:
        # the type is accepted: the node starts and waits for lifecycle transitions
        time.sleep(3.0)
        assert node.returncode is None, node.output()
        assert "error:" not in node.output()
    wait_until(lambda: node.returncode is not None, 10.0, "the node to stop")


@pytest.mark.timeout(90)
def test_replay_waiting_for_results_on_a_wrong_topic_says_so(tmp_path: Path, ros_env: RosEnvironment) -> None:
    bag = write_pair_bag(tmp_path / "good", bad_pair=None)
    ns, wrong = "/wrong_results", "/wrong_results/nobody/matches"
    with start_node(ros_env, ns, {"model_path": "fake:eloftr", "queue_policy": "lossless"}):
        args = [str(bag), "--image0", "/cam0", "--image1", "/cam1", "--namespace", ns, "--lossless"]
        finished = run_tool("ma-trt-replay", [*args, "--window", "2", "--results", wrong, "--timeout-s", "7"])
    *notes, error = finished.stderr.splitlines()
    assert notes and set(notes) == {f"waiting for results on {wrong}: 0 after 2 pairs"}
    assert finished.code == 2
    assert error == (
        f"error: no result on {wrong} for 7.0 s: 0 results after 2 pairs; is the node active, and are its "
        "results on that topic (--results)?"
    )
