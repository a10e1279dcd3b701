"""The inference worker's stages (an optional prepare thread, process on the inference thread, finish on the
output thread) and the pair pipeline split into conversion, matching and message building. Behaviour only:
no timing is asserted; a short grace period is waited where a test shows that something does *not* happen."""

from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np
import pytest
from support.ros_harness import wait_until

from ma_trt_ros.ros.inference_worker import InferenceWorker

WAIT_S = 5.0  # upper bound of any wait that must end (a broken pipeline fails instead of hanging)
GRACE_S = 0.2  # time given to something that must not happen


class Stages:
    """Records what each stage did; ``process`` returns ``item * 10``, ``finish`` appends its value.

    ``process_gate`` / ``finish_gate``: item -> Event the stage waits for before returning.
    """

    def __init__(self) -> None:
        self.process_started: dict[int, threading.Event] = {}
        self.processed: dict[int, threading.Event] = {}
        self.finish_started: dict[int, threading.Event] = {}
        self.process_gate: dict[int, threading.Event] = {}
        self.finish_gate: dict[int, threading.Event] = {}
        self.finished: list[int] = []
        self.errors: list[tuple[int, str]] = []
        self.prepare_started: dict[int, threading.Event] = {}
        self.prepare_gate: dict[int, threading.Event] = {}
        self.prepared: list[int] = []
        self.threads: dict[str, set[str]] = {"prepare": set(), "process": set(), "finish": set()}
        self._lock = threading.Lock()

    def event(self, table: dict[int, threading.Event], item: int) -> threading.Event:
        """The event of ``item`` in ``table`` (made on first use)."""
        with self._lock:
            return table.setdefault(item, threading.Event())

    def reached(self, table: dict[int, threading.Event], item: int) -> bool:
        """Wait up to WAIT_S for the event of ``item`` in ``table``; whether it came."""
        return self.event(table, item).wait(WAIT_S)

    @staticmethod
    def set_items(table: dict[int, threading.Event]) -> list[int]:
        """The items whose event in ``table`` is set, in order."""
        return sorted(item for item, event in table.items() if event.is_set())

    def prepare(self, item: int) -> int:
        """The optional first stage: returns ``item`` unchanged (so ``process`` sees the item)."""
        self.threads["prepare"].add(threading.current_thread().name)
        self.event(self.prepare_started, item).set()
        if item in self.prepare_gate:
            assert self.prepare_gate[item].wait(WAIT_S), f"prepare({item}) was never released"
        if item < 0:
            raise ValueError(f"cannot prepare {item}")
        self.prepared.append(item)
        return item

    def process(self, item: int) -> int:
        self.threads["process"].add(threading.current_thread().name)
        self.event(self.process_started, item).set()
        if item in self.process_gate:
            assert self.process_gate[item].wait(WAIT_S), f"process({item}) was never released"
        self.event(self.processed, item).set()
        return item * 10

    def finish(self, value: int) -> None:
        item = value // 10
        self.threads["finish"].add(threading.current_thread().name)
        self.event(self.finish_started, item).set()
        if item in self.finish_gate:
            assert self.finish_gate[item].wait(WAIT_S), f"finish({item}) was never released"
        self.finished.append(value)

    def on_error(self, item: int, error: BaseException) -> None:
        self.errors.append((item, str(error)))

    def worker(self, policy: str, capacity: int, name: str = "stage-test", prepare: bool = False) -> InferenceWorker:
        """A resumed worker running these stages (with ``prepare``: all three)."""
        first = self.prepare if prepare else None
        worker = InferenceWorker(
            self.process, policy, capacity, self.on_error, name=name, finish=self.finish, prepare=first
        )
        worker.resume()
        return worker


def test_finishing_item_n_minus_1_overlaps_processing_item_n_on_two_threads() -> None:
    count = 6
    stages = Stages()
    # process(n) returns only once finish(n - 1) has started, and finish(n - 1) only once process(n)
    # has started: a worker that runs the stages one after the other cannot get past item 1.
    for n in range(1, count):
        stages.process_gate[n] = stages.event(stages.finish_started, n - 1)
        stages.finish_gate[n - 1] = stages.event(stages.process_started, n)
    worker = stages.worker("lossless", capacity=count, name="matcher")
    assert [worker.submit(item) for item in range(count)] == ["queued"] * count
    assert worker.wait_idle(WAIT_S * count)
    worker.stop()
    assert stages.errors == []
    assert stages.finished == [10 * item for item in range(count)]
    assert stages.threads == {"prepare": set(), "process": {"matcher"}, "finish": {"matcher-output"}}


