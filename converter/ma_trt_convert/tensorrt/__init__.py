"""TensorRT: per-target build options, op checks, engine building with a sidecar (no PyTorch)."""
