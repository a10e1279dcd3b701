"""Strict reading, checking and synthesis of the released MatchAnything weight files.

A *release layout* is the exact key/shape table of one published file, shipped in
``ma_trt_convert/weights/layouts/<name>.tsv`` (one ``key<TAB>[d0, d1, ...]`` line per tensor, ``#`` lines
are comments). Loading is strict: a file is accepted only when its keys and shapes equal the
layout, otherwise :class:`CheckpointError` says which file is wrong, lists the offending keys (the
first few and a count) and, when the file looks like another known release file, which option it
belongs to.

Synthetic files (:func:`random_state_dict`, :func:`write_release_file`) use the same layout so the
whole loading path is exercised by tests without the real weights.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ma_trt_convert.errors import CheckpointError
from ma_trt_convert.variants import SPECS, release_file
from ma_trt_ros.contract.files import atomic_writer

__all__ = ["CheckpointError", "LayoutReport", "ReleaseLayout", "load_layout", "load_release_file"]

LAYOUT_DIR = Path(__file__).resolve().parent / "layouts"
SHOWN_KEYS = 5


@dataclass(frozen=True)
class ReleaseLayout:
    """Key/shape table of one released weight file.

    Attributes:
        name: layout identifier, also the TSV file stem (e.g. ``"matchanything_roma"``).
        file_name: the released file's name, used in messages (e.g. ``"matchanything_roma.ckpt"``).
        lightning: True when the file is a Lightning dict whose ``state_dict`` holds the tensors;
            False for a plain ``{key: tensor}`` dict.
        option: the CLI option that takes this file (e.g. ``"--checkpoint"``), used in hints.
        shapes: key -> shape, in file order.
    """

    name: str
    file_name: str
    lightning: bool
    option: str
    shapes: dict[str, tuple[int, ...]] = field(repr=False)

    def __len__(self) -> int:
        return len(self.shapes)


@dataclass(frozen=True)
class LayoutReport:
    """Result of comparing a state dict with a :class:`ReleaseLayout`."""

    layout: ReleaseLayout
    matched: int
    missing: list[str]
    unexpected: list[str]
    misshaped: list[tuple[str, tuple[int, ...], tuple[int, ...]]]

    @property
    def ok(self) -> bool:
        return not (self.missing or self.unexpected or self.misshaped)

    def summary(self) -> str:
        """One line such as ``matchanything_roma.ckpt: 603/603 entries match``."""
        return f"{self.layout.file_name}: {self.matched}/{len(self.layout)} entries match"


def _parse_shape(text: str) -> tuple[int, ...]:
    inner = text.strip().strip("[]").strip()
    return tuple(int(part) for part in inner.split(",")) if inner else ()


def load_layout(name: str) -> ReleaseLayout:
    """Read the shipped layout table ``name`` (one of the release file stems)."""
    _, release = release_file(name)
    shapes: dict[str, tuple[int, ...]] = {}
    for line in (LAYOUT_DIR / f"{name}.tsv").read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        key, shape = line.split("\t")
        shapes[key] = _parse_shape(shape)
    return ReleaseLayout(name, release.file_name, release.lightning, release.input_option, shapes)


def known_layouts() -> list[ReleaseLayout]:
    """Every release layout this package knows."""
    return [load_layout(release.layout) for spec in SPECS.values() for release in spec.release_files]


def read_state_dict(path: str | os.PathLike[str]) -> tuple[dict[str, torch.Tensor], bool]:
    """Load the tensors of a weight file without building any model.

    Returns:
        ``(state, was_lightning)``: the flat key -> tensor dict (CPU) and whether the file was a
        Lightning dict (tensors under ``"state_dict"``).

    Raises:
        CheckpointError: the file is missing, not a torch file, or holds no tensor dict.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such file; check the path you passed")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for corrupt or foreign files
        raise CheckpointError(
            f"{path}: cannot be read as a PyTorch weight file ({type(exc).__name__}: {exc}); "
            "is it truncated or of another format?"
        ) from exc
    was_lightning = isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict)
    state = obj["state_dict"] if was_lightning else obj
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{path}: holds no dict of tensors (neither a Lightning checkpoint nor a state dict)")
    return state, was_lightning