def test_lossless_keeps_every_item_in_order_behind_a_slow_finish_stage() -> None:
    stages = Stages()
    slow_finish = stages.finish

    def finish(value: int) -> None:
        time.sleep(0.002)  # slower than process: the hand-off holds the inference thread back
        slow_finish(value)

    worker = InferenceWorker(stages.process, "lossless", 1, stages.on_error, finish=finish)
    worker.resume()
    outcomes = [worker.submit(item) for item in range(40)]
    assert worker.wait_idle(WAIT_S)
    worker.stop()
    assert outcomes == ["queued"] * 40 and stages.finished == [10 * item for item in range(40)]
    assert (worker.refused, worker.replaced, worker.processed, stages.errors) == (0, 0, 40, [])


def test_at_most_one_result_waits_between_the_stages_and_the_submitter_is_held_back() -> None:
    stages = Stages()
    release = stages.finish_gate[0] = threading.Event()
    worker = stages.worker("lossless", capacity=1)
    outcomes: list[str] = []
    submitter = threading.Thread(target=lambda: outcomes.extend(worker.submit(item) for item in range(6)))
    submitter.start()
    # finish(0) blocked, item 1 processed and handed off, item 2 queued: nothing more may start
    assert stages.reached(stages.processed, 1)
    wait_until(lambda: worker.waiting == 1, WAIT_S, "one item waiting in the queue", poll_s=0.001)
    time.sleep(GRACE_S)
    assert stages.set_items(stages.process_started) == [0, 1] and stages.finished == []
    assert (outcomes, worker.waiting, submitter.is_alive()) == (["queued"] * 3, 1, True)
    release.set()
    submitter.join(WAIT_S)
    assert worker.wait_idle(WAIT_S)
    worker.stop()
    assert outcomes == ["queued"] * 6 and stages.finished == [10 * item for item in range(6)]


def test_latest_replaces_waiting_items_while_both_stages_are_busy() -> None:
    stages = Stages()
    release = stages.finish_gate[0] = threading.Event()
    worker = stages.worker("latest", capacity=1)
    assert worker.submit(0) == "queued"
    assert stages.reached(stages.finish_started, 0)
    assert worker.submit(1) == "queued"
    assert stages.reached(stages.processed, 1)
    assert [worker.submit(item) for item in (2, 3, 4)] == ["queued", "replaced", "replaced"]
    release.set()
    assert worker.wait_idle(WAIT_S)
    worker.stop()
    assert stages.finished == [0, 10, 40] and (worker.replaced, worker.processed) == (2, 3)


def test_pause_waits_for_the_items_in_both_stages_and_discards_the_waiting_ones() -> None:
    stages = Stages()
    release_finish = stages.finish_gate[0] = threading.Event()
    release_process = stages.process_gate[1] = threading.Event()
    worker = stages.worker("lossless", capacity=1)
    assert worker.submit(0) == "queued"
    assert stages.reached(stages.finish_started, 0)
    assert worker.submit(1) == "queued"
    assert stages.reached(stages.process_started, 1)
    assert worker.submit(2) == "queued"  # waits: finish(0) and process(1) are in progress
    discarded: list[int] = []
    pauser = threading.Thread(target=lambda: discarded.append(worker.pause(WAIT_S * 2)))
    pauser.start()
    time.sleep(GRACE_S)
    assert pauser.is_alive() and worker.submit(3) == "refused"
    release_finish.set()
    wait_until(lambda: stages.finished == [0], WAIT_S, "item 0 finished", poll_s=0.001)
    time.sleep(GRACE_S)
    assert pauser.is_alive()  # process(1) still runs
    release_process.set()
    pauser.join(WAIT_S)
    assert not pauser.is_alive() and discarded == [1]
    assert stages.finished == [0, 10]  # the item matched before the pause is published too
    worker.stop()


