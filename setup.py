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
    # the runtime (ma_trt_ros.runtime, ma-trt-match) needs numpy + OpenCV, each backend brings its own engine;
    # ma-trt-replay and ma-trt-bag read and write bags with rosbags (pure Python)
    install_requires=["numpy", "opencv-python-headless>=4.5", "tqdm", "rosbags>=0.11,<1"],
    extras_require={
        # export / verify / random-checkpoint: PyTorch and the ONNX tools. From PyPI, torch is the CUDA
        # build (several GB); install PyTorch's CPU build first where no GPU is needed (README).
        "convert": [
            "torch>=2.1,<3",
            "onnx>=1.15,<2",
            "onnxruntime>=1.17,<2",
            "onnxslim>=0.1.98,<0.2",
            "safetensors>=0.4,<1",
            "tqdm>=4.66",
        ],
        # build --target desktop-rtx and check's real parser: TensorRT for RTX (runs on a CPU-only machine)
        "rtx": ["tensorrt-rtx-cu13>=1.7,<2"],
        # build for desktop targets and the runtime's TensorRT backend (NVIDIA's own wheels)
        "tensorrt": ["tensorrt>=10,<12"],
        # the runtime's ONNX Runtime backend
        "onnxruntime": ["onnxruntime>=1.17,<2"],
        # the runtime's GPU buffers (pycuda builds against the installed driver) and CUDA-graph replay
        "gpu": ["pycuda>=2022.1", "cuda-python>=12"],
    },
    zip_safe=True,
    entry_points={
        "console_scripts": [
            "ma-trt-convert = ma_trt_convert.cli:main",
            "ma-trt-match = ma_trt_ros.runtime.match_command:main",
            "matchanything_node = ma_trt_ros.ros.matchanything_node:main",
            "ma-trt-replay = ma_trt_ros.ros.bag_replay:main",
            "ma-trt-bag = ma_trt_ros.ros.bag_matching:main",
        ],
        "ma_trt_ros.backends": ["torch = ma_trt_convert.torch_backend:TorchBackend"],
    },
)
