"""MatchAnything-RoMa engines: tensor names and meanings (standard library only).

The network sees each image as RGB float32 ``[1, 3, R, R]`` in [0, 1], stretched (aspect ignored,
bicubic) to the coarse square and, for the second pass, to the upsample square: by the runtime
(fixed-size graphs, inputs ``image*_coarse``/``image*_upsample``) or inside the graph (camera-input
graphs, inputs ``image0``/``image1`` at the camera's size). Its outputs are
dense warps on the output square grid, normalised to [-1, 1]; the runtime turns them into pixels of
the images as received.
"""

from __future__ import annotations

from ma_trt_ros.contract.variant_contract import VariantContract

_IMAGE = (
    "float32 NCHW in [0, 1], RGB; the whole image stretched (aspect ignored) by the runtime to {res} x {res} with "
    "bicubic resize, no ImageNet normalisation"
)
_CAMERA = (
    "camera image {index}: float32 NCHW in [0, 1] (or uint8 NCHW 0..255 in a graph exported with camera_dtype "
    "uint8), RGB, its own height and width within the graph's size_range; the graph stretches it (bicubic) to the "
    "coarse and upsample squares"
)
_WARP = (
    "{src}->{dst}: for the centre of pixel (j, i) of the {src} grid (R = upsample or coarse res), the matching "
    "point in {dst}, normalised [-1, 1], x first, align_corners=False: x_pix = W/2*(x+1) for an image W wide"
)
_CERTAINTY = "{src}->{dst}: match probability in [0, 1] per grid pixel, 0 where the flow left the image"

# A graph that also draws the sparse matches (the torch backend's; ma_trt_convert.roma.sampling) takes these
# inputs after the images and gives these outputs after the dense ones; the runtime's sampler
# (ma_trt_ros.runtime.sampling) defines the draw.
SAMPLER_INPUTS = ("sampler_noise", "sampler_threshold", "image_sizes")
SAMPLED_OUTPUTS = ("points0", "points1", "match_certainty", "match_count", "warp_pixels")

ROMA = VariantContract(
    name="roma",
    input_names=("image0_coarse", "image1_coarse", "image0_upsample", "image1_upsample"),
    output_names=("warp", "certainty", "warp_1to0", "certainty_1to0"),
    descriptions={
        "image0_coarse": _IMAGE.format(res="coarse_res"),
        "image1_coarse": _IMAGE.format(res="coarse_res"),
        "image0_upsample": _IMAGE.format(res="upsample_res") + " (same picture as image0_coarse)",
        "image1_upsample": _IMAGE.format(res="upsample_res") + " (same picture as image1_coarse)",
        "image0": _CAMERA.format(index=0),
        "image1": _CAMERA.format(index=1),
        "warp": _WARP.format(src="image 0", dst="image 1"),
        "certainty": _CERTAINTY.format(src="image 0", dst="image 1"),
        "warp_1to0": _WARP.format(src="image 1", dst="image 0"),
        "certainty_1to0": _CERTAINTY.format(src="image 1", dst="image 0"),
        "sampler_noise": "float32 [N, L]: the sampler's Exp(1) stream (runtime.sampling.sampler_noise of the seed), "
        "L = 2·R² + 4·num, which sets num, the matches drawn",
        "sampler_threshold": "float32 [N]: cells need a certainty above this to be drawn",
        "image_sizes": "float32 [N, 4]: width0, height0, width1, height1 of the images as received, pixels",
        "points0": "float32 [N, num, 2]: image-0 pixels (x, y) of the drawn matches, most preferred first; "
        "the first match_count are valid",
        "points1": "float32 [N, num, 2]: image-1 pixels of the same matches",
        "match_certainty": "float32 [N, num]: certainty of each drawn match",
        "match_count": "int64 [N]: valid matches of points0/points1 (min(num, candidates above the threshold))",
        "warp_pixels": "float32 [N, R, R, 2]: warp in image-1 pixels, x_pix = W1/2*(x+1) (the dense field's warp)",
    },
    output_kinds={
        "warp": "normalized",
        "warp_1to0": "normalized",
        "certainty": "score",
        "certainty_1to0": "score",
        "points0": "pixels",
        "points1": "pixels",
        "match_certainty": "score",
        "match_count": "count",
        "warp_pixels": "pixels",
    },
    input_color="rgb",
    size_sources={"image0": 0, "image1": 1},
)
