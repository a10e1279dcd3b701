#!/usr/bin/env bash
# RoMa 560/864 fast-path variants (issue 21: fp16 that passes its gate, RoMa's refiners fused), one GPU call:
#   bash bench/roma_speed_gpu.sh OUT_DIR WHEEL_DIR
# WHEEL_DIR as for bench/fast_path_gpu.sh (romatch is the gate's baseline and allowance).
# First test/converter/test_triton_kernels_gpu.py (the fast path's Triton kernels, the RoMa default among them), then
# bench/roma_speed.py twice, in fresh processes on one cache folder, with a fp16 diagnosis between:
# 1. the uncompiled variants (the default with the Triton correlation, the gathered one, refiners kept in fp32)
#    and the compiled ones of COMPILED (below: by regions, with either correlation),
#    each with the fidelity gate, the first compiled one from an empty cache (cold start), a kernel profile;
# 2. bench/roma_fp16_stages.py on STAGES_PAIRS image pairs (default 8; 0 skips it, STAGES_S limits it, default
#    220 s): where fp16 moves the result, stage by stage, ours against romatch fp16, anchors forced and not;
# 3. the first compiled variant again from the disk cache (warm start), with its batch throughput (1, 4, 8).
# COLD_S (default 330) limits step 1 (compiled variants start until 40 s before it); WARM=0 skips step 3;
# ROMA_COMPILED / ROMA_EAGER name the compiled / uncompiled variants of step 1 (default: COMPILED / all).
set -uo pipefail
out="$(mkdir -p "$1" && cd "$1" && pwd)"
source bench/reference_wheels.sh "$2" || exit 1
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$out/device.txt"
compiled=(${ROMA_COMPILED:-compile_regions compile_regions_gathered_correlation})
cache=$(mktemp -d)
export TORCHINDUCTOR_CACHE_DIR="$cache/inductor" TRITON_CACHE_DIR="$cache/triton"
status=0
# the Triton kernels against the forms they replace (the models' shapes, compiled, CUDA graph), RoMa's default
PYTHONPATH="$PWD:$PWD/converter:$PWD/test${PYTHONPATH:+:$PYTHONPATH}" timeout "${TESTS_S:-90}" python3 -m pytest -q -p no:cacheprovider \
  test/converter/test_triton_kernels_gpu.py >"$out/triton_kernel_tests.log" 2>&1 || status=1
tail -n 2 "$out/triton_kernel_tests.log"
began=$(date +%s)
cold_s="${COLD_S:-330}"
eager=()
[ -n "${ROMA_EAGER:-}" ] && eager=(--eager $ROMA_EAGER)
timeout "$cold_s" python3 bench/roma_speed.py --only "${compiled[@]}" "${eager[@]}" --deadline $((cold_s - 40)) \
  --out "$out/roma_speed.json" \
  --profile "$out/roma_compiled_profile.txt" >"$out/roma_speed.log" 2>&1 || status=1
echo "cold: $(( $(date +%s) - began )) s"; tail -n 8 "$out/roma_speed.log"
if [ "${STAGES_PAIRS:-8}" -gt 0 ]; then
  began=$(date +%s)
  timeout "${STAGES_S:-220}" python3 bench/roma_fp16_stages.py --pairs "${STAGES_PAIRS:-8}" --compiled \
    --out "$out/roma_fp16_stages.json" >"$out/roma_fp16_stages.log" 2>&1 || status=1
  echo "fp16 stages: $(( $(date +%s) - began )) s"; tail -n 20 "$out/roma_fp16_stages.log"
fi
[ "${WARM:-1}" = 1 ] || exit $status
began=$(date +%s)
timeout 150 python3 bench/roma_speed.py --warm "${compiled[0]}" --deadline 140 --out "$out/roma_speed_warm.json" \
  >"$out/roma_speed_warm.log" 2>&1 || status=1
echo "warm: $(( $(date +%s) - began )) s"; tail -n 3 "$out/roma_speed_warm.log"
exit $status
