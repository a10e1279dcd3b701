"""Progress bars (tqdm) for TensorRT engine builds.

TensorRT 10.x/11.x and TensorRT-RTX report build phases through ``IProgressMonitor``
(``builder_config.progress_monitor``): one bar per active phase, nested phases below their parent.
TensorRT 8.5 has no progress monitor: an elapsed-time bar ticks once a second instead, so the user
still sees the build is alive (8.5 builds of these models take minutes on a Jetson).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from types import ModuleType
from typing import Any

from tqdm import tqdm


def _monitor_class(trt: ModuleType) -> type:
    class TqdmProgressMonitor(trt.IProgressMonitor):  # type: ignore[name-defined,misc]
        """One tqdm bar per open build phase; ``step_complete`` returns False to cancel."""

        def __init__(self) -> None:
            trt.IProgressMonitor.__init__(self)
            self.bars: dict[str, tqdm] = {}
            self.cancelled = False

        def phase_start(self, phase_name: str, parent_phase: str | None, num_steps: int) -> None:
            depth = len(self.bars)
            self.bars[phase_name] = tqdm(
                total=num_steps, desc=("  " * depth) + phase_name, position=depth, leave=depth == 0, unit="step"
            )

        def step_complete(self, phase_name: str, step: int) -> bool:
            bar = self.bars.get(phase_name)
            if bar is not None:
                bar.update(step + 1 - bar.n)
            return not self.cancelled

        def phase_finish(self, phase_name: str) -> None:
            bar = self.bars.pop(phase_name, None)
            if bar is not None:
                bar.update(bar.total - bar.n)
                bar.close()

        def close(self) -> None:
            for bar in self.bars.values():
                bar.close()
            self.bars.clear()

    return TqdmProgressMonitor


@contextlib.contextmanager
def build_progress(trt: ModuleType, config: Any, description: str) -> Iterator[None]:
    """Show build progress while the ``with`` body builds with ``config``."""
    if hasattr(trt, "IProgressMonitor") and hasattr(config, "progress_monitor"):
        monitor = _monitor_class(trt)()
        config.progress_monitor = monitor
        try:
            yield
        except KeyboardInterrupt:
            monitor.cancelled = True
            raise
        finally:
            monitor.close()
        return
    stop = threading.Event()
    bar = tqdm(desc=f"{description} (no progress monitor in this TensorRT)", bar_format="{desc}: {elapsed}")

    def tick() -> None:
        while not stop.wait(1.0):
            bar.refresh()

    thread = threading.Thread(target=tick, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        bar.close()
