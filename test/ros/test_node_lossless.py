"""``queue_policy: lossless`` against an unpaced publisher (issue 20, item 1): every pair once, in order.

The publisher sends as fast as ``publish`` returns, with no pacing on the results and the node's
default ``queue_size`` (1): the node's input callback waits for room in the inference queue, its
reliable keep-all inputs leave the images not yet taken in DDS, and nothing is refused.
"""

from __future__ import annotations

import re
import time

import numpy as np
import pytest
from support.image_publisher import FIRST_STAMP_S, frame_value
from support.node_process import start_node, wait_for_outputs
from support.ros_harness import RosEnvironment, RosTestNode, run_module_in_ros_process, wait_until

pytestmark = pytest.mark.ros

PAIRS = 240
INFERENCE_S = 0.01  # the fake matcher's time per pair
TIME_RE = re.compile(r"published (\d+) in ([0-9.]+) s")


@pytest.mark.slow
@pytest.mark.timeout(240)
@pytest.mark.parametrize("depth", [100, 10])
def test_lossless_node_gives_every_pair_of_an_unpaced_publisher_once_in_order(
    ros_env: RosEnvironment, ros_node: RosTestNode, depth: int
) -> None:
    from ma_trt_ros_interfaces.msg import Matches

    ns = f"/lossless_unpaced_{depth}"
    matches = ros_node.collect(Matches, f"{ns}/matchanything_node/matches", depth=1000)
    params = {"model_path": "fake:eloftr", "queue_policy": "lossless", "diagnostics_period_s": 0.5}
    publisher_args = ("pair", str(PAIRS), "0", "--namespace", ns, "--depth", str(depth))
    with start_node(ros_env, ns, params, {"FAKE_MATCHER_DELAY_S": str(INFERENCE_S)}) as node:
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
    stamps = [m.header0.stamp.sec - FIRST_STAMP_S for m in received]
    assert stamps == list(range(PAIRS))  # every pair once, in order
    assert [m.header1.stamp.sec - FIRST_STAMP_S for m in received] == stamps
    # Each result came from its own two images (the double's confidence carries their pixel values).
    values = np.array([np.frombuffer(m.confidence, np.float32)[:2] for m in received])
    expected = np.array([frame_value(i) / 255 for i in range(PAIRS)], np.float32)
    np.testing.assert_allclose(values, np.stack([expected, expected], axis=1), rtol=1e-6)
    print(f"depth {depth}: {len(received)} of {PAIRS} pairs in {elapsed_s:.1f} s; publisher: {published.group(0)}")
