"""MatchAnything-RoMa: released files and build options (see :mod:`ma_trt_convert.roma` for the port)."""

from __future__ import annotations

from ma_trt_convert.variants.spec import BuildOption, ReleaseFile, VariantSpec, positive_multiple, size_range_option

# The coarse side feeds DINOv2 (patch 14) and the VGG pyramid down to scale 8: a multiple of both.
COARSE_MULTIPLE = 56
UPSAMPLE_MULTIPLE = 8
# GP solvers of the port (ma_trt_convert.roma.gp); the first is the default. Only the first three
# export (the dense solve has no ONNX operator); docs/gp_solve.md compares them.
GP_SOLVERS = ("newton_schulz", "neumann", "conjugate_gradient", "dense")


def parse_upsample_res(text: str) -> int | None:
    """``--upsample-res`` value: pixels, or None (single pass) for ``0``."""
    return int(text) or None


ROMA_SPEC = VariantSpec(
    name="roma",
    port="ma_trt_convert.roma",
    release_files=(
        ReleaseFile("matchanything_roma", "matchanything_roma.ckpt", True, "--checkpoint", "--output"),
        ReleaseFile("dinov2_vitl14_pretrain", "dinov2_vitl14_pretrain.pth", False, "--dinov2", "--dinov2-output", 1),
    ),
    build_options=(
        BuildOption(
            "coarse_res", int, 560, "pass-1 side in pixels, a multiple of 56 (14 and 8)", positive_multiple(56)
        ),
        BuildOption(
            "upsample_res",
            parse_upsample_res,
            864,
            "pass-2 side in pixels, a multiple of 8; 0: no second pass",
            positive_multiple(UPSAMPLE_MULTIPLE),
            none_is_a_choice=True,
        ),
        BuildOption(
            "gp_solver",
            str,
            GP_SOLVERS[0],
            "GP solve in the graph (docs/gp_solve.md); dense does not export",
            choices=GP_SOLVERS,
        ),
        BuildOption(
            "camera_sizes",
            size_range_option(1),
            None,
            "take the camera images themselves, any size MIN_HxMIN_W:MAX_HxMAX_W (heights first, e.g. "
            "240x320:1080x1920), and resize them inside the graph (about 9 ms less per pair on an H200 machine, "
            "docs/roma_resize.md). Not given: four fixed-size inputs the runtime resizes on the CPU",
        ),
        BuildOption(
            "camera_dtype",
            str,
            None,
            "with --camera-sizes: the camera inputs' element type, float32 (images in [0, 1], when not given) or "
            "uint8: the camera's bytes (rgb8, mono8: a quarter of the float32 upload, divided by 255 inside the "
            "graph; other images are rounded to 8 bits)",
            choices=("float32", "uint8"),
        ),
    ),
    device_decoding="ma_trt_convert.roma.sampling:with_device_sampling",
)