def test_errors_of_either_stage_reach_on_error_with_the_item_and_later_items_go_on() -> None:
    errors: list[tuple[str, int, str]] = []
    finished: list[str] = []

    def process(item: int) -> str:
        if item == 3:
            raise ValueError("unreadable image")
        return f"value {item}"

    def finish(value: str) -> None:
        if value == "value 1":
            raise RuntimeError(f"no message for {value}")
        finished.append(value)

    def on_error(item: int, error: BaseException) -> None:
        errors.append((threading.current_thread().name, item, str(error)))

    worker = InferenceWorker(process, "lossless", 10, on_error, name="errors", finish=finish)
    worker.resume()
    for item in range(5):
        worker.submit(item)
    assert worker.wait_idle(WAIT_S)
    worker.stop()
    assert finished == ["value 0", "value 2", "value 4"] and worker.processed == 5
    assert sorted(errors, key=lambda e: e[1]) == [
        ("errors-output", 1, "no message for value 1"),
        ("errors", 3, "unreadable image"),
    ]


def test_wait_idle_covers_the_output_stage_and_stop_ends_both_threads() -> None:
    stages = Stages()
    release = stages.finish_gate[0] = threading.Event()
    worker = stages.worker("latest", capacity=1, name="stop-test")
    worker.submit(0)
    assert stages.reached(stages.finish_started, 0)
    assert worker.waiting == 0 and not worker.wait_idle(GRACE_S)
    release.set()
    assert worker.wait_idle(WAIT_S) and stages.finished == [0]
    assert worker.call(lambda: threading.current_thread().name) == "stop-test"
    worker.stop()
    assert [t.name for t in threading.enumerate() if t.name.startswith("stop-test")] == []


@pytest.mark.ros
def test_pair_pipeline_matches_on_the_matcher_thread_and_builds_messages_on_another() -> None:
    from std_msgs.msg import Header
    from support.fake_matcher import FakeMatcher

    from ma_trt_ros.ros.image_conversion import numpy_to_image
    from ma_trt_ros.ros.pair_pipeline import PairPipeline
    from ma_trt_ros.ros.result_messages import OutputSettings

    matcher = FakeMatcher("fake:roma", "auto", None)  # refuses every thread but this one
    pipeline = PairPipeline(matcher, OutputSettings(dense_stride=2))
    pair = tuple(
        numpy_to_image(np.full((24, 32, 3), value, np.uint8), "rgb8", header=Header(frame_id=name))
        for value, name in ((40, "left"), (90, "right"))
    )
    (matched,) = pipeline.match([pair])
    assert [h.frame_id for h in matched.headers] == ["left", "right"]
    assert {"convert", "match", "runtime_inference"} <= set(matched.stages_ms)
    outputs: dict[str, Any] = {}
    pictures = {"plain": frozenset(), "pictures": frozenset({"matches_image", "certainty_image"})}
    builders = [
        threading.Thread(target=lambda key=key: outputs.update({key: pipeline.messages(matched, pictures[key])}))
        for key in pictures
    ]
    for builder in builders:
        builder.start()
        builder.join(WAIT_S)
    assert set(outputs["plain"].messages) == {"matches", "dense"}
    assert set(outputs["pictures"].messages) == {"matches", "dense", "matches_image", "certainty_image"}
    assert set(outputs["plain"].stages_ms) == set(matched.stages_ms) | {"messages"}
    (whole,) = pipeline.process([pair], pictures["plain"])
    assert list(whole.messages["matches"].points1) == list(outputs["plain"].messages["matches"].points1)
    assert whole.messages["dense"].grid_scale_x == outputs["plain"].messages["dense"].grid_scale_x == 4.0


