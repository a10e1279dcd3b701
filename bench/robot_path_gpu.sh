#!/usr/bin/env bash
# Issue 19's GPU measurements in one command, from the repository root of the GPU machine:
#   bash bench/robot_path_gpu.sh OUT_DIR ROS_WHEELS.tar.xz PYCUDA_WHEEL_DIR [PART ...]
# PARTs (default: all, in this order; all four take longer than one 10-minute device call: run
# gpu_tests end_to_end node_eloftr in one call and node_roma in the next):
#   gpu_tests    test/runtime/test_gpu_runtime.py (the CUDA stream/buffer code on the GPU; needs pycuda) and
#                test/runtime/test_torch_backend_gpu.py (the torch backend's CUDA paths)
#   end_to_end   bench/end_to_end.py: runtime end to end against the model, and GPU memory at open
#   node_eloftr  bench/node_gpu.sh eloftr: the node with real DDS (trained weights), saturation until 5,000
#                pairs or ELOFTR_SATURATION_S (default 100 s)
#   node_roma    bench/node_gpu.sh roma: the same for RoMa (synthetic weights), until 5,000 pairs or SATURATION_S
#                (default 330 s)
# ROS_WHEELS.tar.xz comes from bench/pack_ros_wheels.sh; PYCUDA_WHEEL_DIR holds the pycuda wheel for this
# machine and its pure-Python dependencies. Each part's log is OUT_DIR/<part>.log; results are JSON beside it.
# PY_SPY_WHEEL (a py-spy wheel): the node parts also profile which thread holds the GIL (bench/node_gpu.sh).
set -uo pipefail
out="$(mkdir -p "$1" && cd "$1" && pwd)" wheels_tar="$2" pycuda_wheels="$3"
shift 3
[ $# -eq 0 ] && set -- gpu_tests end_to_end node_eloftr node_roma
export PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$out/device.txt"
ros_wheels=/tmp/ma_ros_wheels
status=0
part() {
  local name="$1"
  shift
  echo "== $(date -u +%H:%M:%S) $name"
  "$@" >"$out/$name.log" 2>&1 || { status=1; echo "FAILED (exit $?)"; }
  tail -n 6 "$out/$name.log"
}
unpack_ros_wheels() {
  [ -f "$ros_wheels/.unpacked" ] && return 0
  mkdir -p "$ros_wheels" && tar -xJf "$wheels_tar" -C "$ros_wheels" && touch "$ros_wheels/.unpacked"
}
if [ -n "${PY_SPY_WHEEL:-}" ]; then
  python3 -m pip install -q --no-index --no-deps --target /tmp/ma_pyspy "$PY_SPY_WHEEL" && export PY_SPY=/tmp/ma_pyspy/bin/py-spy
fi
for name in "$@"; do
  case "$name" in
  gpu_tests)
    python3 -m pip install -q --no-index --no-deps --target /tmp/ma_pycuda "$pycuda_wheels"/*.whl || status=1
    part gpu_tests env PYTHONPATH="/tmp/ma_pycuda:$PWD:$PWD/converter:$PWD/test" \
      timeout 180 python3 -m pytest -q -p no:cacheprovider test/runtime/test_gpu_runtime.py test/runtime/test_torch_backend_gpu.py
    ;;
  end_to_end)
    # the runtime finds the torch backend through this project's entry point: install it (editable, no deps)
    python3 -m pip install -q --no-deps --no-build-isolation -e . >"$out/install_project.log" 2>&1 || status=1
    part end_to_end timeout 300 python3 bench/end_to_end.py --cases roma_camera_fp16 eloftr_fp16_compiled \
      roma_camera_fp32 --runs 100 --compile-cache /tmp/ma_compile --out "$out/end_to_end.json"
    ;;
  node_eloftr)
    unpack_ros_wheels || status=1
    part node_eloftr env ELOFTR_LIMIT_S=300 SATURATION_S="${ELOFTR_SATURATION_S:-100}" \
      bash bench/node_gpu.sh "$out" "$ros_wheels" eloftr
    ;;
  node_roma)
    unpack_ros_wheels || status=1
    part node_roma env ROMA_LIMIT_S=$((${SATURATION_S:-330} + 120)) SATURATION_S="${SATURATION_S:-330}" \
      bash bench/node_gpu.sh "$out" "$ros_wheels" roma
    ;;
  *) echo "unknown part $name (gpu_tests, end_to_end, node_eloftr, node_roma)"; status=1 ;;
  esac
done
exit $status
