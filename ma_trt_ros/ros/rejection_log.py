"""Rate-limited logging of rejected pairs and failed matches: one line per cause, not one per pair.

Pure Python (no rclpy). A flood of bad images must neither fill the log nor hide a second, different
problem: :class:`RejectionLog` groups messages by their *cause* (the error type and its text with
numbers and quoted names blanked, so "step 10 is smaller than ..." and "step 12 is smaller than ..."
are one cause, and so are "encoding 'yuv422' ..." and "encoding 'nv12' ..."),
lets the first message of each cause through at once, and then at most one per ``period_s``, telling
how many of that cause were held back in between. Memory is bounded: at most ``max_causes`` causes are
remembered (the least recently seen is forgotten first).
"""

from __future__ import annotations

import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

NUMBER = re.compile(r"\d+(\.\d+)?")
QUOTED = re.compile(r"'[^']*'")


def cause_of(error: BaseException) -> str:
    """The cause key of ``error``: its type name and message, numbers replaced by ``#``, quoted names by ``'…'``."""
    text = NUMBER.sub("#", QUOTED.sub("'…'", str(error)))
    return f"{type(error).__name__}: {text}"


class RejectionLog:
    """Per-cause rate limit in front of a log function (see module docstring); thread-safe.

    Args:
        emit: called with each line that passes (e.g. a ROS logger's ``warning``).
        period_s: least time between two lines of one cause, seconds.
        max_causes: causes remembered at once.
        clock: monotonic seconds (tests pass their own).
    """

    def __init__(
        self,
        emit: Callable[[str], object],
        period_s: float = 10.0,
        max_causes: int = 64,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._emit = emit
        self.period_s = period_s
        self.max_causes = max_causes
        self._clock = clock
        self._lock = threading.Lock()
        self._causes: OrderedDict[str, tuple[float, int]] = OrderedDict()

    def report(self, prefix: str, error: BaseException) -> bool:
        """Log ``prefix: error`` unless its cause was logged less than ``period_s`` ago; True when logged."""
        cause, now = cause_of(error), self._clock()
        with self._lock:
            last, held = self._causes.pop(cause, (None, 0))
            if last is not None and now - last < self.period_s:
                self._causes[cause] = (last, held + 1)
                return False
            self._causes[cause] = (now, 0)
            while len(self._causes) > self.max_causes:
                self._causes.popitem(last=False)
        suffix = f" ({held} more of this cause in the last {now - last:.0f} s)" if held else ""
        self._emit(f"{prefix}: {error}{suffix}")
        return True
