"""One image pair (or a batch of pairs) to output messages: convert, match, fit geometry, build messages.

Used by the live node and by ``ma-trt-bag`` alike, so both publish exactly the same messages for the
same pair. Three steps: :meth:`PairPipeline.convert` (image messages to the matcher's float images, any
thread: the node runs it on its prepare thread while the pair before is matched),
:meth:`PairPipeline.match_converted` (on the matcher's thread) gives :class:`MatchedPair` records, and
:meth:`PairPipeline.messages` turns one into messages (any thread: the node runs it on its output thread
while the next pair is matched); :meth:`PairPipeline.match` is the first two, and ``ma-trt-bag`` runs all
three in turn with :meth:`PairPipeline.process`. Image messages in, ``{output name: message}`` out; coordinates are
pixels of the images as received (see :mod:`ma_trt_ros.ros.result_messages`).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ma_trt_ros.ros.image_conversion import image_to_matcher_image
from ma_trt_ros.ros.result_messages import OutputSettings, result_messages
from ma_trt_ros.runtime.result import MatchResult


@dataclass(frozen=True)
class MatchedPair:
    """One pair after matching, before its messages: what the node's inference thread hands to its output
    thread. Its arrays are its own (the runtime's results are copies the caller owns, not the matcher's
    buffers), so the next match cannot change them.

    Attributes:
        result: the matcher's result (pixels of the images as received).
        images: the two images as given to the matcher (float in [0, 1], or uint8 for a matcher that
            takes bytes); the pictures are drawn from them.
        headers: the headers of the two image messages.
        stages_ms: wall time of each step so far, milliseconds: ``convert``, ``match`` (a batch's time
            divided among its pairs), and the runtime's own stages as ``runtime_<name>``.
    """

    result: MatchResult
    images: tuple[np.ndarray, np.ndarray]
    headers: tuple[Any, Any]
    stages_ms: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class ConvertedPairs:
    """Pairs of image messages with the matcher's images made from them (no matcher needed for this).

    Attributes:
        pairs: the ``(image0 message, image1 message)`` pairs, in order.
        images: per pair, the two images as the matcher takes them (float in [0, 1], ``[H, W]`` or
            ``[H, W, 3]`` as its ``input_color`` asks; 8-bit images as uint8 where the matcher
            ``takes_uint8_images``: :func:`~ma_trt_ros.ros.image_conversion.to_matcher_image`).
        convert_ms: wall time of the conversion per pair, milliseconds.
    """

    pairs: Sequence[tuple[Any, Any]]
    images: list[tuple[np.ndarray, np.ndarray]]
    convert_ms: float


@dataclass(frozen=True)
class PairOutput:
    """What one pair produced.

    Attributes:
        result: the matcher's result (pixels of the images as received).
        messages: output name -> message (a subset of :data:`~ma_trt_ros.ros.result_messages.OUTPUTS`).
        stages_ms: wall time of each step for this pair, milliseconds: those of :class:`MatchedPair` and
            ``messages``.
    """

    result: MatchResult
    messages: dict[str, Any]
    stages_ms: dict[str, float] = field(default_factory=dict)


class PairPipeline:
    """Turns pairs of ``sensor_msgs/Image`` into output messages with one matcher and one output setting.

    Three steps, which may run on three threads: :meth:`convert` (reads only the matcher's ``input_color``
    and ``takes_uint8_images``, when the pipeline is made: any thread), :meth:`match_converted` (uses the
    matcher: call it on the matcher's thread) and :meth:`messages` (reads only the matcher's ``model_id``:
    any thread); :meth:`match` runs the first two, :meth:`process` all three.

    Args:
        matcher: the runtime's :class:`~ma_trt_ros.runtime.matcher.Matcher` (or an object with its
            interface: ``input_color``, ``takes_uint8_images``, ``model_id``, ``match_batch``).
        settings: which outputs to build and how (geometry, dense thinning).
    """

    def __init__(self, matcher: Any, settings: OutputSettings) -> None:
        self.matcher = matcher
        self.settings = settings
        self._color, self._keep_uint8 = matcher.input_color, matcher.takes_uint8_images

    def process(self, pairs: Sequence[tuple[Any, Any]], pictures: frozenset[str] = frozenset()) -> list[PairOutput]:
        """The outputs of each ``(image0 message, image1 message)`` pair, in order: :meth:`match` of all
        pairs in one call, then :meth:`messages` of each.

        Raises:
            ImageConversionError: an image message cannot be read (encoding, size).
            InputError: the matcher refuses an image.
        """
        return [self.messages(matched, pictures) for matched in self.match(pairs)]

    def match(self, pairs: Sequence[tuple[Any, Any]]) -> list[MatchedPair]:
        """Convert each ``(image0 message, image1 message)`` pair and match them all in one ``match_batch``
        call; in order (:meth:`convert`, then :meth:`match_converted`).

        Raises:
            ImageConversionError: an image message cannot be read (encoding, size).
            InputError: the matcher refuses an image.
        """
        return self.match_converted(self.convert(pairs))

    def convert(self, pairs: Sequence[tuple[Any, Any]]) -> ConvertedPairs:
        """The matcher's images of each ``(image0 message, image1 message)`` pair (NumPy only, any thread).

        Raises:
            ImageConversionError: an image message cannot be read (encoding, size).
        """
        start = time.monotonic()
        images = [(self._convert(image0), self._convert(image1)) for image0, image1 in pairs]
        return ConvertedPairs(pairs, images, (time.monotonic() - start) * 1e3 / len(pairs))

    def _convert(self, msg: Any) -> np.ndarray:
        """The matcher's image of one image message."""
        return image_to_matcher_image(msg, self._color, self._keep_uint8)

    def match_converted(self, converted: ConvertedPairs) -> list[MatchedPair]:
        """Match the pairs of :meth:`convert` in one ``match_batch`` call; in order.

        Raises:
            InputError: the matcher refuses an image.
        """
        start = time.monotonic()
        results = self.matcher.match_batch(converted.images)
        match_ms = (time.monotonic() - start) * 1e3 / len(converted.pairs)
        return [
            MatchedPair(
                result,
                pair_images,
                (image0.header, image1.header),
                {
                    **{f"runtime_{name}": value for name, value in result.timing_ms.items()},
                    "convert": converted.convert_ms,
                    "match": match_ms,
                },
            )
            for (image0, image1), pair_images, result in zip(converted.pairs, converted.images, results, strict=True)
        ]

    def messages(self, matched: MatchedPair, pictures: frozenset[str] = frozenset()) -> PairOutput:
        """The output messages of one matched pair; ``pictures`` names the picture outputs to draw
        (``matches_image``, ``certainty_image``).

        Raises:
            ValueError: ``dense_stride`` does not divide the dense grid.
        """
        start = time.monotonic()
        result = matched.result
        latency_ms = result.timing_ms.get("inference", matched.stages_ms["match"])
        messages = result_messages(
            result, matched.images, matched.headers, self.settings, self.matcher.model_id, latency_ms, pictures
        )
        stages = {**matched.stages_ms, "messages": (time.monotonic() - start) * 1e3}
        return PairOutput(result, messages, stages)
