"""The training loop: seeded batches, bf16 autocast on the GPU, AdamW, periodic validation, resumable.

Output folder:
    ``log.jsonl``        one JSON line per validation: step, wall time, mean losses since the last line,
                         learning rate, steps/s, validation matches and precision (:mod:`.validation`);
    ``last.pt``          full training state (float32 weights, optimiser, step) for ``--resume``;
    ``eloftr_trained.ckpt`` the weights in the release checkpoint format, float16 (:mod:`.weights_io`).
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm import tqdm

from ma_trt_convert.eloftr import ELoFTRExportModule
from ma_trt_convert.training.config import TrainingConfig
from ma_trt_convert.training.objective import LossWeights, compute_losses
from ma_trt_convert.training.pair_batches import ImageBank, PairBatch, procedural_images, render_pairs
from ma_trt_convert.training.photos import HELD_OUT, TRAINING, read_archive
from ma_trt_convert.training.validation import validate
from ma_trt_convert.training.weights_io import load_release_checkpoint, write_release_checkpoint

STATE_FILE = "last.pt"
WEIGHTS_FILE = "eloftr_trained.ckpt"
LOG_FILE = "log.jsonl"
VALIDATION_SEED_OFFSET = 1_000_003


@dataclass(frozen=True)
class RunOptions:
    """How one invocation runs (the config says what is trained).

    Attributes:
        photos: the photograph archive (:func:`.photos.write_archive`); None: procedural sources only
            (training and validation from differently seeded sets; for tests).
        out_dir: output folder.
        device: ``cuda`` or ``cpu``.
        resume: continue from ``out_dir/last.pt`` when it exists.
        init_weights: start from these release-format weights and their ``global_step`` (optimiser state
            fresh; used to continue across machines, where only the weights travel).
        max_seconds: wall-time budget of the loop; it stops, saves and returns before exceeding it.
        steps: stop after this global step (default: the config's ``steps``).
    """

    photos: Path | None
    out_dir: Path
    device: str = "cuda"
    resume: bool = False
    init_weights: Path | None = None
    max_seconds: float = math.inf
    steps: int | None = None


def learning_rate(config: TrainingConfig, step: int, session_start: int) -> float:
    """Linear warm-up over ``warmup_steps`` from the session's first step, then cosine to 10 % at ``steps``."""
    warm = min(1.0, (step - session_start + 1) / config.warmup_steps)
    progress = min(step / config.steps, 1.0)
    return config.learning_rate * warm * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


def batch_seed(config: TrainingConfig, step: int) -> int:
    """Seed of the training batch of ``step``."""
    return config.seed * 1_000_000_007 + step


def _banks(config: TrainingConfig, photos: Path | None, device: str) -> tuple[ImageBank, ImageBank]:
    """Training sources (photographs of :data:`.photos.TRAINING` + procedural) and held-out sources
    (:data:`.photos.HELD_OUT`, or other procedural images without an archive)."""
    count, size, shapes = config.procedural_images, config.procedural_size, config.procedural_shapes
    sources: dict = {} if photos is None else dict(read_archive(photos, TRAINING))
    sources.update(procedural_images(count, size, shapes, config.seed))
    held_out = procedural_images(2, size, shapes, config.seed + 1) if photos is None else read_archive(photos, HELD_OUT)
    return ImageBank(sources, device), ImageBank(held_out, device)


def _validation_batch(config: TrainingConfig, bank: ImageBank) -> PairBatch:
    return render_pairs(
        bank,
        config.validation_pairs,
        config.validation_height,
        config.validation_width,
        config.warp,
        config.cross_modal,
        config.seed + VALIDATION_SEED_OFFSET,
    )


class Trainer:
    """One training run (see module docstring); :meth:`run` trains until the step or time limit."""

    def __init__(self, config: TrainingConfig, options: RunOptions) -> None:
        self.config, self.options = config, options
        torch.manual_seed(config.seed)
        self.module = ELoFTRExportModule(config.validation_height, config.validation_width).to(options.device)
        self.module.train()
        if options.device == "cuda":
            # q/k of the self layers are bf16 under autocast: RoPE tables of the same dtype keep v's dtype
            self.module.loftr_coarse.set_rope_dtype(torch.bfloat16)
        fine = list(self.module.fine_preprocess.parameters())
        fine_ids = {id(p) for p in fine}
        groups = [
            {"params": [p for p in self.module.parameters() if id(p) not in fine_ids], "lr_scale": 1.0},
            {"params": fine, "lr_scale": config.fine_learning_rate_scale},
        ]
        self.optimizer = torch.optim.AdamW(groups, lr=config.learning_rate, weight_decay=config.weight_decay)
        self.step = 0
        self.trained_seconds = 0.0
        options.out_dir.mkdir(parents=True, exist_ok=True)
        state_path = options.out_dir / STATE_FILE
        if options.resume and state_path.is_file():
            state = torch.load(state_path, map_location=options.device, weights_only=True)
            self.module.load_state_dict(state["model"], strict=True)
            self.optimizer.load_state_dict(state["optimizer"])
            self.step, self.trained_seconds = int(state["step"]), float(state["trained_seconds"])
        elif options.init_weights is not None:
            self.step = load_release_checkpoint(options.init_weights, self.module)
        self.session_start = self.step
        self.train_bank, self.held_out_bank = _banks(config, options.photos, options.device)
        self.validation = _validation_batch(config, self.held_out_bank)

    def _save(self) -> None:
        out = self.options.out_dir
        torch.save(
            {
                "model": self.module.state_dict(),
                "optimizer": self.optimizer.state_dict(),
                "step": self.step,
                "trained_seconds": self.trained_seconds,
            },
            out / STATE_FILE,
        )
        write_release_checkpoint(out / WEIGHTS_FILE, self.module, self.step, self.config.to_dict())

    def _train_step(self, weights: LossWeights) -> dict[str, float]:
        config = self.config
        shape = config.shapes[self.step % len(config.shapes)]
        batch = render_pairs(
            self.train_bank,
            shape.pairs,
            shape.height,
            shape.width,
            config.warp,
            config.cross_modal,
            batch_seed(config, self.step),
        )
        generator = torch.Generator(device=self.options.device).manual_seed(batch_seed(config, self.step))
        lr = learning_rate(config, self.step, self.session_start)
        for group in self.optimizer.param_groups:
            group["lr"] = lr * group["lr_scale"]
        with torch.autocast(device_type="cuda", dtype=torch.bfloat16, enabled=self.options.device == "cuda"):
            losses = compute_losses(self.module, batch, config.fine_rows, weights, generator)
        self.optimizer.zero_grad(set_to_none=True)
        losses.total.backward()
        torch.nn.utils.clip_grad_norm_(self.module.parameters(), config.grad_clip)
        self.optimizer.step()
        self.step += 1
        parts = {"loss": losses.total.detach(), "coarse": losses.coarse, "fine": losses.fine, "offset": losses.offset}
        return parts | {"lr": lr}

    def _log(self, sums: dict[str, float], count: int, steps_per_second: float) -> dict:
        entry = {"step": self.step, "trained_seconds": round(self.trained_seconds, 2)}
        entry.update({k: float(v) / max(count, 1) for k, v in sums.items() if k != "lr"})
        entry.update(lr=sums.get("lr", 0.0) / max(count, 1), steps_per_second=round(steps_per_second, 3))
        entry.update(validate(self.module, self.validation))
        with open(self.options.out_dir / LOG_FILE, "a") as log:
            log.write(json.dumps(entry) + "\n")
        return entry

    def run(self) -> dict:
        """Train until the last step or the time budget; validate, log and save every ``validate_every``
        steps and at the end. Returns the last log entry."""
        config, options = self.config, self.options
        last_step = min(options.steps or config.steps, config.steps)
        weights = LossWeights(config.fine_weight, config.offset_weight)
        started = time.monotonic()
        sums: dict[str, float] = {}
        count, entry = 0, {}
        chunk_start, chunk_step = time.monotonic(), self.step
        progress = tqdm(total=last_step, initial=self.step, desc="train", unit="step", mininterval=5)
        while self.step < last_step:
            parts = self._train_step(weights)
            for key, value in parts.items():
                sums[key] = sums.get(key, 0.0) + value
            count += 1
            progress.update(1)
            out_of_time = time.monotonic() - started > options.max_seconds
            if self.step % config.validate_every == 0 or self.step == last_step or out_of_time:
                if options.device == "cuda":
                    torch.cuda.synchronize()
                elapsed = time.monotonic() - chunk_start
                self.trained_seconds += elapsed
                entry = self._log(sums, count, (self.step - chunk_step) / max(elapsed, 1e-9))
                progress.write(json.dumps(entry))
                self._save()
                sums, count = {}, 0
                chunk_start, chunk_step = time.monotonic(), self.step
            if out_of_time:
                break
        progress.close()
        return entry
