"""The command-line options of :class:`~ma_trt_ros.runtime.options.BackendSettings`, shared by every CLI
that opens a matcher (``ma-trt-match``, ``ma-trt-bag``)."""

from __future__ import annotations

import argparse

from ma_trt_ros.runtime.options import COMPILE_MODES, TORCH_PRECISIONS, BackendSettings, parse_providers

# options whose destination is a build argument of the torch backend (the same name)
TORCH_BUILD_ARGS = ("height", "width", "size_range", "coarse_res", "upsample_res", "camera_sizes")


def add_backend_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the backend-settings options to ``parser`` (one group, all optional)."""
    group = parser.add_argument_group("backend settings (torch: release checkpoints; tensorrt; onnxruntime)")
    group.add_argument("--dinov2", help="torch, RoMa: dinov2_vitl14_pretrain.pth beside the RoMa checkpoint")
    group.add_argument("--device", help="torch: cuda, cuda:N or cpu (default: cuda when available); tensorrt: cuda:N")
    group.add_argument("--precision", choices=TORCH_PRECISIONS, default="fp32", help="torch: default fp32")
    group.add_argument("--height", type=int, help="torch, ELoFTR: network height, multiple of 32 (default 480)")
    group.add_argument("--width", type=int, help="torch, ELoFTR: network width, multiple of 32 (default 640)")
    group.add_argument(
        "--size-range", help="torch, ELoFTR: MIN_HxMIN_W:MAX_HxMAX_W, one model for every camera size in it"
    )
    group.add_argument("--coarse-res", type=int, help="torch, RoMa: pass-1 side in pixels (default 560)")
    group.add_argument("--upsample-res", type=int, help="torch, RoMa: pass-2 side in pixels (default 864)")
    group.add_argument(
        "--camera-sizes",
        help="torch, RoMa: MIN_HxMIN_W:MAX_HxMAX_W, camera sizes the model takes as they are and resizes on the GPU",
    )
    group.add_argument(
        "--cuda-graph", action="store_true", help="torch/tensorrt: replay the model as a CUDA graph (GPU)"
    )
    group.add_argument(
        "--compile",
        choices=COMPILE_MODES,
        help="torch with --cuda-graph: torch.compile the fast path first (ELoFTR about 35 s the first time; with "
        "--compile-cache-dir later starts reuse the kernels, about 7 s)",
    )
    group.add_argument("--compile-cache-dir", help="torch with --compile: folder that keeps the compiled kernels")
    group.add_argument(
        "--providers",
        help="onnxruntime: comma-separated execution providers in order of preference "
        "(default: CUDAExecutionProvider when installed, else CPUExecutionProvider)",
    )


def backend_settings(args: argparse.Namespace) -> BackendSettings:
    """The settings of parsed ``args`` (ValueError for a combination no backend runs)."""
    build_args = {name: getattr(args, name) for name in TORCH_BUILD_ARGS if getattr(args, name) is not None}
    return BackendSettings(
        device=args.device,
        cuda_graph=args.cuda_graph,
        compile=args.compile,
        compile_cache_dir=args.compile_cache_dir,
        dinov2=args.dinov2,
        precision=args.precision,
        build_args=build_args,
        providers=parse_providers(args.providers),
    )
