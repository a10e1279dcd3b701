"""Synthetic inputs and weights for tests, ``verify``, benchmarks and the demo (meaningless for real images)."""
