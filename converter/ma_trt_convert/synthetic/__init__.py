"""Synthetic inputs for tests, ``verify``, benchmarks and the demo: random-weight files that match
textured pairs (meaningless for real images), synthetic image pairs, and pairs of a real photograph
with a known homography (``photo_pairs``)."""
