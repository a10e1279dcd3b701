"""Bad input fuzzed against the live node (real DDS, the fake matcher): no crash, every rejection
counted in ``/diagnostics``, logged once per cause, and valid pairs after them still served.

Hypothesis draws image pairs over the ``sensor_msgs/Image`` fields (encodings known, odd and unknown;
``step`` short or padded; data truncated or oversized; empty and absurdly large sizes; big-endian
flags; NaN/Inf in ``32FC1``; images of different sizes in one pair) and stamps that go forward,
repeat or go back. Each drawn pair is followed by a valid sentinel pair whose result the test waits
for, so the expected counts are known pair by pair. Examples are derandomized (same cases every run).
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.diagnostics import latest_status_values, published
from support.node_process import start_node, wait_for_outputs
from support.ros_harness import RosEnvironment, RosProcess, RosTestNode, wait_until

from ma_trt_ros.ros.image_conversion import ENCODINGS

pytestmark = [pytest.mark.ros, pytest.mark.slow]  # minutes of soak, faults or fuzzing: not in make test-quick

EXAMPLES = 150
NS = "/fuzz"
NODE = f"{NS}/matchanything_node"
ODD_ENCODINGS = ("yuv422", "bayer_rggb8", "8UC3", "RGB8", "16SC1", "64FC1", "nv12", "", "mono 8", "jpeg")
DEFECTS = ("unknown_encoding", "two_channel", "short_step", "truncated", "oversized", "empty", "huge")
TIMES = ("forward", "forward", "forward", "forward", "duplicate", "backward")


@dataclass(frozen=True)
class Drawn:
    """One fuzzed image: the message fields and the defect it carries (None: a valid image)."""

    encoding: str
    height: int
    width: int
    step: int
    is_bigendian: bool
    data: bytes
    defect: str | None


@st.composite
def valid_images(draw: st.DrawFn) -> Drawn:
    """A convertible image: a matcher encoding, 1..40 pixels a side, padded rows, either byte order, NaN/Inf."""
    encoding = draw(st.sampled_from(["rgb8", "bgr8", "rgba8", "bgra8", "mono8", "mono16", "16UC1", "32FC1"]))
    info = ENCODINGS[encoding]
    height, width = draw(st.integers(1, 40)), draw(st.integers(1, 40))
    step = width * info.pixel_bytes + draw(st.integers(0, 3)) * info.dtype.itemsize
    if encoding == "32FC1":
        specials = st.sampled_from([math.nan, math.inf, -math.inf, -3.0, 0.5, 7.0])
        values = np.array(draw(st.lists(specials, min_size=1, max_size=8)), np.float32)
        row = np.resize(values, step // 4).astype(np.float32)
        data = np.tile(row, height).tobytes()
    else:
        data = np.random.default_rng(draw(st.integers(0, 2**16))).integers(0, 256, step * height, np.uint8).tobytes()
    return Drawn(encoding, height, width, step, draw(st.booleans()), data, None)


@st.composite
def bad_images(draw: st.DrawFn) -> Drawn:
    """An image the node must reject, with its defect named."""
    defect = draw(st.sampled_from(DEFECTS))
    base = draw(valid_images())
    row_bytes = base.width * ENCODINGS[base.encoding].pixel_bytes
    fields = {"encoding": base.encoding, "height": base.height, "width": base.width, "step": base.step}
    data = base.data
    if defect == "unknown_encoding":
        names = st.sampled_from(ODD_ENCODINGS) | st.text("abcdefgh0123456789_", max_size=10)
        fields["encoding"] = draw(names.filter(lambda name: name not in ENCODINGS))
    elif defect == "two_channel":
        fields.update(encoding="32FC2", step=base.width * 8)
        data = bytes(base.width * 8 * base.height)
    elif defect == "short_step":
        fields["step"] = draw(st.integers(0, row_bytes - 1))
        data = bytes(fields["step"] * base.height)
    elif defect == "truncated":
        data = data[: draw(st.integers(0, len(data) - 1))]
    elif defect == "oversized":
        data = data + bytes(draw(st.integers(1, 64)))
    elif defect == "empty":
        zero = draw(st.sampled_from(["height", "width", "both"]))
        fields.update(height=0 if zero != "width" else base.height, width=0 if zero != "height" else base.width)
        data = b""
    else:
        fields.update(height=draw(st.integers(2**16, 2**32 - 1)), width=draw(st.integers(2**16, 2**31)))
        fields["step"] = draw(st.integers(0, 2**32 - 1))
    return Drawn(data=data, is_bigendian=base.is_bigendian, defect=defect, **fields)


def image_message(drawn: Drawn, stamp_ns: int, frame: str) -> Any:
    """The ``sensor_msgs/Image`` of ``drawn`` stamped ``stamp_ns``."""
    from sensor_msgs.msg import Image

    msg = Image(encoding=drawn.encoding, height=drawn.height, width=drawn.width, step=drawn.step)
    msg.is_bigendian, msg.data = drawn.is_bigendian, drawn.data
    msg.header.frame_id = frame
    msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(stamp_ns, 1_000_000_000)
    return msg


def sentinel(stamp_ns: int, frame: str) -> Any:
    """A valid mono8 12 × 16 image."""
    return image_message(Drawn("mono8", 12, 16, 16, False, bytes(range(192)), None), stamp_ns, frame)


@dataclass
class Live:
    """The running node and the test side of its topics."""

    node: RosProcess
    publishers: list[Any]
    matches: Any
    diagnostics: Any
    started_s: float


@pytest.fixture(scope="module")
def live(ros_env: RosEnvironment) -> Iterator[Live]:
    """The node (pair mode, lossless, reliable inputs, fake ELoFTR) and a test node with publishers and collectors."""
    from diagnostic_msgs.msg import DiagnosticArray
    from sensor_msgs.msg import Image

    from ma_trt_ros_interfaces.msg import Matches

    ros = RosTestNode(ros_env, name="fuzz_test")
    params = {
        "model_path": "fake:eloftr",
        "queue_policy": "lossless",
        "queue_size": 8,
        "input_reliability": "reliable",
        "sync_queue_size": 20,
        "diagnostics_period_s": 0.5,
    }
    with start_node(ros_env, NS, params) as node:
        publishers = [ros.publisher(Image, f"{NS}/image{k}", depth=20) for k in (0, 1)]
        matches = ros.collect(Matches, f"{NODE}/matches", depth=100)
        diagnostics = ros.collect(DiagnosticArray, "/diagnostics", depth=100)
        wait_until(lambda: all(p.get_subscription_count() for p in publishers), 30.0, "the node's subscriptions")
        wait_for_outputs([matches, diagnostics])
        yield Live(node, publishers, matches, diagnostics, time.monotonic())
    ros.close()


def stamp_of(result: Any) -> int:
    """Nanoseconds of a result's image-0 stamp."""
    return result.header0.stamp.sec * 1_000_000_000 + result.header0.stamp.nanosec