def read_weight_file(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """Tensors of a ``.safetensors`` file or of a torch file (Lightning or plain), any naming.

    Raises:
        CheckpointError: missing or unreadable file.
    """
    path = Path(path)
    if path.suffix != ".safetensors":
        return read_state_dict(path)[0]
    if not path.is_file():
        raise CheckpointError(f"{path}: no such file; check the path you passed")
    from safetensors.torch import load_file

    try:
        return load_file(str(path))
    except Exception as exc:  # safetensors raises its own error types for corrupt files
        raise CheckpointError(f"{path}: cannot be read as safetensors ({type(exc).__name__}: {exc})") from exc


def compare_with_layout(state: dict[str, torch.Tensor], layout: ReleaseLayout) -> LayoutReport:
    """Compare keys and shapes of ``state`` with ``layout`` (dtypes are not compared)."""
    missing = [k for k in layout.shapes if k not in state]
    unexpected = [k for k in state if k not in layout.shapes]
    misshaped = [
        (k, tuple(state[k].shape), shape)
        for k, shape in layout.shapes.items()
        if k in state and tuple(state[k].shape) != shape
    ]
    matched = len(layout) - len(missing) - len(misshaped)
    return LayoutReport(layout, matched, missing, unexpected, misshaped)


def listed_keys(keys: list[str]) -> str:
    """``"N (k1, k2, ... and M more)"``: the count and the first few of ``keys``, for error messages."""
    shown = ", ".join(keys[:SHOWN_KEYS])
    more = f" and {len(keys) - SHOWN_KEYS} more" if len(keys) > SHOWN_KEYS else ""
    return f"{len(keys)} ({shown}{more})"


def closest_layout(state: dict[str, torch.Tensor], exclude: str | None = None) -> ReleaseLayout | None:
    """The known layout (other than the one named ``exclude``) that holds at least 90 % of ``state``'s keys
    (the one holding most), or None."""
    best, best_share = None, 0.0
    for other in known_layouts():
        if other.name == exclude:
            continue
        share = sum(k in other.shapes for k in state) / max(len(state), 1)
        if share > best_share:
            best, best_share = other, share
    return best if best_share >= 0.9 else None


def describe_mismatch(report: LayoutReport, path: str | os.PathLike[str], state: dict[str, torch.Tensor]) -> str:
    """A message a user can act on for a failed :func:`compare_with_layout`."""
    layout = report.layout
    lines = [f"{path} is not a valid {layout.file_name} ({report.summary()})."]
    if report.missing:
        lines.append(f"missing keys: {listed_keys(report.missing)}")
    if report.unexpected:
        lines.append(f"unexpected keys: {listed_keys(report.unexpected)}")
    if report.misshaped:
        shown = [f"{k} {tuple(got)} expected {tuple(want)}" for k, got, want in report.misshaped]
        lines.append(f"mis-shaped keys: {listed_keys(shown)}")
    other = closest_layout(state, exclude=layout.name)
    other_variant = None if other is None else release_file(other.name)[0]
    if other is not None and other_variant != release_file(layout.name)[0]:
        lines.append(f"This file looks like {other.file_name}, of --variant {other_variant}.")
    elif other is not None:
        lines.append(
            f"This file looks like {other.file_name}; pass it with {other.option} "
            f"and give {layout.file_name} with {layout.option}."
        )
    else:
        lines.append(f"Pass the released {layout.file_name} unmodified with {layout.option}.")
    return "\n  ".join(lines)


def load_release_file(path: str | os.PathLike[str], layout: ReleaseLayout) -> dict[str, torch.Tensor]:
    """Read ``path`` and return its tensors if, and only if, they have exactly ``layout``.

    Raises:
        CheckpointError: unreadable file, or any missing, unexpected or mis-shaped key.
    """
    state, _ = read_state_dict(path)
    return require_layout(state, layout, path)


def require_layout(
    state: dict[str, torch.Tensor], layout: ReleaseLayout, path: str | os.PathLike[str]
) -> dict[str, torch.Tensor]:
    """``state`` itself if it has exactly ``layout``; else :class:`CheckpointError` naming ``path`` and the keys."""
    report = compare_with_layout(state, layout)
    if not report.ok:
        raise CheckpointError(describe_mismatch(report, path, state))
    return state


def strip_prefix(state: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    """Drop ``prefix`` from every key (every key must carry it)."""
    return {k.removeprefix(prefix): v for k, v in state.items()}


def _random_tensor(key: str, shape: tuple[int, ...], gen: torch.Generator) -> torch.Tensor:
    """A plausible random value for a tensor named ``key`` (float32 unless a counter)."""
    leaf = key.rsplit(".", 1)[-1]
    if leaf == "num_batches_tracked":
        return torch.tensor(0, dtype=torch.int64)
    if leaf == "running_var":
        return torch.rand(shape, generator=gen) + 0.5
    if leaf == "running_mean":
        return 0.1 * torch.randn(shape, generator=gen)
    if len(shape) <= 1 and leaf in ("weight", "gamma"):
        return 1.0 + 0.1 * torch.randn(shape, generator=gen)
    if len(shape) <= 1:
        return 0.02 * torch.randn(shape, generator=gen)
    fan_in = 1
    for d in shape[1:]:
        fan_in *= d
    return torch.randn(shape, generator=gen) / max(fan_in, 1) ** 0.5


def random_state_dict(layout: ReleaseLayout, seed: int = 0) -> dict[str, torch.Tensor]:
    """Random tensors with exactly ``layout``'s keys and shapes, reproducible from ``seed``.

    Conv/linear weights are N(0, 1/fan_in); norm scales ~1; biases and running means small;
    BatchNorm running variances in [0.5, 1.5); ``num_batches_tracked`` an int64 zero.
    """
    gen = torch.Generator().manual_seed(seed)
    return {key: _random_tensor(key, shape, gen) for key, shape in layout.shapes.items()}


def write_release_file(state: dict[str, torch.Tensor], layout: ReleaseLayout, path: str | os.PathLike[str]) -> None:
    """Write ``state`` the way the release stores ``layout`` (Lightning dict or plain), atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload: dict = {"state_dict": state, "epoch": 0, "global_step": 0} if layout.lightning else state
    with atomic_writer(path) as handle:
        torch.save(payload, handle)
