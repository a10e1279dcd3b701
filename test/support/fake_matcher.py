"""TEST DOUBLE of the runtime matcher: a known correspondence, no model, counted open/close.

Selected in a node process with ``MA_TRT_ROS_MATCHER_FACTORY=support.fake_matcher:open_fake_matcher``
and ``model_path`` ``fake:eloftr`` or ``fake:roma`` (anything else fails like a bad model).

What it returns for images of sizes (W0, H0) and (W1, H1):
- points0: the centres of a GRID_COLS x GRID_ROWS grid of cells over image 0;
- points1 = :func:`expected_points1` (points0): image 0 scaled onto image 1 plus SHIFT, in pixels;
- confidence: even entries = value of image 0 at its top-left pixel, odd entries = that of image 1
  (first channel), so a test sees which images were paired;
- ``roma`` only: a dense field on a DENSE_ROWS x DENSE_COLS grid over image 0 with the same mapping
  and certainty = image 1's top-left value.

Like the runtime's GPU backends, it must be used on the thread that opened it: ``match``,
``match_batch``, ``gpu_memory_bytes`` and ``close`` from another thread raise RuntimeError.

Environment: ``FAKE_MATCHER_DELAY_S`` (seconds slept per match, to simulate a slow engine),
``FAKE_MATCHER_GIL_RELEASES`` (N > 1: the delay is slept in N parts, so the GIL is released and taken
back N times per match, as a GPU backend does around each of its PyTorch or CUDA calls),
``FAKE_MATCHER_MEMORY_LOG`` (file that gets a line for each ``gpu_memory_bytes`` call),
``FAKE_MATCHER_LOG`` (file to which ``open <model_path>`` and ``close`` lines are appended),
``FAKE_MATCHER_FAIL_EVERY`` (N > 0: every N-th call of ``match`` raises RuntimeError, a backend fault
in the middle of a stream; the matcher stays usable).
"""

from __future__ import annotations

import os
import threading
import time

import numpy as np

from ma_trt_ros.runtime.errors import ModelError
from ma_trt_ros.runtime.result import DenseField, ImageSize, MatchResult

GRID_COLS, GRID_ROWS = 6, 5
DENSE_ROWS, DENSE_COLS = 12, 16
SHIFT = np.array([0.25, -0.5], np.float32)
VARIANTS = {"fake:eloftr": "eloftr", "fake:roma": "roma"}


def expected_points1(points0: np.ndarray, size0: tuple[int, int], size1: tuple[int, int]) -> np.ndarray:
    """The double's mapping of image-0 pixels ``[N, 2]`` to image-1 pixels; sizes are (width, height)."""
    scale = np.array([size1[0] / size0[0], size1[1] / size0[1]], np.float32)
    return (points0 * scale + SHIFT).astype(np.float32)


def grid_points(size0: tuple[int, int]) -> np.ndarray:
    """float32 ``[GRID_ROWS * GRID_COLS, 2]``: cell centres of the sparse grid over an image of (width, height)."""
    xs = (np.arange(GRID_COLS, dtype=np.float32) + 0.5) * np.float32(size0[0] / GRID_COLS)
    ys = (np.arange(GRID_ROWS, dtype=np.float32) + 0.5) * np.float32(size0[1] / GRID_ROWS)
    grid_x, grid_y = np.meshgrid(xs, ys)
    return np.stack([grid_x.ravel(), grid_y.ravel()], axis=1)