def wait_for_stamp(live: Live, stamp_ns: int) -> None:
    """Wait for the result of the pair stamped ``stamp_ns``."""

    def arrived() -> bool:
        return stamp_ns in {stamp_of(m) for m in live.matches.messages}

    wait_until(arrived, 20.0, f"the result stamped {stamp_ns} ns")


@pytest.mark.timeout(240)
def test_fuzzed_images_never_crash_the_node_and_every_rejection_is_counted(live: Live) -> None:
    expected = {"results": 0, "bad_input": 0, "sync_too_old": 0, "sentinels": 0}
    served: list[int] = []
    clock = {"last_ns": 10 * 1_000_000_000}
    tried: dict[str, int] = {}

    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(
        image0=st.one_of(valid_images(), bad_images()),
        image1=st.one_of(valid_images(), bad_images()),
        when=st.sampled_from(TIMES),
    )
    def one_pair(image0: Drawn, image1: Drawn, when: str) -> None:
        last = clock["last_ns"]
        stamp = {"forward": last + 1_000_000_000, "duplicate": last, "backward": last - 700_000_000}[when]
        live.publishers[0].publish(image_message(image0, stamp, "cam0"))
        live.publishers[1].publish(image_message(image1, stamp, "cam1"))
        for label in (image0.defect or "valid", image1.defect or "valid", when):
            tried[label] = tried.get(label, 0) + 1
        if when != "forward":
            expected["sync_too_old"] += 2
        elif image0.defect or image1.defect:
            expected["bad_input"] += 1
        else:
            expected["results"] += 1
            served.append(stamp)
        clock["last_ns"] = max(clock["last_ns"], stamp) + 500_000_000
        for publisher, frame in zip(live.publishers, ("cam0", "cam1"), strict=True):
            publisher.publish(sentinel(clock["last_ns"], frame))
        expected["sentinels"] += 1
        wait_for_stamp(live, clock["last_ns"])
        assert live.node.returncode is None, live.node.output()

    one_pair()
    big = Drawn("rgb8", 2160, 3840, 3840 * 3, False, bytes(3840 * 3 * 2160), None)  # a valid 4K pair, 25 MB each
    clock["last_ns"] += 1_000_000_000
    for publisher, frame in zip(live.publishers, ("cam0", "cam1"), strict=True):
        publisher.publish(image_message(big, clock["last_ns"], frame))
    wait_for_stamp(live, clock["last_ns"])
    expected["results"] += 1
    total = expected["results"] + expected["sentinels"]
    wait_until(lambda: published(live.diagnostics, NODE) == str(total), 10.0, f"{total} results")
    values = latest_status_values(live.diagnostics, NODE)
    assert live.node.returncode is None
    assert int(values["dropped_bad_input"]) == expected["bad_input"] > 10
    assert int(values["dropped_sync_too_old"]) == expected["sync_too_old"] > 0
    assert expected["results"] > 10
    quiet = ("sync_no_partner", "sync_overflow", "queue_full", "queue_replaced", "inference_error")
    assert {reason: values[f"dropped_{reason}"] for reason in quiet} == dict.fromkeys(quiet, "0")
    stamps = [stamp_of(m) for m in live.matches.messages]
    assert len(stamps) == total and stamps == sorted(stamps) and set(served) <= set(stamps)
    assert set(tried) >= {*DEFECTS, "valid", "forward", "duplicate", "backward"}
    marker = "pair rejected: "
    lines = [line.split(marker, 1)[1] for line in live.node.output().splitlines() if marker in line]
    causes = {re.sub(r"\d+", "#", re.sub(r"'[^']*'", "", line.split(" (", 1)[0])) for line in lines}
    periods = 1 + (time.monotonic() - live.started_s) / 10.0
    print(f"fuzz: {EXAMPLES} pairs, labels {tried}, expected {expected}, {len(lines)} log lines, {len(causes)} causes")
    # One line per cause per 10 s: far fewer lines than rejections, yet every kind of defect named.
    assert len(causes) <= 6 and len(lines) <= len(causes) * math.ceil(periods) < expected["bad_input"]
    named = ("is not supported", "cannot be a matcher image", "is smaller than width", "but step × height", "is empty")
    assert all(any(words in line for line in lines) for words in named), lines


