"""The runtime's options: what shapes the output (:class:`MatchOptions`) and how a backend runs the
model (:class:`BackendSettings`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class MatchOptions:
    """Attributes:
    num_matches: RoMa: how many sparse matches to draw from the dense field (upstream draws 5000).
        ELoFTR returns every valid match of the engine and ignores it.
    certainty_threshold: RoMa: cells at or below this certainty are never drawn, in [0, 1).
    seed: RoMa: seed of the sampler; the same pair and seed give the same matches.
    """

    num_matches: int = 5000
    certainty_threshold: float = 0.05
    seed: int = 0

    def __post_init__(self) -> None:
        if self.num_matches < 0:
            raise ValueError(f"num_matches must be >= 0, got {self.num_matches}")
        if not 0.0 <= self.certainty_threshold < 1.0:
            raise ValueError(f"certainty_threshold must be in [0, 1), got {self.certainty_threshold}")


def parse_providers(text: str | None) -> tuple[str, ...] | None:
    """ONNX Runtime providers from comma-separated ``text`` (``"CUDAExecutionProvider, CPUExecutionProvider"``);
    None for empty text (the backend's default)."""
    providers = tuple(p.strip() for p in (text or "").split(",") if p.strip())
    return providers or None


TORCH_PRECISIONS = ("fp32", "fp16")
COMPILE_MODES = ("default", "max-autotune-no-cudagraphs")


@dataclass(frozen=True)
class BackendSettings:
    """How a backend runs the model (each backend reads its own fields and ignores the rest).

    Attributes:
        device: torch: ``"cuda"``, ``"cuda:1"`` or ``"cpu"`` (default: CUDA when available);
            tensorrt: the CUDA device index as ``"cuda:N"`` (default 0).
        cuda_graph: tensorrt/torch: replay the captured enqueue as a CUDA graph (one graph per input shape).
        dinov2: torch, RoMa: the ``dinov2_vitl14_pretrain.pth`` file that goes with the checkpoint.
        precision: torch: ``"fp16"`` or ``"fp32"`` (an engine's or ONNX file's precision is its own).
        compile: torch with ``cuda_graph``: a ``torch.compile`` mode for the fast path (``"default"``), or
            None. Compiling takes about 35 s for ELoFTR on an H200 machine the first time; with a kept
            ``compile_cache_dir`` later starts reuse the kernels (about 7 s); each input size of a
            dynamic-size model compiles once; docs/benchmarks.md.
        compile_cache_dir: torch with ``compile``: folder for the compiled kernels (Inductor's and
            Triton's caches, ``TORCHINDUCTOR_CACHE_DIR``/``TRITON_CACHE_DIR``); None: PyTorch's default
            (a temporary folder, lost at reboot).
        build_args: torch: network sizes, as ``ma-trt-convert export`` takes them (ELoFTR ``height``,
            ``width`` or ``size_range``; RoMa ``coarse_res``, ``upsample_res``).
        providers: onnxruntime: execution providers in order of preference (None: CUDA when the
            installed ONNX Runtime has it, else CPU).

    Raises:
        ValueError: a combination no backend can run (one line naming the setting to change).
    """

    device: str | None = None
    cuda_graph: bool = False
    dinov2: str | None = None
    precision: str = "fp32"
    compile: str | None = None
    compile_cache_dir: str | None = None
    build_args: dict[str, Any] = field(default_factory=dict)
    providers: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if self.precision not in TORCH_PRECISIONS:
            raise ValueError(f"precision = {self.precision!r}; use one of {', '.join(TORCH_PRECISIONS)}")
        if self.compile is not None and self.compile not in COMPILE_MODES:
            raise ValueError(f"compile = {self.compile!r}; use one of {', '.join(COMPILE_MODES)}, or leave it empty")
        if self.compile and not self.cuda_graph:
            raise ValueError("compile applies to the fast path: turn cuda_graph on as well")