class FakeMatcher:
    """The double (see module docstring); same attributes and methods as the runtime's matcher."""

    def __init__(self, model_path: str, backend: str, options: object, settings: object = None):
        if model_path not in VARIANTS:
            raise ModelError(f"test double: {model_path!r} is not a model (use fake:eloftr or fake:roma)")
        self.variant = VARIANTS[model_path]
        self.backend_name = "test_double"
        self.model_id = f"{model_path}@00000000"
        self.input_color = "rgb" if self.variant == "roma" else "gray"
        self.takes_uint8_images = False
        self.options = options
        self.settings = settings
        self.delay_s = float(os.environ.get("FAKE_MATCHER_DELAY_S", "0"))
        self.fail_every = int(os.environ.get("FAKE_MATCHER_FAIL_EVERY", "0"))
        self.gil_releases = max(1, int(os.environ.get("FAKE_MATCHER_GIL_RELEASES", "1")))
        self.calls = 0
        self.closed = False
        self._owner = threading.get_ident()
        self._log(f"open {model_path}")

    def _check_thread(self) -> None:
        if threading.get_ident() != self._owner:
            raise RuntimeError("test double: used from another thread than the one that opened it")

    def _log(self, line: str) -> None:
        path = os.environ.get("FAKE_MATCHER_LOG")
        if path:
            with open(path, "a") as log:
                log.write(line + "\n")

    def match(self, image0: np.ndarray, image1: np.ndarray) -> MatchResult:
        """The known correspondence between ``image0`` and ``image1`` (float [H, W(, 3)] in [0, 1])."""
        self._check_thread()
        if self.closed:
            raise RuntimeError("test double: match() after close()")
        self.calls += 1
        if self.fail_every and self.calls % self.fail_every == 0:
            raise RuntimeError(f"test double: injected backend fault at call {self.calls}")
        for _ in range(self.gil_releases):
            time.sleep(self.delay_s / self.gil_releases)
        size0, size1 = (image0.shape[1], image0.shape[0]), (image1.shape[1], image1.shape[0])
        points0 = grid_points(size0)
        values = np.array([image0.reshape(-1)[0], image1.reshape(-1)[0]], np.float32)
        confidence = np.resize(values, len(points0)).astype(np.float32)
        dense = None
        if self.variant == "roma":
            scale_x, scale_y = size0[0] / DENSE_COLS, size0[1] / DENSE_ROWS
            xs = (np.arange(DENSE_COLS, dtype=np.float32) + 0.5) * np.float32(scale_x)
            ys = (np.arange(DENSE_ROWS, dtype=np.float32) + 0.5) * np.float32(scale_y)
            centres = np.stack(np.meshgrid(xs, ys), axis=-1)
            warp = expected_points1(centres.reshape(-1, 2), size0, size1).reshape(DENSE_ROWS, DENSE_COLS, 2)
            certainty = np.full((DENSE_ROWS, DENSE_COLS), values[1], np.float32)
            dense = DenseField(warp, certainty, scale_x, scale_y)
        return MatchResult(
            variant=self.variant,
            image0=ImageSize(*size0),
            image1=ImageSize(*size1),
            points0=points0,
            points1=expected_points1(points0, size0, size1),
            confidence=confidence,
            dense=dense,
            timing_ms={"inference": self.delay_s * 1e3},
        )

    def match_batch(self, pairs: list[tuple[np.ndarray, np.ndarray]]) -> list[MatchResult]:
        """:meth:`match` on each pair."""
        return [self.match(image0, image1) for image0, image1 in pairs]

    def gpu_memory_bytes(self) -> int | None:
        """None: the double holds no GPU memory. Each call appends a line to ``FAKE_MATCHER_MEMORY_LOG`` when set."""
        self._check_thread()
        path = os.environ.get("FAKE_MATCHER_MEMORY_LOG")
        if path:
            with open(path, "a") as log:
                log.write("read\n")
        return None

    def close(self) -> None:
        """Mark closed and log ``close`` (every call, so tests can count calls)."""
        self._check_thread()
        self.closed = True
        self._log("close")


def open_fake_matcher(
    model_path: str, backend: str = "auto", options: object = None, settings: object = None
) -> FakeMatcher:
    """Factory with the signature of the runtime's ``open_matcher``."""
    return FakeMatcher(model_path, backend, options, settings)
