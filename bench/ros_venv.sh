#!/usr/bin/env bash
# A Python venv with ROS 2 Kilted (carried wheels), our messages and this project, on a machine without a
# registry, from the repository root:
#   bash bench/ros_venv.sh VENV WHEEL_DIR LOG_DIR
# The venv sees the packages of the Python that makes it (PyTorch, numpy, OpenCV): through
# --system-site-packages, and through a .pth naming that Python's own site-packages when it is itself a
# venv (the GPU machine's python3 is). Then: the wheels (--no-index --no-deps; bench/node_gpu_wheels.txt),
# their CMake files pointed at this Python (scripts/fix_ros_cmake_paths.py), ma_trt_ros_interfaces (msg/)
# built into the venv, and this project installed editable (the runtime finds the torch backend through
# its entry point). Done once: a second call finds VENV/.ready and returns.
set -uo pipefail
venv="$1" wheels="$(cd "$2" && pwd)" logs="$(mkdir -p "$3" && cd "$3" && pwd)"
py="$venv/bin/python"
[ -f "$venv/.ready" ] && exit 0
step() { echo "== $(date -u +%H:%M:%S) $*"; }

step "venv and wheels"
python3 -m venv --system-site-packages "$venv" || exit 1
parent="$(python3 -c 'import site; print(site.getsitepackages()[0])')"
"$py" -c 'import site; print(site.getsitepackages()[0])' | { read -r own; [ "$own" = "$parent" ] || echo "$parent" >"$own/parent_python.pth"; }
"$py" -m pip install -q --no-index --no-deps --no-compile "$wheels"/*.whl || exit 1
"$py" -c 'import sysconfig, pathlib, numpy; p = pathlib.Path(sysconfig.get_paths()["include"], "Python.h"); print("Python.h:", p, p.is_file(), "numpy", numpy.__version__)' || exit 1
"$py" scripts/fix_ros_cmake_paths.py "$venv" || exit 1

step "ma_trt_ros_interfaces"
rm -rf /tmp/ma_interfaces
(
  export AMENT_PREFIX_PATH="$venv" CMAKE_PREFIX_PATH="$venv"
  timeout 300 cmake -S msg -B /tmp/ma_interfaces -DCMAKE_INSTALL_PREFIX="$venv" -DPython3_EXECUTABLE="$py" \
    -DPYTHON_EXECUTABLE="$py" -DBUILD_TESTING=OFF -DCMAKE_BUILD_TYPE=Release >"$logs/interfaces.log" 2>&1 &&
    timeout 300 cmake --build /tmp/ma_interfaces -j "$(nproc)" >>"$logs/interfaces.log" 2>&1 &&
    cmake --install /tmp/ma_interfaces >>"$logs/interfaces.log" 2>&1
) || { tail -30 "$logs/interfaces.log"; exit 1; }

step "project (editable) and imports"
"$py" -m pip install -q --no-deps --no-build-isolation -e . >"$logs/install.log" 2>&1 || { tail -20 "$logs/install.log"; exit 1; }
"$py" -c 'import rclpy, ma_trt_ros_interfaces.msg, torch
from ma_trt_ros.runtime.backends.registry import backend_factory
print("rclpy ok; torch backend:", backend_factory("torch"), "; cuda:", torch.cuda.is_available())' || exit 1
touch "$venv/.ready"
