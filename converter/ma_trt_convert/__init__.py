"""MatchAnything → ONNX → TensorRT conversion: PyTorch models, checkpoint loading, export, engine building.

This package needs PyTorch; the robot-side runtime (``ma_trt_ros``) does not import it.
"""

__version__ = "0.1.0"
