"""The CUDA stream wrapper and the TensorRT runner on a real GPU (skipped where there is none).

The runner runs with the TensorRT test double (test/support/tensorrt_double.py), which launches a
real kernel on the runner's stream over the runner's device buffers. Run on the GPU machine with
pycuda and CuPy installed: ``python3 -m pytest test/runtime/test_gpu_runtime.py``.
"""

from __future__ import annotations

import resource
import threading
from pathlib import Path

import numpy as np
import pytest

cuda = pytest.importorskip("pycuda.driver", reason="needs pycuda and a GPU")
pytest.importorskip("cupy", reason="the TensorRT double launches its kernel through CuPy")
try:
    cuda.init()
    if cuda.Device.count() == 0:
        pytest.skip("no CUDA device", allow_module_level=True)
except cuda.Error as exc:  # no driver
    pytest.skip(f"no usable CUDA driver ({exc})", allow_module_level=True)

from support import tensorrt_double  # noqa: E402
from support.tensorrt_double import write_double_plan  # noqa: E402

from ma_trt_ros.contract.tensors import TensorSpec  # noqa: E402
from ma_trt_ros.runtime import MatcherError  # noqa: E402
from ma_trt_ros.runtime.backends.tensorrt_backend import TensorRTBackend  # noqa: E402
from ma_trt_ros.runtime.cuda_stream import CudaContext, EngineBuffers  # noqa: E402
from ma_trt_ros.runtime.errors import InputError, ModelError  # noqa: E402

DOUBLE = (tensorrt_double, "tensorrt")
SHAPE = (1, 16, 4096)
SLOW = 20000  # busy-loop iterations per element: the kernel takes milliseconds


@pytest.fixture
def context() -> CudaContext:
    ctx = CudaContext(0)
    yield ctx
    ctx.close()


def _backend(tmp_path: Path, context: CudaContext, **plan: object) -> TensorRTBackend:
    gpu = context.identity
    plan_path = write_double_plan(
        tmp_path,
        shape=SHAPE,
        output_shapes=(SHAPE, (1, 7)),
        gpu_name=gpu.name,
        compute_capabilities=(gpu.compute_capability,),
        **plan,
    )
    return TensorRTBackend(plan_path, tensorrt=DOUBLE, context=context)


def _random(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).random(SHAPE, dtype=np.float32)


def test_gpu_identity(context: CudaContext) -> None:
    gpu = context.identity
    assert gpu.name and gpu.total_memory_bytes > 2**30
    major, minor = gpu.compute_capability.split(".")
    assert int(major) >= 5 and minor.isdigit()
    print(f"GPU: {gpu}")


def test_runner_outputs_follow_inputs_in_stream_order(tmp_path: Path, context: CudaContext) -> None:
    backend = _backend(tmp_path, context, spin=SLOW, scale=2.0, bias=1.0)
    for seed in range(5):  # buffers reused: each call's outputs are its own inputs' image
        x = _random(seed)
        outputs, timing = backend.run({"x": x})
        np.testing.assert_allclose(outputs["y0"], 2.0 * x + 1.0, rtol=1e-5)
        np.testing.assert_allclose(outputs["y1"][0], 2.0 * x.reshape(-1)[:7] + 1.0, rtol=1e-5)
        assert set(timing) == {"upload", "execute", "download"}
        assert timing["execute"] > timing["upload"] >= 0  # the slow kernel dominates
    print(f"timing of one call (ms): {timing}")
    backend.close()


def test_only_the_wanted_outputs_are_downloaded(tmp_path: Path, context: CudaContext) -> None:
    backend = _backend(tmp_path, context, spin=SLOW, scale=2.0, bias=1.0)
    x = _random(0)
    backend.run({"x": x})
    stale = backend._buffers._outputs[1].host.copy()  # y1 of the first call, left in its page-locked buffer
    outputs, _ = backend.run({"x": _random(1)}, wanted=("y0",))
    assert list(outputs) == ["y0"]
    np.testing.assert_allclose(outputs["y0"], 2.0 * _random(1) + 1.0, rtol=1e-5)
    np.testing.assert_array_equal(backend._buffers._outputs[1].host, stale)  # y1 never copied back
    backend.close()


