"""The matcher: a backend plus its variant's pre/post-processing; images in, pixel matches out."""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np

from ma_trt_ros.contract.tensors import TensorSpec
from ma_trt_ros.runtime.backends.base import Backend, batch_size, concrete_inputs
from ma_trt_ros.runtime.images import as_floats, checked_image
from ma_trt_ros.runtime.options import MatchOptions
from ma_trt_ros.runtime.result import ImageSize, MatchResult
from ma_trt_ros.runtime.variants import variant_io

ImagePair = tuple[np.ndarray, np.ndarray]


class Matcher:
    """Matches image pairs with one loaded model.

    Images: ``[H, W]`` grayscale or ``[H, W, 3]`` RGB, float32 in [0, 1] or uint8, any size (the two
    images may differ); :attr:`input_color` says which the network uses, so callers can convert
    once. uint8 images reach a backend that :attr:`takes_uint8_images` as bytes wherever no host
    arithmetic touches them (no colour-to-grey conversion, no resize: :mod:`~ma_trt_ros.runtime.images`),
    and are divided by 255 on its device; other backends get them as float32 from the host.
    Results are in pixels of the images as given (:mod:`ma_trt_ros.runtime.result`).
    A dynamic-size model (``size_range`` not None) runs each engine call at the sizes
    :meth:`~ma_trt_ros.contract.sizes.SizeRange.fit` picks for the call's first pair (an image's own
    size when the range allows): each dynamic input follows the image its variant says
    (``contract.size_sources``: ELoFTR both image 0, RoMa's camera inputs each their own); every pair
    of the call is stretched to those sizes.
    Not thread-safe: call it from one thread (GPU backends own their CUDA context there).
    """

    def __init__(self, backend: Backend, options: MatchOptions | None = None) -> None:
        self._backend = backend
        self.options = options or MatchOptions()
        self._io = variant_io(backend.variant)
        self._inputs = {spec.name: spec for spec in backend.inputs}
        self._outputs = {spec.name: spec for spec in backend.outputs}
        self._outputs_read = self._io.outputs_read(self._outputs)
        self.batch = batch_size(backend.inputs)

    @property
    def variant(self) -> str:
        return self._backend.variant

    @property
    def backend_name(self) -> str:
        return self._backend.name

    @property
    def model_id(self) -> str:
        return self._backend.model_id

    @property
    def takes_uint8_images(self) -> bool:
        """Whether uint8 images cross to the device as bytes (:class:`~ma_trt_ros.runtime.backends.base.Backend`);
        otherwise the matcher converts them to float32 on the host."""
        return self._backend.takes_uint8_images

    @property
    def input_color(self) -> str:
        """``"rgb"`` or ``"gray"``: the colour the network takes (other images are converted)."""
        return self._io.contract.input_color

    def match(self, image0: np.ndarray, image1: np.ndarray) -> MatchResult:
        """The matches of one pair (raises :class:`~ma_trt_ros.runtime.errors.InputError` for a bad image)."""
        return self.match_batch([(image0, image1)])[0]

    def match_batch(self, pairs: Sequence[ImagePair]) -> list[MatchResult]:
        """The matches of every pair, in order, run ``batch`` pairs per engine call."""
        results: list[MatchResult] = []
        for start in range(0, len(pairs), self.batch):
            results.extend(self._run_chunk(pairs[start : start + self.batch]))
        return results

    def _run_chunk(self, pairs: Sequence[ImagePair]) -> list[MatchResult]:
        start = time.perf_counter()
        bytes_ok = self._backend.takes_uint8_images
        images = [
            (checked_image(image0, "image0", bytes_ok), checked_image(image1, "image1", bytes_ok))
            for image0, image1 in pairs
        ]
        specs = self.input_specs(images[0][0].shape[:2], images[0][1].shape[:2])
        prepared = [self._io.prepare(image0, image1, specs, self._outputs, self.options) for image0, image1 in images]
        prepared += [prepared[-1]] * (self.batch - len(prepared))
        # batch 1 passes the arrays themselves: a backend may keep a read-only one it has uploaded before
        stacked = {
            name: prepared[0][name] if self.batch == 1 else _concatenate([item[name] for item in prepared])
            for name in specs
        }
        preprocess_ms = (time.perf_counter() - start) * 1e3
        start = time.perf_counter()
        outputs, stages = self._backend.run(stacked, self._outputs_read)
        inference_ms = (time.perf_counter() - start) * 1e3
        results = []
        for item, (image0, image1) in enumerate(images):
            start = time.perf_counter()
            sizes = (ImageSize(image0.shape[1], image0.shape[0]), ImageSize(image1.shape[1], image1.shape[0]))
            decoded = self._io.decode(
                {name: value[item] for name, value in outputs.items()}, specs, sizes, self.options
            )
            timing = {"preprocess": preprocess_ms, "inference": inference_ms, **stages}
            timing["postprocess"] = (time.perf_counter() - start) * 1e3
            results.append(
                MatchResult(
                    variant=self.variant,
                    image0=sizes[0],
                    image1=sizes[1],
                    points0=decoded.points0,
                    points1=decoded.points1,
                    confidence=decoded.confidence,
                    dense=decoded.dense,
                    truncated=decoded.truncated,
                    timing_ms=timing,
                )
            )
        return results

    def input_specs(self, size0: tuple[int, int], size1: tuple[int, int]) -> dict[str, TensorSpec]:
        """The network inputs by name for a call whose first pair has images of ``(height, width)``
        ``size0`` and ``size1`` pixels (the model's own inputs for a fixed-size model)."""
        sizes = self._backend.size_range
        if sizes is None:
            return self._inputs
        images = (size0, size1)
        chosen = {name: sizes.fit(*images[index]) for name, index in self._io.contract.size_sources.items()}
        return {spec.name: spec for spec in concrete_inputs(self._backend.inputs, chosen)}

    def gpu_memory_bytes(self) -> int | None:
        """Device memory the backend holds (None on CPU backends)."""
        return self._backend.gpu_memory_bytes()

    def close(self) -> None:
        """Free the model and every buffer (idempotent)."""
        self._backend.close()

    def __enter__(self) -> Matcher:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _concatenate(arrays: list[np.ndarray]) -> np.ndarray:
    """The batch of one input; uint8 images become float32 in [0, 1] when others of the batch are float."""
    if len({array.dtype for array in arrays}) > 1:
        arrays = [as_floats(array) for array in arrays]
    return np.concatenate(arrays)