@pytest.mark.ros
def test_pair_pipeline_hands_camera_bytes_to_a_matcher_that_takes_them() -> None:
    from support.backend_doubles import RomaDoubleBackend

    from ma_trt_ros.ros.image_conversion import numpy_to_image
    from ma_trt_ros.ros.pair_pipeline import PairPipeline
    from ma_trt_ros.ros.result_messages import OutputSettings
    from ma_trt_ros.runtime import Matcher

    rng = np.random.default_rng(4)
    pixels = [rng.integers(0, 256, (32, 32, 3), dtype=np.uint8) for _ in range(2)]
    pair = (numpy_to_image(pixels[0], "rgb8"), numpy_to_image(pixels[1][..., ::-1], "bgr8"))
    pictures = frozenset({"matches_image"})
    drawn = {}
    for keep in (False, True):
        backend = RomaDoubleBackend(res=32)
        backend.takes_uint8_images = keep  # as the torch backend (True) or ONNX Runtime / TensorRT (False)
        pipeline = PairPipeline(Matcher(backend), OutputSettings())
        converted = pipeline.convert([pair])
        assert [image.dtype for image in converted.images[0]] == [np.uint8 if keep else np.float32] * 2
        scale = 1.0 if keep else 255.0  # bytes as they came, or floats in [0, 1]
        for image, expected in zip(converted.images[0], pixels, strict=True):
            np.testing.assert_allclose(np.asarray(image, np.float32) * scale, expected, rtol=1e-6)
        (output,) = [pipeline.messages(matched, pictures) for matched in pipeline.match_converted(converted)]
        drawn[keep] = bytes(output.messages["matches_image"].data)
    assert drawn[True] == drawn[False]  # the pictures drawn from the bytes are those drawn from the floats


def test_preparing_item_n_plus_1_overlaps_processing_item_n_on_a_third_thread() -> None:
    count = 6
    stages = Stages()
    # process(n) returns only once prepare(n + 1) has started, and prepare(n + 1) only once process(n)
    # has started: without a prepare thread of its own, the worker cannot get past item 0.
    for n in range(count - 1):
        stages.process_gate[n] = stages.event(stages.prepare_started, n + 1)
        stages.prepare_gate[n + 1] = stages.event(stages.process_started, n)
    worker = stages.worker("lossless", capacity=count, name="matcher", prepare=True)
    assert [worker.submit(item) for item in range(count)] == ["queued"] * count
    assert worker.wait_idle(WAIT_S * count)
    worker.stop()
    assert stages.errors == [] and worker.processed == count
    assert stages.prepared == list(range(count)) and stages.finished == [10 * item for item in range(count)]
    assert stages.threads == {"prepare": {"matcher-prepare"}, "process": {"matcher"}, "finish": {"matcher-output"}}


def test_with_three_stages_one_item_waits_in_each_slot_and_the_submitter_is_held_back() -> None:
    stages = Stages()
    release = stages.finish_gate[0] = threading.Event()
    worker = stages.worker("lossless", capacity=1, prepare=True)
    outcomes: list[str] = []
    submitter = threading.Thread(target=lambda: outcomes.extend(worker.submit(item) for item in range(8)))
    submitter.start()
    # finish(0) blocked, item 1 processed and waiting for the output thread, item 2 prepared and waiting for
    # the inference thread, item 3 queued: nothing more may start
    assert stages.reached(stages.processed, 1)
    wait_until(lambda: stages.prepared == [0, 1, 2], WAIT_S, "item 2 prepared", poll_s=0.001)
    wait_until(lambda: worker.waiting == 1, WAIT_S, "one item waiting in the queue", poll_s=0.001)
    time.sleep(GRACE_S)
    assert stages.set_items(stages.process_started) == [0, 1] and stages.prepared == [0, 1, 2]
    assert (outcomes, worker.waiting, submitter.is_alive(), stages.finished) == (["queued"] * 4, 1, True, [])
    release.set()
    submitter.join(WAIT_S)
    assert worker.wait_idle(WAIT_S)
    worker.stop()
    assert outcomes == ["queued"] * 8 and stages.finished == [10 * item for item in range(8)]


def test_an_error_in_the_prepare_stage_reaches_on_error_and_the_next_items_go_on() -> None:
    stages = Stages()
    worker = stages.worker("lossless", capacity=10, prepare=True)
    assert [worker.submit(item) for item in (0, -1, 2)] == ["queued"] * 3
    assert worker.wait_idle(WAIT_S)
    worker.pause()
    assert worker.processed == 3 and worker.submit(3) == "refused"
    worker.stop()
    assert stages.errors == [(-1, "cannot prepare -1")] and stages.finished == [0, 20]
