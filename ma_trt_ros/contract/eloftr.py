"""MatchAnything-ELoFTR engines: tensor names and meanings (standard library only).

The network sees both images as grayscale float32 ``[1, 1, H, W]`` in [0, 1] at the engine's fixed
size (multiples of 32); the runtime stretches each camera image to that size and maps the keypoints
back per axis. Every output row is a candidate match; ``valid`` says which rows are matches.
"""

from __future__ import annotations

from ma_trt_ros.contract.variant_contract import VariantContract

_IMAGE = (
    "float32 NCHW in [0, 1], grayscale (1 channel); the whole image stretched (aspect ignored) by the runtime "
    "to height x width, no normalisation"
)

ELOFTR = VariantContract(
    name="eloftr",
    input_names=("image0", "image1"),
    output_names=("keypoints0", "keypoints1", "confidence", "valid", "num_valid", "cells"),
    descriptions={
        "image0": _IMAGE,
        "image1": _IMAGE,
        "keypoints0": "(x, y) of each candidate match in image-0 network-input pixels (upstream ELoFTR "
        "convention); scale by original/network size",
        "keypoints1": "(x, y) of each candidate in image-1 network-input pixels, same convention",
        "confidence": "coarse dual-softmax confidence of each candidate, in [0, 1]",
        "valid": "true where the row is a match (confidence > threshold, away from the border); "
        "the runtime keeps only these, other rows hold meaningless values",
        "num_valid": "number of matches before the match budget (upstream's match count); more than the "
        "rows means the least confident matches were dropped",
        "cells": "(image-0 cell, image-1 cell) of each row, cell = row * (width/8) + column of the 8-pixel coarse "
        "grid: the coarse match (cell centre 8*(column, row) + 4 px), and the row's identity (unique per pair; "
        "compare backends by it, not by row position)",
    },
    output_kinds={
        "keypoints0": "pixels",
        "keypoints1": "pixels",
        "confidence": "score",
        "valid": "mask",
        "num_valid": "count",
        "cells": "identity",
    },
    input_color="gray",
    size_sources={"image0": 0, "image1": 0},
)
