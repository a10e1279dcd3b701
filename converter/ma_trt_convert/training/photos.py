"""The photographs bundled in the scikit-image wheel: which ones train, which are held out, and one archive.

Training may use only these photographs and procedural images (:mod:`.procedural`). Three photographs
are held out for our own evaluation (:data:`HELD_OUT`), and two entries of the wheel are reserved for
independent evaluation and never read (:data:`FORBIDDEN`). :func:`extract_photos` reads the images
straight from a downloaded wheel (``pip download --no-deps scikit-image``) or an unpacked
``skimage/data`` folder, so scikit-image itself need not be installed.

Archive (:func:`write_archive`): one ``.npz`` with a uint8 RGB array ``[H, W, 3]`` per photograph name,
the long side reduced to at most :data:`MAX_SIDE` pixels (area interpolation).
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np

TRAINING = (
    "brick",
    "camera",
    "cell",
    "chelsea",
    "clock_motion",
    "coins",
    "color",
    "grass",
    "gravel",
    "horse",
    "hubble_deep_field",
    "ihc",
    "logo",
    "microaneurysms",
    "moon",
    "page",
    "phantom",
    "retina",
    "text",
)
HELD_OUT = ("astronaut", "coffee", "rocket")
FORBIDDEN = ("motorcycle_", "lfw_subset")
SUFFIXES = (".png", ".jpg")
MAX_SIDE = 640
DATA_DIR = "skimage/data/"


def _check_allowed(names: tuple[str, ...]) -> None:
    """ValueError for a name of :data:`FORBIDDEN` or one that is neither training nor held out."""
    for name in names:
        if name.startswith(FORBIDDEN):
            raise ValueError(f"{name} is reserved for independent evaluation and must never be read")
        if name not in TRAINING + HELD_OUT:
            raise ValueError(f"{name} is not one of the listed photographs")


def _decode(data: bytes) -> np.ndarray:
    """uint8 RGB ``[H, W, 3]`` of encoded image bytes, long side reduced to :data:`MAX_SIDE`."""
    import cv2

    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError("cannot decode image")
    scale = MAX_SIDE / max(image.shape[:2])
    if scale < 1.0:
        size = (round(image.shape[1] * scale), round(image.shape[0] * scale))
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(image[..., ::-1])


def _read_member(source: Path, name: str) -> bytes:
    """Bytes of ``skimage/data/<name>.png|jpg`` in a wheel, or ``<name>.png|jpg`` in a folder."""
    if source.is_dir():
        for suffix in SUFFIXES:
            if (source / f"{name}{suffix}").is_file():
                return (source / f"{name}{suffix}").read_bytes()
    else:
        with zipfile.ZipFile(source) as wheel:
            members = set(wheel.namelist())
            for suffix in SUFFIXES:
                if f"{DATA_DIR}{name}{suffix}" in members:
                    return wheel.read(f"{DATA_DIR}{name}{suffix}")
    raise FileNotFoundError(f"{name} not found in {source}")


def extract_photos(source: str | Path, names: tuple[str, ...]) -> dict[str, np.ndarray]:
    """The photographs ``names`` (uint8 RGB ``[H, W, 3]``) from a scikit-image wheel or data folder."""
    _check_allowed(names)
    return {name: _decode(_read_member(Path(source), name)) for name in names}


def write_archive(path: str | Path, photos: dict[str, np.ndarray]) -> None:
    """Store ``photos`` (name -> uint8 RGB) in one compressed ``.npz``."""
    _check_allowed(tuple(photos))
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **photos)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_bytes(buffer.getvalue())


def read_archive(path: str | Path, names: tuple[str, ...]) -> dict[str, np.ndarray]:
    """The photographs ``names`` (uint8 RGB ``[H, W, 3]``) of an archive written by :func:`write_archive`."""
    _check_allowed(names)
    with np.load(path) as archive:
        return {name: archive[name] for name in names}
