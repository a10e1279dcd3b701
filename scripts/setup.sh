#!/usr/bin/env bash
# One-command set-up: creates .venv/ in the repository root with everything the project and its
# tests need (ROS 2 Kilted wheels, the ma_trt_ros_interfaces message build, PyTorch CPU, ONNX,
# ONNX Runtime, TensorRT-RTX, test tools) and installs this package in editable mode.
# Idempotent: each step is skipped when its inputs have not changed since it last succeeded.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
PY="${PYTHON:-python3}"
STAMPS="$VENV/.setup-stamps"

say() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }

# Skip a step when the hash of its inputs equals the one recorded after its last success.
step_hash() { cat "$@" | sha256sum | cut -d' ' -f1; }
step_done() { [[ -f "$STAMPS/$1" && "$(cat "$STAMPS/$1")" == "$2" ]]; }
mark_done() { mkdir -p "$STAMPS"; echo "$2" >"$STAMPS/$1"; }

"$PY" - <<'PYEOF' || { echo "Python >= 3.10 is needed (set PYTHON=/path/to/python3)"; exit 1; }
import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)
PYEOF

if [[ ! -x "$VENV/bin/python" ]]; then
  say "creating $VENV"
  "$PY" -m venv "$VENV"
fi
VPY="$VENV/bin/python"
PIP=("$VPY" -m pip --disable-pip-version-check -q)

cd "$ROOT"
h=$(step_hash requirements/*.txt)
if ! step_done pip "$h"; then
  say "installing Python requirements (first run: a few minutes)"
  "${PIP[@]}" install --upgrade pip setuptools wheel
  "${PIP[@]}" install -r requirements/convert.txt
  "${PIP[@]}" install -r requirements/ros.txt -r requirements/test.txt
  "${PIP[@]}" install --no-deps -r requirements/oracles.txt
  mark_done pip "$h"
fi

h=$(step_hash requirements/ros.txt scripts/fix_ros_cmake_paths.py)
if ! step_done cmake-paths "$h"; then
  say "pointing the ROS wheels' CMake files at this venv's Python and numpy headers"
  "$VPY" scripts/fix_ros_cmake_paths.py "$VENV"
  mark_done cmake-paths "$h"
fi

h=$(step_hash requirements/ros.txt msg/package.xml msg/CMakeLists.txt msg/msg/*.msg)
if ! step_done interfaces "$h"; then
  say "building ma_trt_ros_interfaces (msg/) into the venv"
  rm -rf "$ROOT/build/interfaces" && mkdir -p "$ROOT/build"
  (
    export AMENT_PREFIX_PATH="$VENV" CMAKE_PREFIX_PATH="$VENV"
    cmake -S msg -B build/interfaces -DCMAKE_INSTALL_PREFIX="$VENV" -DPython3_EXECUTABLE="$VPY" \
      -DPYTHON_EXECUTABLE="$VPY" -DBUILD_TESTING=OFF -DCMAKE_BUILD_TYPE=Release >build/interfaces.log 2>&1 &&
      cmake --build build/interfaces -j "$(nproc)" >>build/interfaces.log 2>&1 &&
      cmake --install build/interfaces >>build/interfaces.log 2>&1
  ) || { echo "message build failed; see $ROOT/build/interfaces.log"; exit 1; }
  mark_done interfaces "$h"
fi

h=$(step_hash setup.py pyproject.toml)
if ! step_done package "$h"; then
  say "installing ma_trt_ros and ma_trt_convert (editable)"
  "${PIP[@]}" install --no-deps --no-build-isolation -e .
  mark_done package "$h"
fi

"$VPY" -c "import rclpy, ma_trt_ros_interfaces.msg, ma_trt_convert, tensorrt_rtx, onnxruntime, torch" ||
  { echo "set-up finished but an import failed; remove .venv/ and run again"; exit 1; }
say "ready: . .venv/bin/activate   (ma-trt-convert --help)"
