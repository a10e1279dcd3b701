"""Training configuration: one JSON file (``config/training/eloftr.json``), every field listed here."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from ma_trt_convert.training.geometry import WarpRange


@dataclass(frozen=True)
class BatchShape:
    """Image size in pixels (multiples of 32) and pairs per batch at that size."""

    height: int
    width: int
    pairs: int


@dataclass(frozen=True)
class TrainingConfig:
    """Everything that determines a training run (with the photograph archive's content).

    Attributes:
        seed: seeds every random draw (batches are a function of ``seed`` and the step).
        steps: optimiser steps of the whole run (the learning-rate schedule spans them).
        shapes: batch shapes, used in turn (step ``s`` uses ``shapes[s % len(shapes)]``).
        learning_rate, weight_decay: AdamW; ``warmup_steps`` linear warm-up, then cosine decay to 10 %.
        fine_learning_rate_scale: learning-rate factor of the fine FPN (``fine_preprocess``) parameters.
        grad_clip: global gradient-norm clip.
        fine_rows: ground-truth cell pairs per image pair in the fine losses.
        fine_weight, offset_weight: loss weights (coarse has weight 1).
        cross_modal: probability that image 1 is rendered in another modality than image 0.
        warp: random homography range.
        procedural_images, procedural_size, procedural_shapes: the procedural sources (count, side px, shapes each).
        validation_pairs, validation_height, validation_width: the fixed held-out validation batch.
        validate_every: steps between validations (and log lines and checkpoints).
    """

    seed: int = 0
    steps: int = 6000
    shapes: tuple[BatchShape, ...] = (BatchShape(320, 320, 12),)
    learning_rate: float = 4e-4
    weight_decay: float = 0.01
    fine_learning_rate_scale: float = 1.0
    warmup_steps: int = 200
    grad_clip: float = 1.0
    fine_rows: int = 128
    fine_weight: float = 1.0
    offset_weight: float = 1.0
    cross_modal: float = 0.4
    warp: WarpRange = field(default_factory=WarpRange)
    procedural_images: int = 48
    procedural_size: int = 512
    procedural_shapes: int = 24
    validation_pairs: int = 16
    validation_height: int = 480
    validation_width: int = 640
    validate_every: int = 250

    @classmethod
    def from_json(cls, path: str | Path) -> TrainingConfig:
        """Read a config file; unknown keys are an error, missing keys take the defaults above."""
        data = json.loads(Path(path).read_text())
        known = {f.name for f in fields(cls)}
        if unknown := set(data) - known:
            raise ValueError(f"{path}: unknown training settings {sorted(unknown)}")
        if "shapes" in data:
            data["shapes"] = tuple(BatchShape(**shape) for shape in data["shapes"])
        if "warp" in data:
            data["warp"] = WarpRange(**data["warp"])
        return cls(**data)

    def to_dict(self) -> dict:
        """JSON-ready form (recorded in checkpoints and logs)."""
        return asdict(self)
