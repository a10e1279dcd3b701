"""Launch matchanything_node with a parameter file, a namespace, topic remaps and parameter overrides.

    ros2 launch ma_trt_ros matchanything.launch.py config:=desktop_eloftr.yaml namespace:=front \
        image0:=/front/left/image_raw image1:=/front/right/image_raw model_path:=/models/eloftr.plan

``config`` is a file in this package's ``config/`` or any path. Every node parameter is also a launch
argument of the same name; a non-empty value overrides the file. A thin wrapper: the same executable
runs without launch as ``matchanything_node --ros-args --params-file <config> -r image0:=... -p name:=value``.
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from launch import LaunchDescription
from ma_trt_ros.ros.node_parameters import PARAMETERS

PACKAGE = "ma_trt_ros"
EXECUTABLE = "matchanything_node"
DEFAULT_CONFIG = "desktop_eloftr.yaml"
TOPICS = ("image0", "image1", "image", "reference")


def config_path(value):
    """A config name in the package's config/ folder, or the path itself when it exists."""
    if os.path.exists(value):
        return value
    return os.path.join(get_package_share_directory(PACKAGE), "config", value)


def node_action(context):
    """The node with the launch arguments as resolved by ``context``."""
    overrides = {}
    for name, default in PARAMETERS:
        text = LaunchConfiguration(name).perform(context)
        if text:
            overrides[name] = type(default)(text) if not isinstance(default, bool) else text.lower() == "true"
    remaps = [(topic, LaunchConfiguration(topic).perform(context)) for topic in TOPICS]
    return [
        Node(
            package=PACKAGE,
            executable=EXECUTABLE,
            namespace=LaunchConfiguration("namespace").perform(context),
            parameters=[config_path(LaunchConfiguration("config").perform(context)), overrides],
            remappings=[(topic, target) for topic, target in remaps if target],
            output="screen",
            additional_env={
                "FASTDDS_DEFAULT_PROFILES_FILE": os.path.join(
                    get_package_share_directory(PACKAGE), "config", "fastdds_large_messages.xml"
                )
            },
        )
    ]


def generate_launch_description():
    arguments = [
        DeclareLaunchArgument("config", default_value=DEFAULT_CONFIG, description="parameter file"),
        DeclareLaunchArgument("namespace", default_value="", description="namespace of the node"),
    ]
    arguments += [DeclareLaunchArgument(t, default_value="", description=f"remap of topic {t}") for t in TOPICS]
    arguments += [
        DeclareLaunchArgument(name, default_value="", description=f"override of parameter {name}")
        for name, _ in PARAMETERS
    ]
    return LaunchDescription([*arguments, OpaqueFunction(function=node_action)])
