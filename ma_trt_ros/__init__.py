"""ma_trt_ros: MatchAnything image matching with TensorRT engines on ROS 2."""
