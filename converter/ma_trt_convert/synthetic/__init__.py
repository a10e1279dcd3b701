"""Synthetic inputs and weights for tests, ``verify``, benchmarks: random-weight files that match
textured pairs, synthetic image pairs (meaningless for real images)."""
