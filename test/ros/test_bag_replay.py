"""ma-trt-replay through matchanything_node: lossless (100 pairs in, exactly 100 results in order) and timed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from support.node_process import start_node, wait_for_outputs
from support.ros_harness import RosEnvironment, RosTestNode, run_module_in_ros_process

pytestmark = pytest.mark.ros

PAIRS = 100


def write_pair_bag(path: Path, pairs: int, storage: str) -> None:
    """A bag of ``pairs`` mono8 pairs (image0 31x23, image1 27x19) on /cam0/image and /cam1/image, 10 ms apart."""
    from std_msgs.msg import Header

    from ma_trt_ros.ros.bag_io import write_image_bag
    from ma_trt_ros.ros.image_conversion import numpy_to_image

    def images():
        for index in range(pairs):
            header = Header()
            header.stamp.sec, header.stamp.nanosec = 50 + index // 100, (index % 100) * 10_000_000
            header.frame_id = "left"
            yield "/cam0/image", numpy_to_image(np.full((23, 31), index % 256, np.uint8), "mono8", header=header)
            header = Header(frame_id="right", stamp=header.stamp)
            yield "/cam1/image", numpy_to_image(np.full((19, 27), 255 - index % 256, np.uint8), "mono8", header=header)

    assert write_image_bag(path, images(), storage) == 2 * pairs


@pytest.mark.timeout(180)
def test_lossless_replay_of_a_100_pair_bag_gives_100_results_in_order(
    ros_env: RosEnvironment, ros_node: RosTestNode, tmp_path: Path
) -> None:
    from ma_trt_ros_interfaces.msg import Matches

    bag = tmp_path / "pairs"
    write_pair_bag(bag, PAIRS, "mcap")
    ns = "/replay"
    matches = ros_node.collect(Matches, f"{ns}/matchanything_node/matches", depth=PAIRS)
    params = {"model_path": "fake:eloftr", "queue_policy": "lossless", "queue_size": 8, "input_reliability": "reliable"}
    replay_args = (str(bag), "--image0", "/cam0/image", "--image1", "/cam1/image", "--namespace", ns, "--lossless")
    # The fake takes 20 ms per pair; the replay still must not lose a single pair.
    with start_node(ros_env, ns, params, {"FAKE_MATCHER_DELAY_S": "0.02"}) as node:
        wait_for_outputs([matches])
        with run_module_in_ros_process("ma_trt_ros.ros.bag_replay", ros_env, replay_args) as replay:
            assert replay.wait(timeout_s=120.0) == 0, replay.output()
        received = matches.wait_for(PAIRS, timeout_s=10.0)
        assert node.returncode is None
    assert f"replayed {PAIRS} pairs" in replay.output() and f"{PAIRS} results" in replay.output()
    assert len(received) == PAIRS
    stamps = [(m.header0.stamp.sec, m.header0.stamp.nanosec) for m in received]
    assert stamps == [(50 + i // 100, (i % 100) * 10_000_000) for i in range(PAIRS)]
    values = [np.rint(np.frombuffer(m.confidence, np.float32)[:2] * 255).astype(int).tolist() for m in received]
    assert values == [[i % 256, 255 - i % 256] for i in range(PAIRS)]
    assert {(m.header0.frame_id, m.header1.frame_id, m.count) for m in received} == {("left", "right", 30)}


@pytest.mark.timeout(120)
def test_timed_replay_of_a_sqlite_bag_at_the_recorded_rate(
    ros_env: RosEnvironment, ros_node: RosTestNode, tmp_path: Path
) -> None:
    from ma_trt_ros_interfaces.msg import Matches

    pairs = 30
    bag = tmp_path / "pairs_sqlite"
    write_pair_bag(bag, pairs, "sqlite3")
    ns = "/timed_replay"
    matches = ros_node.collect(Matches, f"{ns}/matchanything_node/matches", depth=pairs)
    params = {
        "model_path": "fake:eloftr",
        "queue_policy": "lossless",
        "queue_size": pairs,
        "input_reliability": "reliable",
    }
    replay_args = (str(bag), "--image0", "/cam0/image", "--image1", "/cam1/image", "--namespace", ns, "--rate", "1.0")
    with start_node(ros_env, ns, params) as node:
        wait_for_outputs([matches])
        with run_module_in_ros_process("ma_trt_ros.ros.bag_replay", ros_env, replay_args) as replay:
            assert replay.wait(timeout_s=60.0) == 0, replay.output()
        received = matches.wait_for(pairs, timeout_s=10.0)
        assert node.returncode is None
    assert f"replayed {pairs} pairs" in replay.output()
    assert [m.header0.stamp.nanosec for m in received] == [i * 10_000_000 for i in range(pairs)]
