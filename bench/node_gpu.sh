#!/usr/bin/env bash
# matchanything_node on a GPU machine with real DDS, both variants on the torch fast path (bench/node_gpu.py),
# from the repository root of a machine that has PyTorch (CUDA), numpy, OpenCV, CMake and a compiler but
# no ROS and no registry:
#   bash bench/node_gpu.sh OUT_DIR WHEEL_DIR [eloftr|roma ...]
# Shorter runs: ELOFTR_LIMIT_S, ROMA_LIMIT_S (time limits, s), SATURATION_S, ROMA_LATENCY_PAIRS.
# WHEEL_DIR holds the ROS 2 Kilted wheels for this Python (bench/node_gpu_wheels.txt lists them, with the
# command that downloads them). Steps, each with its own time limit: a venv with --system-site-packages
# (keeps PyTorch) and the wheels; ma_trt_ros_interfaces (msg/) built into it; this project installed
# editable (the torch backend is found through its entry point); then for each variant synthetic
# release-layout weights (ma-trt-convert random-checkpoint) and the node benchmark.
set -uo pipefail
out="$(mkdir -p "$1" && cd "$1" && pwd)"
wheels="$(cd "$2" && pwd)"
shift 2
[ $# -eq 0 ] && set -- eloftr roma
variants=("$@")
venv=/tmp/ma_ros_venv
weights="${WEIGHTS_DIR:-/tmp/ma_weights}"  # synthetic weights in the release file names, reused when present
py="$venv/bin/python"
export PYTHONUNBUFFERED=1

step() { echo "== $(date -u +%H:%M:%S) $*"; }

step "venv and wheels"
python3 -m venv --system-site-packages "$venv" || exit 1
"$py" -m pip install -q --no-index --no-deps --no-compile "$wheels"/*.whl || exit 1
"$py" -c 'import sysconfig, pathlib; p = pathlib.Path(sysconfig.get_paths()["include"], "Python.h"); print("Python.h:", p, p.is_file())'
"$py" scripts/fix_ros_cmake_paths.py "$venv" || exit 1

step "ma_trt_ros_interfaces"
rm -rf /tmp/ma_interfaces
(
  export AMENT_PREFIX_PATH="$venv" CMAKE_PREFIX_PATH="$venv"
  timeout 300 cmake -S msg -B /tmp/ma_interfaces -DCMAKE_INSTALL_PREFIX="$venv" -DPython3_EXECUTABLE="$py" \
    -DPYTHON_EXECUTABLE="$py" -DBUILD_TESTING=OFF -DCMAKE_BUILD_TYPE=Release >"$out/interfaces.log" 2>&1 &&
    timeout 300 cmake --build /tmp/ma_interfaces -j "$(nproc)" >>"$out/interfaces.log" 2>&1 &&
    cmake --install /tmp/ma_interfaces >>"$out/interfaces.log" 2>&1
) || { tail -30 "$out/interfaces.log"; exit 1; }

step "project (editable) and imports"
"$py" -m pip install -q --no-deps --no-build-isolation -e . >"$out/install.log" 2>&1 || { tail -20 "$out/install.log"; exit 1; }
"$py" -c 'import rclpy, ma_trt_ros_interfaces.msg, torch
from ma_trt_ros.runtime.backends.registry import backend_factory
print("rclpy ok; torch backend:", backend_factory("torch"), "; cuda:", torch.cuda.is_available())' || exit 1

mkdir -p "$weights"
convert="$venv/bin/ma-trt-convert"

export ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST ROS_DOMAIN_ID=42 ROS_HOME=/tmp/ma_ros_home ROS_LOG_DIR=/tmp/ma_ros_home/log
export FASTDDS_DEFAULT_PROFILES_FILE="$PWD/config/fastdds_large_messages.xml"
unset ROS_LOCALHOST_ONLY ROS_STATIC_PEERS
status=0
for variant in "${variants[@]}"; do
  step "node: $variant"
  case "$variant" in
  eloftr)
    [ -f "$weights/matchanything_eloftr.ckpt" ] ||
      "$convert" random-checkpoint --variant eloftr --output "$weights/matchanything_eloftr.ckpt" || { status=1; continue; }
    timeout "${ELOFTR_LIMIT_S:-240}" "$py" bench/node_gpu.py --config config/desktop_torch_eloftr.yaml \
      --set model_path="$weights/matchanything_eloftr.ckpt" --set compile_cache_dir=/tmp/ma_compile \
      --latency-hz 20 --saturation-hz 400 --saturation-max-s "${SATURATION_S:-60}" --memory-pairs 5000 \
      --out "$out/node_eloftr.json" --logs "$out" || status=1
    ;;
  roma)
    roma="$weights/matchanything_roma.ckpt" dinov2="$weights/dinov2_vitl14_pretrain.pth"
    [ -f "$dinov2" ] || "$convert" random-checkpoint --variant roma --output "$roma" --dinov2-output "$dinov2" ||
      { status=1; continue; }
    timeout "${ROMA_LIMIT_S:-330}" "$py" bench/node_gpu.py --config config/desktop_torch_roma.yaml \
      --set model_path="$roma" --set dinov2_path="$dinov2" \
      --latency-pairs "${ROMA_LATENCY_PAIRS:-100}" --latency-hz 5 --saturation-hz 40 \
      --saturation-max-s "${SATURATION_S:-75}" --memory-pairs 5000 \
      --out "$out/node_roma.json" --logs "$out" || status=1
    ;;
  esac
done
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
exit $status
