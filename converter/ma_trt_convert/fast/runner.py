"""Static-shape runner: the prepared module, optionally captured as one CUDA graph per input shape.

A CUDA graph replays every kernel of a forward pass with a single launch, which removes the launch
overhead that dominates small models (ELoFTR) and the host work between kernels. Capture needs a
forward pass with no host synchronisation and no host tensors copied in; the ports are written so.

Optionally the prepared module is compiled with ``torch.compile`` (Inductor) first, which fuses the
many small elementwise kernels; the compiled forward is then captured in the same CUDA graph (modes
without Inductor's own CUDA graphs only, :data:`COMPILE_MODES`). Compilation happens during the
runner's warm-up, after one eager pass per input shape (it fills per-size caches, so that each shape
is traced once); Inductor caches its kernels on disk (``TORCHINDUCTOR_CACHE_DIR``, default a
folder under the system's temporary directory), so a second process with the same cache starts faster.
Inductor settings (``torch._inductor.config`` names, e.g. ``coordinate_descent_tuning``) may be given
with the mode: they are in force whenever the compiled forward runs, so also for a later compilation
(a new input shape).

Regional compilation (a variant's :data:`.variants.COMPILE_REGIONS`): instead of the whole forward, each
outermost submodule of the region types is compiled in place and the rest runs eagerly around them.
Identical blocks (RoMa's 24 DINOv2 blocks) share one compiled graph, so start-up is a fraction of a
whole-model compile; the fusions that pay (bias, residual and activation epilogues) are inside the regions.

Each graph is warmed up and captured under a memory cap (:data:`WARMUP_HEADROOM_BYTES` above what is
reserved): cuDNN's autotuning otherwise takes workspaces of tens of GB in fp32 (docs/benchmarks.md).
"""

from __future__ import annotations

import contextlib
import copy
import functools
import time
from collections.abc import Callable, Iterator, Mapping

import torch
from torch import nn

from ma_trt_convert.fast.inductor_fixes import tolerate_bare_cant_split
from ma_trt_ros.contract.sidecar import PRECISIONS

WARMUP_CALLS = 2
# GPU memory a graph's warm-up and capture may reserve beyond what is reserved before them. cuDNN's
# autotuning (benchmark mode) tries algorithms whose workspaces reach tens of GB in fp32 (measured on an
# H200: RoMa 560/864 35 GB, ELoFTR 640×480 33 GB at peak, against 2.3 and 0.7 GB in fp16); under the cap
# the allocator refuses those workspaces and PyTorch skips the algorithms that need them.
WARMUP_HEADROOM_BYTES = 6 * 2**30
# torch.compile modes that leave CUDA graphs to the runner ("reduce-overhead"/"max-autotune" would
# capture Inductor's own graphs inside ours)
COMPILE_MODES = ("default", "max-autotune-no-cudagraphs")
# Dynamo's limit of compiled versions per code object while regions are compiled: one region class is
# compiled once per instance shape and input shape (RoMa's refiner: 5 widths, 2 passes), beyond
# Dynamo's default of 8, after which it would run the region eagerly without saying so loudly
REGION_RECOMPILE_LIMIT = 64

Shapes = tuple[tuple[int, ...], ...]


class _Graph:
    """One captured forward pass: static input buffers, the graph, and its output tensors."""

    def __init__(
        self,
        module: Callable[..., tuple[torch.Tensor, ...]],
        inputs: tuple[torch.Tensor, ...],
        pool: tuple[int, int] | None,
    ) -> None:
        self.inputs = tuple(x.clone() for x in inputs)
        device = inputs[0].device
        cudnn = torch.backends.cudnn
        # cuDNN autotunes each convolution during warm-up; capture must run with the same flags so
        # that it reuses the tuned algorithms (the TF32 setting is the caller's)
        with cudnn.flags(enabled=True, benchmark=True, deterministic=cudnn.deterministic, allow_tf32=cudnn.allow_tf32):
            side = torch.cuda.Stream(device=device)
            side.wait_stream(torch.cuda.current_stream(device))
            with torch.cuda.stream(side):
                for _ in range(WARMUP_CALLS):
                    module(*self.inputs)
            torch.cuda.current_stream(device).wait_stream(side)
            self.graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(self.graph, pool=pool):
                self.outputs = tuple(module(*self.inputs))

    def __call__(self, inputs: tuple[torch.Tensor, ...], fresh_outputs: bool = True) -> tuple[torch.Tensor, ...]:
        for buffer, x in zip(self.inputs, inputs, strict=True):
            buffer.copy_(x, non_blocking=True)
        self.graph.replay()
        return tuple(out.clone() for out in self.outputs) if fresh_outputs else self.outputs


@contextlib.contextmanager
def memory_cap(device: torch.device, headroom: int) -> Iterator[None]:
    """Limit this process's PyTorch allocations on ``device`` to what is reserved now plus ``headroom``
    bytes while the context is open; afterwards the whole device again (fraction 1, PyTorch's default)."""
    index = device.index if device.index is not None else torch.cuda.current_device()
    total = torch.cuda.get_device_properties(index).total_memory
    torch.cuda.set_per_process_memory_fraction(min(1.0, (torch.cuda.memory_reserved(index) + headroom) / total), index)
    try:
        yield
    finally:
        torch.cuda.set_per_process_memory_fraction(1.0, index)