def test_two_engines_share_one_stream(tmp_path: Path, context: CudaContext) -> None:
    stream = context.new_stream()
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    gpu = context.identity
    plans = [
        write_double_plan(
            tmp_path / sub, shape=SHAPE, output_shapes=(SHAPE,), scale=scale, spin=SLOW, gpu_name=gpu.name
        )
        for sub, scale in (("a", 3.0), ("b", -1.0))
    ]
    first, second = (TensorRTBackend(p, tensorrt=DOUBLE, context=context, stream=stream) for p in plans)
    assert first._buffers.stream is second._buffers.stream
    for seed in range(3):
        x = _random(seed)
        np.testing.assert_allclose(first.run({"x": x})[0]["y0"], 3.0 * x + 1.0, rtol=1e-5)
        np.testing.assert_allclose(second.run({"x": x})[0]["y0"], -x + 1.0, rtol=1e-5)
    first.close()
    second.close()


def test_cuda_graph_replay_reads_the_new_inputs(tmp_path: Path, context: CudaContext) -> None:
    pytest.importorskip("cuda.bindings", reason="CUDA graphs need cuda-python")
    gpu = context.identity
    plan = write_double_plan(tmp_path, shape=SHAPE, output_shapes=(SHAPE,), gpu_name=gpu.name, spin=100)
    backend = TensorRTBackend(plan, tensorrt=DOUBLE, context=context, cuda_graph=True)
    enqueues = backend._execution.enqueues
    for seed in range(4):
        x = _random(seed)
        np.testing.assert_allclose(backend.run({"x": x})[0]["y0"], 2.0 * x + 1.0, rtol=1e-5)
    assert backend._execution.enqueues == enqueues  # replayed, never enqueued again
    backend.close()


def test_gpu_name_mismatch_is_refused_before_deserialising(tmp_path: Path, context: CudaContext) -> None:
    plan = write_double_plan(tmp_path, gpu_name="NVIDIA Jetson AGX Orin", compute_capabilities=("8.7",))
    with pytest.raises(ModelError) as caught:
        TensorRTBackend(plan, tensorrt=DOUBLE, context=context)
    assert "plan targets compute capability 8.7" in str(caught.value)
    assert "plan was built on NVIDIA Jetson AGX Orin" in str(caught.value)


def test_teardown_frees_device_memory(tmp_path: Path, context: CudaContext) -> None:
    baseline = context.memory_in_use_bytes()
    big = (1, 64, 1 << 20)  # 256 MiB per tensor
    plan = write_double_plan(tmp_path, shape=big, output_shapes=(big,), gpu_name=context.identity.name)
    backend = TensorRTBackend(plan, tensorrt=DOUBLE, context=context)
    held = context.memory_in_use_bytes() - baseline
    assert held >= 2 * 256 * 2**20
    backend.close()
    backend.close()  # idempotent
    freed = context.memory_in_use_bytes() - baseline
    print(f"held {held / 2**20:.0f} MiB while open, {freed / 2**20:.1f} MiB after close")
    assert freed <= 4 * 2**20
    with pytest.raises(MatcherError, match="closed"):
        backend.run({"x": np.zeros(big, np.float32)})


def test_thousand_calls_leak_nothing(tmp_path: Path, context: CudaContext) -> None:
    backend = _backend(tmp_path, context)
    x = _random(0)
    for _ in range(20):
        backend.run({"x": x})
    device_before = context.memory_in_use_bytes()
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for _ in range(1000):
        outputs, _ = backend.run({"x": x})
    device_growth = context.memory_in_use_bytes() - device_before
    rss_growth_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before
    print(f"1000 calls: device memory growth {device_growth} B, peak RSS growth {rss_growth_kib} KiB")
    np.testing.assert_allclose(outputs["y0"], 2.0 * x + 1.0, rtol=1e-5)
    assert device_growth == 0
    assert rss_growth_kib < 8 * 1024
    backend.close()


