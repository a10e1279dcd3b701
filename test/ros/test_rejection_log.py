"""The node's rate-limited rejection log: one line per cause and period, with the count held back."""

from __future__ import annotations

from ma_trt_ros.ros.image_conversion import ImageConversionError
from ma_trt_ros.ros.rejection_log import RejectionLog, cause_of


def test_numbers_and_quoted_names_do_not_make_new_causes() -> None:
    step = [ImageConversionError(f"step {s} is smaller than width {w}") for s, w in ((3, 4), (10, 12))]
    encoding = [ImageConversionError(f"encoding {name!r} is not supported") for name in ("yuv422", "nv12")]
    assert cause_of(step[0]) == cause_of(step[1]) != cause_of(encoding[0]) == cause_of(encoding[1])
    assert cause_of(RuntimeError("step 3 is smaller than width 4")) != cause_of(step[0])


def test_each_cause_is_logged_once_per_period_with_the_count_held_back() -> None:
    lines: list[str] = []
    now = [0.0]
    log = RejectionLog(lines.append, period_s=10.0, max_causes=2, clock=lambda: now[0])
    for second in range(25):
        now[0] = float(second)
        log.report("pair rejected", ImageConversionError(f"data holds {second} bytes"))
        log.report("pair rejected", ImageConversionError("image is empty (0 × 5 pixels)"))
    assert [line.split(":")[0] for line in lines] == ["pair rejected"] * 6  # 2 causes at t = 0, 10, 20
    assert lines[0] == "pair rejected: data holds 0 bytes"
    assert lines[2] == "pair rejected: data holds 10 bytes (9 more of this cause in the last 10 s)"
    assert log.report("pair rejected", ValueError("a third cause"))  # forgets the least recent cause ...
    assert log.report("pair rejected", ImageConversionError("data holds 1 bytes"))  # ... so it is new again
    assert not log.report("pair rejected", ValueError("a third cause"))
