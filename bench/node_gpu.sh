#!/usr/bin/env bash
# matchanything_node on a GPU machine with real DDS, both variants on the torch fast path (bench/node_gpu.py),
# from the repository root of a machine that has PyTorch (CUDA), numpy, OpenCV, CMake and a compiler but
# no ROS and no registry:
#   bash bench/node_gpu.sh OUT_DIR WHEEL_DIR [eloftr|roma ...]
# Shorter runs: ELOFTR_LIMIT_S, ROMA_LIMIT_S (time limits, s), SATURATION_S, ROMA_LATENCY_PAIRS.
# PY_SPY (a py-spy executable): the latest-policy node runs under py-spy --gil, summarised by
# bench/gil_profile.py into OUT_DIR/node_<variant>_gil.json (which thread holds the GIL, and where).
# WHEEL_DIR holds the ROS 2 Kilted wheels for this Python (bench/node_gpu_wheels.txt lists them, with the
# command that downloads them). bench/ros_venv.sh makes the venv (once); then for each variant the node
# benchmark, each with its own time limit: ELoFTR on the trained weights of weights/ (ELOFTR_CHECKPOINT
# to change), RoMa on synthetic release-layout weights (ma-trt-convert random-checkpoint).
set -uo pipefail
out="$(mkdir -p "$1" && cd "$1" && pwd)"
wheels="$(cd "$2" && pwd)"
shift 2
[ $# -eq 0 ] && set -- eloftr roma
variants=("$@")
venv=/tmp/ma_ros_venv
weights="${WEIGHTS_DIR:-/tmp/ma_weights}"  # synthetic RoMa weights in the release file names, reused when present
eloftr="${ELOFTR_CHECKPOINT:-$PWD/weights/matchanything_eloftr_trained.ckpt}"  # our trained ELoFTR weights
py="$venv/bin/python"
export PYTHONUNBUFFERED=1

step() { echo "== $(date -u +%H:%M:%S) $*"; }

bash bench/ros_venv.sh "$venv" "$wheels" "$out" || exit 1

mkdir -p "$weights"
convert="$venv/bin/ma-trt-convert"

export ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST ROS_DOMAIN_ID=42 ROS_HOME=/tmp/ma_ros_home ROS_LOG_DIR=/tmp/ma_ros_home/log
export FASTDDS_DEFAULT_PROFILES_FILE="$PWD/config/fastdds_large_messages.xml"
unset ROS_LOCALHOST_ONLY ROS_STATIC_PEERS
status=0
profile=()
[ -n "${PY_SPY:-}" ] && profile=(--profile-with "$PY_SPY")
gil_summary() {  # the py-spy profile of node_<variant>: its summary beside the results
  local name="node_$1" raw="$out/node_$1_latest_gil.txt" seconds
  [ -f "$raw" ] || return 0
  seconds="$("$py" -c 'import json, sys; print(json.load(open(sys.argv[1]))["latest"]["node_run_s"])' "$out/$name.json")"
  "$py" bench/gil_profile.py "$raw" --seconds "$seconds" --json "$out/${name}_gil.json"
}
for variant in "${variants[@]}"; do
  step "node: $variant"
  case "$variant" in
  eloftr)
    timeout "${ELOFTR_LIMIT_S:-240}" "$py" bench/node_gpu.py --config config/desktop_torch_eloftr.yaml \
      --set model_path="$eloftr" --set compile_cache_dir=/tmp/ma_compile \
      --latency-hz 20 --rates 40 60 80 100 130 --saturation-hz 400 --saturation-max-s "${SATURATION_S:-60}" --memory-pairs 5000 \
      --out "$out/node_eloftr.json" --logs "$out" "${profile[@]}" || status=1
    gil_summary eloftr
    ;;
  roma)
    roma="$weights/matchanything_roma.ckpt" dinov2="$weights/dinov2_vitl14_pretrain.pth"
    [ -f "$dinov2" ] || "$convert" random-checkpoint --variant roma --output "$roma" --dinov2-output "$dinov2" ||
      { status=1; continue; }
    timeout "${ROMA_LIMIT_S:-330}" "$py" bench/node_gpu.py --config config/desktop_torch_roma.yaml \
      --set model_path="$roma" --set dinov2_path="$dinov2" \
      --latency-pairs "${ROMA_LATENCY_PAIRS:-100}" --latency-hz 5 --rates 10 15 20 --saturation-hz 40 \
      --saturation-max-s "${SATURATION_S:-75}" --memory-pairs 5000 \
      --out "$out/node_roma.json" --logs "$out" "${profile[@]}" || status=1
    gil_summary roma
    ;;
  esac
done
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
exit $status