@pytest.mark.timeout(90)
@pytest.mark.parametrize(
    ("content", "message"),
    [(None, "does not exist"), (b"\x89PNG\r\n\x1a\n but not a picture", "cannot be read as an image")],
)
def test_a_missing_or_unreadable_reference_file_fails_configure_with_one_clear_line(
    ros_env: RosEnvironment, tmp_path: Path, content: bytes | None, message: str
) -> None:
    reference = tmp_path / "reference.png"
    if content is not None:
        reference.write_bytes(content)
    params = {"model_path": "fake:eloftr", "input_mode": "reference", "reference_image": str(reference)}
    with start_node(ros_env, "/fuzz_reference", params) as node:
        assert node.wait(timeout_s=60.0) == 1
        failures = [line for line in node.output().splitlines() if "configure failed" in line]
    assert len(failures) == 1 and f"reference image '{reference}' {message}" in failures[0]
    assert "Traceback" not in node.output()


@pytest.mark.timeout(60)
def test_a_model_of_the_wrong_variant_fails_configure_and_is_closed(ros_env: RosEnvironment, tmp_path: Path) -> None:
    log = tmp_path / "fake.log"
    params = {"model_path": "fake:eloftr", "expected_variant": "roma"}
    with start_node(ros_env, "/fuzz_variant", params, {"FAKE_MATCHER_LOG": str(log)}) as node:
        assert node.wait(timeout_s=30.0) == 1
        failures = [line for line in node.output().splitlines() if "configure failed" in line]
    assert len(failures) == 1
    assert "fake:eloftr holds the eloftr variant, but expected_variant is roma" in failures[0]
    assert log.read_text().splitlines() == ["open fake:eloftr", "close"]
