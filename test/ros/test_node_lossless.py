"""``queue_policy: lossless`` against an unpaced publisher (issue 20, item 1): every pair once, in order.

The publisher sends as fast as ``publish`` returns, with no pacing on the results and the node's
default ``queue_size`` (1): the node's input callback waits for room in the inference queue, its
reliable keep-all inputs leave the images not yet taken in DDS, and nothing is refused.

With the shared profile (``fastdds_large_messages.xml``) the node's DDS readers keep whatever the
publisher sent (keep-last writers of any depth lose nothing). With ``fastdds_lossless_node.xml`` they
hold at most 16 images each: a keep-all publisher then waits for the node, its last acknowledgement
coming only as the node takes the last images.
"""

from __future__ import annotations

import re
import time

import numpy as np
import pytest
from support.image_publisher import FIRST_STAMP_S, frame_value
from support.node_process import start_node, wait_for_outputs
from support.ros_harness import REPO_ROOT, RosEnvironment, RosTestNode, run_module_in_ros_process, wait_until

pytestmark = [pytest.mark.ros, pytest.mark.slow]  # minutes of soak, faults or fuzzing: not in make test-quick

PAIRS = 240
INFERENCE_S = 0.01  # the fake matcher's time per pair
READER_LIMIT = 16  # images per reader in fastdds_lossless_node.xml
TIME_RE = re.compile(r"published (\d+) in ([0-9.]+) s, acknowledged after ([0-9.]+) s")
BOUNDED_PROFILE = REPO_ROOT / "config" / "fastdds_lossless_node.xml"


@pytest.mark.slow
@pytest.mark.timeout(240)
@pytest.mark.parametrize(("profile", "depth"), [("shared", 100), ("shared", 10), ("bounded", 0)])
def test_lossless_node_gives_every_pair_of_an_unpaced_publisher_once_in_order(
    ros_env: RosEnvironment, ros_node: RosTestNode, profile: str, depth: int
) -> None:
    from ma_trt_ros_interfaces.msg import Matches

    ns = f"/lossless_{profile}_{depth}"
    matches = ros_node.collect(Matches, f"{ns}/matchanything_node/matches", depth=1000)
    params = {"model_path": "fake:eloftr", "queue_policy": "lossless", "diagnostics_period_s": 0.5}
    publisher_args = ("pair", str(PAIRS), "0", "--namespace", ns, "--depth", str(depth))
    node_env = {"FAKE_MATCHER_DELAY_S": str(INFERENCE_S)}
    if profile == "bounded":
        node_env["FASTDDS_DEFAULT_PROFILES_FILE"] = str(BOUNDED_PROFILE)
    with start_node(ros_env, ns, params, node_env) as node:
        wait_for_outputs([matches])
        start = time.monotonic()
        with run_module_in_ros_process("support.image_publisher", ros_env, publisher_args) as publisher:
            received = matches.wait_for(PAIRS, timeout_s=120.0)
            elapsed_s = time.monotonic() - start
            wait_until(lambda: "published" in publisher.output(), 30.0, "the publisher to finish")
            published = TIME_RE.search(publisher.output())
        time.sleep(1.0)  # nothing more may come
        received = matches.messages
        assert node.returncode is None, node.output()
        assert "queue_full" not in node.output()
    assert published is not None and int(published.group(1)) == PAIRS
    acknowledged_s = float(published.group(3))
    if profile == "bounded":
        # the node's readers held at most READER_LIMIT images: the last ones were acknowledged only
        # once the node had matched all but about that many pairs
        assert acknowledged_s >= (PAIRS - READER_LIMIT - 4) * INFERENCE_S
    stamps = [m.header0.stamp.sec - FIRST_STAMP_S for m in received]
    assert stamps == list(range(PAIRS))  # every pair once, in order
    assert [m.header1.stamp.sec - FIRST_STAMP_S for m in received] == stamps
    # Each result came from its own two images (the double's confidence carries their pixel values).
    values = np.array([np.frombuffer(m.confidence, np.float32)[:2] for m in received])
    expected = np.array([frame_value(i) / 255 for i in range(PAIRS)], np.float32)
    np.testing.assert_allclose(values, np.stack([expected, expected], axis=1), rtol=1e-6)
    print(f"{profile} depth {depth}: {len(received)} of {PAIRS} pairs in {elapsed_s:.1f} s; {published.group(0)}")


def test_bounded_node_profile_is_the_shared_profile_plus_reader_limits() -> None:
    import xml.etree.ElementTree as ET

    def profiles(path: object) -> dict[str, str]:
        root = ET.parse(path).getroot()
        for element in root.iter():
            element.tail = None
        return {child.tag.split("}")[-1]: ET.tostring(child) for child in root.find("{*}profiles")}

    shared, bounded = profiles(REPO_ROOT / "config" / "fastdds_large_messages.xml"), profiles(BOUNDED_PROFILE)
    assert {k: v for k, v in bounded.items() if k != "data_reader"} == shared  # transports kept in step
    limits = ET.fromstring(bounded["data_reader"]).find("{*}topic/{*}resourceLimitsQos")
    assert {c.tag.split("}")[-1]: int(c.text) for c in limits} == {
        "max_samples": READER_LIMIT,
        "max_instances": 1,
        "max_samples_per_instance": READER_LIMIT,
        "allocated_samples": READER_LIMIT,
    }
