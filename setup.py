"""ma_trt_ros: ROS 2 runtime/node (``ma_trt_ros``) and converter (``ma_trt_convert``, from ``converter/``).

``pip install .`` installs both Python packages without ROS, with the runtime's needs (numpy,
OpenCV, tqdm); the converter's heavy dependencies come with the ``convert`` extra, ONNX Runtime with
``onnxruntime``, the GPU buffers of the TensorRT backend with ``gpu`` (TensorRT itself comes from
NVIDIA: pip ``tensorrt`` on desktops, JetPack on Jetsons). The ROS node additionally needs rclpy and the generated
``ma_trt_ros_interfaces`` messages (see README).
"""

from glob import glob

from setuptools import find_packages, setup

PACKAGE = "ma_trt_ros"

setup(
    name=PACKAGE,
    version="0.1.0",
    description="MatchAnything matching with TensorRT engines on ROS 2",
    python_requires=">=3.10",
    packages=find_packages(include=[PACKAGE, f"{PACKAGE}.*"])
    + find_packages("converter", include=["ma_trt_convert", "ma_trt_convert.*"]),
    package_dir={"ma_trt_convert": "converter/ma_trt_convert"},
    package_data={"ma_trt_convert": ["weights/layouts/*.tsv"]},
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", glob("launch/*.py")),
        (f"share/{PACKAGE}/config", glob("config/*.yaml") + glob("config/*.xml")),
    ],
    # the runtime (ma_trt_ros.runtime, ma-trt-match): numpy + OpenCV; each backend brings its own engine
    install_requires=["numpy", "opencv-python-headless>=4.5", "tqdm"],
    extras_require={
        "convert": ["torch>=2.1", "onnx>=1.15", "onnxruntime>=1.17", "onnxslim", "tqdm", "safetensors"],
        "onnxruntime": ["onnxruntime>=1.17"],
        "gpu": ["pycuda", "cuda-python"],
    },
    zip_safe=True,
    entry_points={
        "console_scripts": [
            "ma-trt-convert = ma_trt_convert.cli:main",
            "ma-trt-match = ma_trt_ros.runtime.match_command:main",
        ],
    },
)
