"""The torch backend's CUDA paths on a GPU (skipped without one): the fast path (CUDA graph, its own output
buffers downloaded in place) against eager kernels on the same device, pair after pair, and the pinned
staging of inputs, uint8 images divided on the device. Run on the GPU machine by
``bench/robot_path_gpu.sh gpu_tests``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
if not torch.cuda.is_available():
    pytest.skip("needs a CUDA GPU", allow_module_level=True)

from support.exported_models import ELOFTR_ROWS, ELOFTR_SIZE, textured_images  # noqa: E402

from ma_trt_convert.synthetic.eloftr_weights import matching_state  # noqa: E402
from ma_trt_convert.torch_backend import TorchBackend  # noqa: E402
from ma_trt_convert.weights.checkpoint import load_layout, random_state_dict, write_release_file  # noqa: E402
from ma_trt_ros.runtime import BackendSettings  # noqa: E402
from ma_trt_ros.runtime.images import to_nchw, uint8_to_float  # noqa: E402

BUILD = {"height": ELOFTR_SIZE[0], "width": ELOFTR_SIZE[1], "max_matches": ELOFTR_ROWS}


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """ELoFTR weights rescaled to match the textured pair (many matches)."""
    path = tmp_path_factory.mktemp("eloftr") / "matchanything_eloftr.ckpt"
    pair = [torch.from_numpy(image)[None, None] for image in textured_images(*ELOFTR_SIZE)]
    layout = load_layout("matchanything_eloftr")
    write_release_file(matching_state(random_state_dict(layout, 0), *pair), layout, path)
    return path


def _pairs() -> list[dict[str, np.ndarray]]:
    """Two different pairs: the textured pair, then it swapped and mirrored."""
    image0, image1 = textured_images(*ELOFTR_SIZE)
    first = {"image0": image0[None, None], "image1": image1[None, None]}
    second = {"image0": np.ascontiguousarray(image1[:, ::-1])[None, None], "image1": image0[:, ::-1][None, None]}
    return [first, second]


def test_the_fast_path_downloads_each_pair_before_the_next_replaces_it(checkpoint: Path) -> None:
    eager = TorchBackend(checkpoint, BackendSettings(device="cuda", build_args=BUILD))
    fast = TorchBackend(checkpoint, BackendSettings(device="cuda", cuda_graph=True, build_args=BUILD))
    first, second = _pairs()
    got_first = fast.run(first)[0]
    kept = {name: array.copy() for name, array in got_first.items()}
    got_second = fast.run(second)[0]  # the graph's output buffers are overwritten by this replay
    for name, array in kept.items():  # ... but what the first run returned is the caller's
        np.testing.assert_array_equal(got_first[name], array)
    np.testing.assert_array_equal(fast.run(first)[0]["keypoints0"], kept["keypoints0"])  # same graph, same input
    for pair, have in ((first, got_first), (second, got_second)):
        want = eager.run(pair)[0]
        assert int(want["num_valid"][0]) >= 50
        assert int(have["num_valid"][0]) == int(want["num_valid"][0])
        np.testing.assert_array_equal(have["valid"], want["valid"])
        np.testing.assert_array_equal(have["cells"], want["cells"])
        for name in ("keypoints0", "keypoints1"):
            # the fast path's kernels round otherwise: a fine arg-max may flip by a whole pixel (seen: 1 of
            # 200 rows on an H100); the rest agree to rounding
            moved = np.abs(have[name] - want[name]).max(axis=-1)
            assert (moved > 0.5).sum() <= 2 and np.median(moved) < 1e-3
    assert not np.array_equal(got_first["cells"], got_second["cells"])


def test_staged_uploads_keep_transposed_views_and_constants_apart(checkpoint: Path) -> None:
    backend = TorchBackend(checkpoint, BackendSettings(device="cuda", build_args=BUILD))
    rng = np.random.default_rng(0)
    image = rng.random((6, 10, 3), dtype=np.float32)
    uploaded = backend._upload("image0", to_nchw(image))  # an HWC image's NCHW view
    assert uploaded.is_cuda and uploaded.is_contiguous()
    np.testing.assert_array_equal(uploaded.cpu().numpy(), image.transpose(2, 0, 1)[None])
    constant = rng.random((1, 1, 4, 5), dtype=np.float32)
    constant.flags.writeable = False
    kept = backend._upload("noise", constant)
    assert backend._upload("noise", constant) is kept  # read-only and given again: not copied again
    other = rng.random((1, 1, 4, 5), dtype=np.float32)
    np.testing.assert_array_equal(backend._upload("noise", other).cpu().numpy(), other)
    torch.cuda.synchronize()
    np.testing.assert_array_equal(kept.cpu().numpy(), constant)  # the staging buffer's next use left it alone


def test_uint8_images_divided_on_the_device_give_the_outputs_of_their_floats(checkpoint: Path) -> None:
    fast = TorchBackend(checkpoint, BackendSettings(device="cuda", cuda_graph=True, build_args=BUILD))
    assert fast.takes_uint8_images
    rng = np.random.default_rng(1)
    colour = rng.integers(0, 256, (6, 10, 3), dtype=np.uint8)
    colour.flags.writeable = False  # a camera message's bytes
    uploaded = fast._upload("image0", to_nchw(colour))
    np.testing.assert_array_equal(uploaded.cpu().numpy(), to_nchw(uint8_to_float(colour)))  # CUDA's division
    first, _ = _pairs()
    as_bytes = {name: np.round(image * 255).astype(np.uint8) for name, image in first.items()}
    from_bytes = fast.run(as_bytes)[0]
    from_floats = fast.run({name: uint8_to_float(image) for name, image in as_bytes.items()})[0]
    assert int(from_bytes["num_valid"][0]) >= 50
    for name, array in from_floats.items():
        np.testing.assert_array_equal(from_bytes[name], array)
