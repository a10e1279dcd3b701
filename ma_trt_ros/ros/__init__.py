"""ROS 2 glue for ma_trt_ros: image conversion, pair synchronisation (importable without rclpy)."""
