"""Which released files make up each MatchAnything variant."""

from __future__ import annotations

from dataclasses import dataclass

from ma_trt_ros.contract.variants import VARIANTS

__all__ = ["ELOFTR_DEFAULT_MAX_MATCHES", "RELEASE_FILES", "VARIANTS", "ReleaseFile"]


# Output rows of the ELoFTR graph (its global match budget): below TensorRT's TopK limit (K < 3840) and
# 72 % of the 4256 interior cells at 640x480; the fine stage is then 0.5 % of the FLOPs
# (docs/eloftr_model.md). Kept here, free of PyTorch, for the CLI's defaults.
ELOFTR_DEFAULT_MAX_MATCHES = 3072


@dataclass(frozen=True)
class ReleaseFile:
    """One released weight file of a variant.

    Attributes:
        layout: release layout name (see :mod:`ma_trt_convert.weights.checkpoint`).
        input_option: CLI option that reads it (``--checkpoint``, ``--dinov2``).
        output_option: CLI option of ``random-checkpoint`` that writes it.
        seed_offset: added to ``--seed`` so the files of one variant differ.
    """

    layout: str
    input_option: str
    output_option: str
    seed_offset: int = 0

    @property
    def dest(self) -> str:
        return self.input_option.lstrip("-").replace("-", "_")

    @property
    def output_dest(self) -> str:
        return self.output_option.lstrip("-").replace("-", "_")


RELEASE_FILES: dict[str, tuple[ReleaseFile, ...]] = {
    "roma": (
        ReleaseFile("matchanything_roma", "--checkpoint", "--output"),
        ReleaseFile("dinov2_vitl14_pretrain", "--dinov2", "--dinov2-output", seed_offset=1),
    ),
    "eloftr": (ReleaseFile("matchanything_eloftr", "--checkpoint", "--output"),),
}
