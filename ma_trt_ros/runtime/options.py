"""Per-matcher options that shape the output (not the network)."""

from __future__ import annotations

from dataclasses import dataclass


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
