"""Replay a bag of image pairs through matchanything_node, losslessly, and record nothing else.

    ros2 launch ma_trt_ros bag_replay.launch.py bag:=/data/run1 image0:=/cam0/image_raw image1:=/cam1/image_raw \
        model_path:=/models/eloftr.plan

The node runs with ``queue_policy: lossless`` and reliable inputs; ``ma-trt-replay --lossless``
publishes the bag's two image topics onto the node's inputs, pacing itself on the node's
``~/matches`` so that every pair gets a result, in order. Record the outputs with ``ros2 bag record``
or use ``ma-trt-bag`` to process a bag offline without DDS.
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch.actions import DeclareLaunchArgument, ExecuteProcess
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from launch import LaunchDescription

PACKAGE = "ma_trt_ros"
EXECUTABLE = "matchanything_node"
REPLAY = "ma-trt-replay"
NAMESPACE = "replay"


def generate_launch_description():
    share = get_package_share_directory(PACKAGE)
    profile = {"FASTDDS_DEFAULT_PROFILES_FILE": os.path.join(share, "config", "fastdds_large_messages.xml")}
    node = Node(
        package=PACKAGE,
        executable=EXECUTABLE,
        namespace=NAMESPACE,
        parameters=[
            os.path.join(share, "config", "desktop_eloftr.yaml"),
            {
                "model_path": LaunchConfiguration("model_path"),
                "backend": LaunchConfiguration("backend"),
                "queue_policy": "lossless",
                "queue_size": 16,
                "input_reliability": "reliable",
            },
        ],
        output="screen",
        additional_env=profile,
    )
    replay = ExecuteProcess(
        cmd=[
            REPLAY,
            LaunchConfiguration("bag"),
            "--image0",
            LaunchConfiguration("image0"),
            "--image1",
            LaunchConfiguration("image1"),
            "--namespace",
            "/" + NAMESPACE,
            "--lossless",
        ],
        output="screen",
        additional_env=profile,
    )
    return LaunchDescription(
        [
            DeclareLaunchArgument("bag", description="ROS 2 bag folder (sqlite3 or mcap)"),
            DeclareLaunchArgument("image0", description="topic of image 0 in the bag"),
            DeclareLaunchArgument("image1", description="topic of image 1 in the bag"),
            DeclareLaunchArgument("model_path", description="engine plan, ONNX file or checkpoint"),
            DeclareLaunchArgument("backend", default_value="auto", description="auto|tensorrt|onnxruntime|torch"),
            node,
            replay,
        ]
    )
