"""ELoFTR: grayscale stretched to the engine size; valid rows scaled back per axis.

Mapping a camera image onto the fixed engine size: the whole image is stretched (bilinear, as
upstream's ``cv2.resize``) to the engine's ``H x W``, so nothing is cropped or padded and every
pixel can match; when the image's aspect ratio differs from the engine's by more than
:data:`ASPECT_TOLERANCE`, the content is distorted for the network, which costs matches on strongly
different aspects: a warning says so once per image size (build the engine at the camera's aspect).

Coordinates: the engine reports upstream's convention, ``pixel index − 3.5`` in network pixels
(docs/eloftr_model.md); we add :data:`UPSTREAM_OFFSET_PX` (3.5 back to the index, 0.5 to the pixel
centre) to get continuous network pixels, then scale by ``W / W_net`` and ``H / H_net``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import numpy as np

from ma_trt_ros.contract.eloftr import ELOFTR
from ma_trt_ros.contract.tensors import TensorSpec
from ma_trt_ros.runtime.images import stretch, to_gray, to_nchw
from ma_trt_ros.runtime.options import MatchOptions
from ma_trt_ros.runtime.result import ImageSize
from ma_trt_ros.runtime.variants.base import DecodedMatches, input_size

LOG = logging.getLogger(__name__)
UPSTREAM_OFFSET_PX = 4.0
# what decode reads (``cells``, the coarse cell of each match, is for diagnostics)
DECODED_OUTPUTS = ("keypoints0", "keypoints1", "confidence", "valid", "num_valid")
ASPECT_TOLERANCE = 0.02


class ELoFTRIO:
    """Pre/post-processing of ELoFTR engines (see module docstring)."""

    contract = ELOFTR

    def __init__(self) -> None:
        self._warned_sizes: set[tuple[int, int]] = set()

    def prepare(
        self,
        image0: np.ndarray,
        image1: np.ndarray,
        inputs: Mapping[str, TensorSpec],
        outputs: Mapping[str, TensorSpec],
        options: MatchOptions,
    ) -> dict[str, np.ndarray]:
        width, height = input_size(inputs["image0"])
        arrays = {}
        for name, image in (("image0", image0), ("image1", image1)):
            self._warn_on_aspect(image.shape[1], image.shape[0], width, height)
            arrays[name] = to_nchw(stretch(to_gray(image), width, height, "bilinear"))
        return arrays

    def _warn_on_aspect(self, width: int, height: int, net_width: int, net_height: int) -> None:
        if (width, height) in self._warned_sizes:
            return
        self._warned_sizes.add((width, height))
        ratio = (width / height) / (net_width / net_height)
        if abs(ratio - 1.0) > ASPECT_TOLERANCE:
            LOG.warning(
                "image %dx%d has aspect %.3f, the engine %dx%d has %.3f: the image is stretched to fit, which "
                "distorts it for the network; export the engine at the camera's aspect for the best matches",
                width,
                height,
                width / height,
                net_width,
                net_height,
                net_width / net_height,
            )

    def outputs_read(self, outputs: Mapping[str, TensorSpec]) -> tuple[str, ...]:
        return DECODED_OUTPUTS

    def decode(
        self,
        outputs: Mapping[str, np.ndarray],
        inputs: Mapping[str, TensorSpec],
        sizes: tuple[ImageSize, ImageSize],
        options: MatchOptions,
    ) -> DecodedMatches:
        valid = outputs["valid"].astype(bool)
        net_width, net_height = input_size(inputs["image0"])
        points = []
        for name, size in zip(("keypoints0", "keypoints1"), sizes, strict=True):
            scale = np.array([size.width / net_width, size.height / net_height], dtype=np.float32)
            points.append((outputs[name][valid] + np.float32(UPSTREAM_OFFSET_PX)) * scale)
        return DecodedMatches(
            points0=points[0],
            points1=points[1],
            confidence=outputs["confidence"][valid].astype(np.float32),
            truncated=int(outputs["num_valid"]) > valid.shape[0],
        )
