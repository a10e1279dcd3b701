"""Output messages of one :class:`~ma_trt_ros.runtime.result.MatchResult` (through :mod:`.pair_pipeline`).

Coordinates pass through unchanged: the runtime already gives pixels of the images as received,
which is the messages' pixel convention. Arrays go into ``float32[]`` fields through
``array.array`` (fast, no per-element conversion).
"""

from __future__ import annotations

import array
from dataclasses import dataclass
from typing import Any

import numpy as np

from ma_trt_ros.ros.image_conversion import numpy_to_image
from ma_trt_ros.ros.two_view_geometry import TwoViewGeometry, fit_geometry
from ma_trt_ros.runtime.pictures import certainty_heatmap, side_by_side
from ma_trt_ros.runtime.result import DenseField, MatchResult

GEOMETRY_TYPES = {"none": 0, "homography": 1, "fundamental": 2}


@dataclass(frozen=True)
class OutputSettings:
    """What the output messages of a pair hold (the node's parameters of the same names).

    Attributes:
        geometry: ``none``, ``homography`` or ``fundamental``: two-view geometry fitted to the matches.
        ransac_reproj_px: inlier threshold of the geometry fit, pixels.
        publish_dense: build ``dense`` when the result has a dense field (RoMa).
        dense_stride: thinning of the dense grid (must divide the grid size).
    """

    geometry: str = "none"
    ransac_reproj_px: float = 3.0
    publish_dense: bool = True
    dense_stride: int = 1


def float_array(values: np.ndarray) -> array.array:
    """``array.array('f')`` of ``values`` flattened in C order."""
    return array.array("f", np.ascontiguousarray(values, dtype=np.float32).tobytes())


def matches_message(
    result: MatchResult,
    header0: Any,
    header1: Any,
    geometry: TwoViewGeometry,
    engine_id: str,
    latency_ms: float,
) -> Any:
    """``ma_trt_ros_interfaces/Matches`` of ``result`` with the input headers and the fitted ``geometry``."""
    from ma_trt_ros_interfaces.msg import Matches

    msg = Matches()
    msg.header0, msg.header1 = header0, header1
    msg.count = result.count
    msg.points0 = float_array(result.points0)
    msg.points1 = float_array(result.points1)
    msg.confidence = float_array(result.confidence)
    msg.geometry_type = GEOMETRY_TYPES[geometry.kind]
    msg.geometry = geometry.matrix.astype(np.float64).ravel().tolist()
    msg.inliers = geometry.inliers.astype(np.uint8).tobytes()
    msg.model_variant = result.variant
    msg.engine_id = engine_id
    msg.inference_latency_ms = float(latency_ms)
    return msg


def dense_message(
    result: MatchResult, dense: DenseField, header0: Any, header1: Any, engine_id: str, latency_ms: float
) -> Any:
    """``ma_trt_ros_interfaces/DenseCorrespondence`` of ``dense`` (already thinned) with the input headers."""
    from ma_trt_ros_interfaces.msg import DenseCorrespondence

    msg = DenseCorrespondence()
    msg.header0, msg.header1 = header0, header1
    msg.image0_width, msg.image0_height = result.image0.width, result.image0.height
    msg.image1_width, msg.image1_height = result.image1.width, result.image1.height
    msg.warp = numpy_to_image(np.asarray(dense.warp, np.float32), "32FC2", header=header0)
    msg.certainty = numpy_to_image(np.asarray(dense.certainty, np.float32), "32FC1", header=header0)
    msg.grid_scale_x, msg.grid_scale_y = float(dense.grid_scale_x), float(dense.grid_scale_y)
    msg.model_variant = result.variant
    msg.engine_id = engine_id
    msg.inference_latency_ms = float(latency_ms)
    return msg


OUTPUTS = ("matches", "dense", "matches_image", "certainty_image")


def result_messages(
    result: MatchResult,
    images: tuple[np.ndarray, np.ndarray],
    headers: tuple[Any, Any],
    settings: OutputSettings,
    engine_id: str,
    latency_ms: float,
    pictures: frozenset[str] = frozenset(),
) -> dict[str, Any]:
    """The messages of one result, keyed by output name (a subset of :data:`OUTPUTS`).

    ``matches`` always (with the geometry of ``settings.geometry``); ``dense`` when the result has a
    dense field and ``settings.publish_dense`` (thinned by ``settings.dense_stride``); the pictures named
    in ``pictures`` (``matches_image``: both images side by side with match lines;
    ``certainty_image``: the dense certainty as a heatmap at image 0's size, only with a dense
    field), drawn by :mod:`ma_trt_ros.runtime.pictures` from the matcher's float ``images`` and
    stamped with ``headers[0]``.
    """
    header0, header1 = headers
    geometry = fit_geometry(result.points0, result.points1, settings.geometry, settings.ransac_reproj_px)
    messages = {"matches": matches_message(result, header0, header1, geometry, engine_id, latency_ms)}
    if result.dense is not None and settings.publish_dense:
        dense = result.dense.thinned(settings.dense_stride)
        messages["dense"] = dense_message(result, dense, header0, header1, engine_id, latency_ms)
    if "matches_image" in pictures:
        messages["matches_image"] = numpy_to_image(side_by_side(images[0], images[1], result), "rgb8", header=header0)
    if "certainty_image" in pictures and result.dense is not None:
        heatmap = certainty_heatmap(result.dense, result.image0.width, result.image0.height)
        messages["certainty_image"] = numpy_to_image(heatmap, "rgb8", header=header0)
    return messages