def caused_by_out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` is, or was raised from, a :class:`torch.OutOfMemoryError`: Dynamo wraps an allocation
    refused while Inductor compiles (its matrix-product padding benchmarks, say) in ``BackendCompilerFailed``."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, torch.OutOfMemoryError):
            return True
        seen.add(id(current))
        current = getattr(current, "inner_exception", None) or current.__cause__ or current.__context__
    return False


def compile_regions(module: nn.Module, region_types: tuple[type[nn.Module], ...], mode: str) -> int:
    """Compile in place (``nn.Module.compile``, ``dynamic=False``) each submodule of ``module`` whose type is
    one of ``region_types`` and that lies in no other such submodule; returns how many were compiled.

    Raises Dynamo's recompile limit to at least :data:`REGION_RECOMPILE_LIMIT` (a process-wide setting).
    """
    import torch._dynamo.config as dynamo_config

    dynamo_config.recompile_limit = max(dynamo_config.recompile_limit, REGION_RECOMPILE_LIMIT)
    compiled: list[str] = []
    for name, sub in module.named_modules():
        if isinstance(sub, region_types) and not any(name.startswith(f"{outer}.") for outer in compiled):
            sub.compile(mode=mode, dynamic=False)
            compiled.append(name)
    return len(compiled)


def _with_inductor_config(forward: Callable[..., tuple], settings: dict[str, object]) -> Callable[..., tuple]:
    """``forward`` called with ``torch._inductor.config`` patched by ``settings``."""
    import torch._inductor.config as inductor_config

    @functools.wraps(forward)
    def patched(*inputs: torch.Tensor) -> tuple:
        with inductor_config.patch(settings):
            return forward(*inputs)

    return patched


class FastRunner:
    """Callable with the export module's inputs and outputs, run on ``device``.

    Attributes:
        input_names, output_names: the export module's names, in call and return order.
        module: the prepared (rewritten) module, in eval mode.
        compile_mode: the ``torch.compile`` mode its forward runs under, or None (eager kernels).
        compiled_regions: how many submodules were compiled on their own (regional compilation), or 0
            (the whole forward is compiled, or nothing is).
        inductor: Inductor settings in force while the compiled forward runs (empty: Inductor's own).
        device: where inputs are copied to and outputs live.
        cuda_graph: whether calls replay captured CUDA graphs (one per distinct input shape, captured
            on first use of that shape; the batch-1 graph is captured by :func:`build_fast_runner`).
        startup_s: seconds :func:`build_fast_runner` took (copy, rewrites, warm-up, capture).

    Outputs are fresh tensors on every call (copied out of the graph's buffers), so a caller may keep
    them across calls, unless it asks for the graph's own buffers (``fresh_outputs=False``). Not
    thread-safe: one call at a time.
    """

    def __init__(
        self,
        module: nn.Module,
        input_names: tuple[str, ...],
        output_names: tuple[str, ...],
        device: torch.device,
        cuda_graph: bool,
        compile_mode: str | None = None,
        inductor: Mapping[str, object] | None = None,
        regions: tuple[type[nn.Module], ...] = (),
    ) -> None:
        self.module = module
        self.compile_mode = compile_mode
        self.inductor = dict(inductor or {})
        self.compiled_regions = 0
        self._forward: Callable[..., tuple] = module
        if compile_mode is not None:
            tolerate_bare_cant_split()
            if regions:
                self.compiled_regions = compile_regions(module, regions, compile_mode)
            else:
                self._forward = torch.compile(module, mode=compile_mode, dynamic=False)
        self._whole_compiled = compile_mode is not None and not regions
        if self.inductor:
            self._forward = _with_inductor_config(self._forward, self.inductor)
        self.input_names = tuple(input_names)
        self.output_names = tuple(output_names)
        if device.type == "cuda" and device.index is None:
            device = torch.device("cuda", torch.cuda.current_device())  # "cuda" is the current one: say which
        self.device = device
        self.cuda_graph = cuda_graph and device.type == "cuda"
        self.startup_s = 0.0
        self._graphs: dict[Shapes, _Graph] = {}
        self._eager_shapes: set[Shapes] = set()
        self._pool = torch.cuda.graph_pool_handle() if self.cuda_graph else None

    @torch.inference_mode()
    def __call__(self, *inputs: torch.Tensor, fresh_outputs: bool = True) -> tuple[torch.Tensor, ...]:
        """Run on ``inputs`` (shapes and dtypes as the export module's ``forward``; any device).

        ``fresh_outputs=False`` (CUDA graphs only) returns the graph's own output buffers instead of copies:
        no copy per output, but the next call overwrites them, so the caller must be done with them (their
        device-to-host copies issued on the current stream) before it calls again.
        """
        if len(inputs) != len(self.input_names):
            raise ValueError(f"expected {len(self.input_names)} inputs {self.input_names}, got {len(inputs)}")
        inputs = tuple(x if x.device == self.device else x.to(self.device, non_blocking=True) for x in inputs)
        shapes = tuple(tuple(x.shape) for x in inputs)
        if self._whole_compiled and shapes not in self._eager_shapes:
            # one eager pass first fills the module's per-size caches (ELoFTR's RoPE tables): traced
            # with them empty, the compiled forward would be compiled twice (once more when they fill)
            self.module(*inputs)
            self._eager_shapes.add(shapes)
        if not self.cuda_graph:
            return tuple(self._forward(*inputs))
        graph = self._graphs.get(shapes)
        if graph is None:
            graph = self._graphs[shapes] = self._capture(inputs)
        return graph(inputs, fresh_outputs)

    def _capture(self, inputs: tuple[torch.Tensor, ...]) -> _Graph:
        """Warm up and capture the graph of ``inputs``' shapes within :data:`WARMUP_HEADROOM_BYTES`; a model
        that needs more than that even without large cuDNN workspaces (or whose compilation does: RoMa at
        batch 8 on an H100, 2026-12-07) is captured without the cap."""
        try:
            with memory_cap(self.device, WARMUP_HEADROOM_BYTES):
                return _Graph(self._forward, inputs, self._pool)
        except Exception as exc:
            if not caused_by_out_of_memory(exc):
                raise
            torch.cuda.empty_cache()
            return _Graph(self._forward, inputs, self._pool)


def build_fast_runner(
    export_module: nn.Module,
    *,
    device: str = "cuda",
    precision: str = "fp16",
    cuda_graph: bool = True,
    compile: str | None = None,
    inductor: Mapping[str, object] | None = None,
    regional: bool | None = None,
    **options: object,
) -> FastRunner:
    """Rewrite a copy of ``export_module`` for speed and wrap it in a :class:`FastRunner`.

    Args:
        export_module: a RoMa or ELoFTR export module (``ma_trt_convert.variants.models.build_module``);
            it is not modified.
        device: torch device to run on (``"cuda"``, ``"cuda:1"``, ``"cpu"``).
        precision: ``"fp32"`` or ``"fp16"``; an fp32 export module is converted to the variant's fp16
            regions, an fp16 one cannot be run as fp32 (its weights are already rounded).
        cuda_graph: capture and replay CUDA graphs (ignored off CUDA).
        compile: a ``torch.compile`` mode of :data:`COMPILE_MODES` to compile the prepared module with
            (on first call; with ``cuda_graph`` inside the build), or None for eager kernels.
        inductor: ``torch._inductor.config`` settings for the compilation (with ``compile`` only),
            e.g. ``{"coordinate_descent_tuning": True}``.
        regional: with ``compile``, compile the variant's regions (:data:`.variants.COMPILE_REGIONS`) instead
            of the whole forward (True), or the whole forward (False); None: regions where the variant
            has them (RoMa), else the whole forward (ELoFTR).
        options: variant-specific switches passed to its preparer (e.g. RoMa's ``gp``,
            ``channels_last``; see :mod:`.roma`), for measuring each rewrite on its own; the variant's
            :data:`.variants.TRITON_OPTIONS` (on CUDA with Triton) and, with ``compile``, its
            :data:`.variants.COMPILED_OPTIONS` are on unless given here.

    Returns:
        The runner, with the batch-1 graph already captured (so start-up cost is paid here).

    Raises:
        ValueError: unknown precision or compile mode, Inductor settings or ``regional`` without a mode,
            ``regional=True`` for a variant without regions, or fp32 asked of an fp16 module.
        KeyError: no fast path is registered for the module's type.
    """
    from ma_trt_convert.fast.variants import (
        compile_regions_for,
        compiled_options_for,
        preparer_for,
        triton_options_for,
    )

    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if compile is not None and compile not in COMPILE_MODES:
        raise ValueError(f"compile must be None or one of {COMPILE_MODES}, got {compile!r}")
    if inductor and compile is None:
        raise ValueError("Inductor settings need a compile mode")
    if regional is not None and compile is None:
        raise ValueError("regional compilation needs a compile mode")
    regions = compile_regions_for(export_module) if compile is not None and regional is not False else ()
    if regional and not regions:
        raise ValueError(f"{type(export_module).__name__} has no compile regions; compile its whole forward")
    start = time.perf_counter()
    target = torch.device(device)
    prepare = preparer_for(export_module)
    compiled = compiled_options_for(export_module) if compile is not None else {}
    options = {**triton_options_for(export_module, target), **compiled, **options}
    module = prepare(copy.deepcopy(export_module), precision, **options).to(target).eval().requires_grad_(False)
    names = export_module.input_names, export_module.output_names
    runner = FastRunner(module, *names, target, cuda_graph, compile, inductor, regions)
    if runner.cuda_graph:
        runner(*export_module.example_inputs(1))
        torch.cuda.synchronize(target)
    runner.startup_s = time.perf_counter() - start
    return runner