def test_context_refuses_other_threads(context: CudaContext) -> None:
    errors: list[BaseException] = []

    def use() -> None:
        try:
            with context.active():
                pass
        except RuntimeError as exc:
            errors.append(exc)

    thread = threading.Thread(target=use)
    thread.start()
    thread.join()
    assert len(errors) == 1 and "belongs to another thread" in str(errors[0])


def test_buffers_reject_a_wrong_input_shape(context: CudaContext) -> None:
    spec = TensorSpec("x", (1, 8), "float32")
    buffers = EngineBuffers(context, (spec,), (TensorSpec("y", (1, 8), "float32"),))
    with pytest.raises(ValueError, match=r"shape \(1, 9\), the engine takes at most \(1, 8\)"):
        buffers.run({"x": np.zeros((1, 9), np.float32)}, lambda handle: None)
    buffers.free()


PROFILE = ((1, 1, 32, 32), (1, 1, 64, 64), (1, 1, 96, 128))


def _dynamic_backend(tmp_path: Path, context: CudaContext, cuda_graph: bool) -> TensorRTBackend:
    plan = write_double_plan(
        tmp_path, profile=PROFILE, output_shapes=((1, 96 * 128),), gpu_name=context.identity.name, spin=100
    )
    return TensorRTBackend(plan, tensorrt=DOUBLE, context=context, cuda_graph=cuda_graph)


@pytest.mark.parametrize("cuda_graph", [False, True])
def test_dynamic_plan_runs_each_call_at_its_own_shape(tmp_path: Path, context: CudaContext, cuda_graph: bool) -> None:
    if cuda_graph:
        pytest.importorskip("cuda.bindings", reason="CUDA graphs need cuda-python")
    backend = _dynamic_backend(tmp_path, context, cuda_graph)
    assert backend.size_range.text() == "32x32:96x128"
    rng = np.random.default_rng(0)
    enqueues = []
    for height, width in ((32, 64), (96, 128), (32, 64), (64, 32)):
        x = rng.random((1, 1, height, width), dtype=np.float32)
        y = backend.run({"x": x})[0]["y0"][0]
        # the double reads size(x) elements as set by set_input_shape: a stale shape or upload shows here
        expected = 2.0 * x.reshape(-1)[np.arange(y.size) % x.size] + 1.0
        np.testing.assert_allclose(y, expected, rtol=1e-5)
        assert backend._execution.shapes["x"] == (1, 1, height, width)
        enqueues.append(backend._execution.enqueues)
    if cuda_graph:  # per new shape one warm-up enqueue and one captured; replays add none (the repeated shape)
        assert enqueues == [2, 4, 4, 6] and len(backend._graphs) == 3
    else:
        assert enqueues == [1, 2, 3, 4]
    backend.close()


def test_dynamic_plan_refuses_shapes_outside_its_profile(tmp_path: Path, context: CudaContext) -> None:
    backend = _dynamic_backend(tmp_path, context, cuda_graph=False)
    for shape, message in (
        ((1, 1, 160, 32), "outside 32x32:96x128"),
        ((1, 1, 40, 32), "not a multiple of 32"),
        ((1, 3, 32, 32), "does not fit"),
    ):
        with pytest.raises(InputError, match=message):
            backend.run({"x": np.zeros(shape, np.float32)})
    x = np.ones((1, 1, 32, 32), np.float32)
    np.testing.assert_allclose(backend.run({"x": x})[0]["y0"], 3.0)  # still serving after the refusals
    backend.close()


def test_fixed_plan_refuses_a_smaller_input(tmp_path: Path, context: CudaContext) -> None:
    backend = _backend(tmp_path, context)
    with pytest.raises(InputError, match="does not fit"):
        backend.run({"x": np.zeros((1, 16, 2048), np.float32)})
    backend.close()
