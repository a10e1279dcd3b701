#!/usr/bin/env bash
# Issue 21, sixth round, one GPU call (~7 min):
#   bash bench/round6_gpu.sh OUT_DIR WHEEL_DIR
# WHEEL_DIR as for bench/fast_path_gpu.sh (romatch and efficientloftr-inference: the gates' baselines).
# 1. RoMa 560/864 fp16, the default uncompiled and compiled by regions (cold, empty cache), timed, with the
#    fidelity gate pooled over 8 image pairs (bench/roma_speed.py --gate-pairs, the one-pair verdict beside it);
# 2. ELoFTR 640x480 on the trained weights at the default match budget (3,072): the uncompiled fast path and
#    the compiled default with the gate, cold (empty cache), then the compiled default again in a new process
#    from the disk cache (warm): two separate latency runs of the compiled default (the "<= 3 ms" target).
set -uo pipefail
out="$(mkdir -p "$1" && cd "$1" && pwd)"
source bench/reference_wheels.sh "$2" || exit 1
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$out/device.txt"
cache=$(mktemp -d)
export TORCHINDUCTOR_CACHE_DIR="$cache/inductor" TRITON_CACHE_DIR="$cache/triton"
status=0
began=$(date +%s)
timeout 250 python3 bench/roma_speed.py --eager fast_fp16 --only compile_regions --gate-pairs 8 --deadline 200 \
  --out "$out/roma_speed.json" >"$out/roma_speed.log" 2>&1 || status=1
echo "roma: $(( $(date +%s) - began )) s"; tail -n 2 "$out/roma_speed.log"
checkpoint="${ELOFTR_CHECKPOINT:-weights/matchanything_eloftr_trained.ckpt}"
began=$(date +%s)
timeout 150 python3 bench/eloftr_speed.py --eloftr-checkpoint "$checkpoint" --eager fast_fp16 --only compile_default \
  --deadline 120 --out "$out/eloftr_speed_trained.json" >"$out/eloftr_speed_trained.log" 2>&1 || status=1
echo "eloftr cold: $(( $(date +%s) - began )) s"; tail -n 2 "$out/eloftr_speed_trained.log"
began=$(date +%s)
timeout 80 python3 bench/eloftr_speed.py --eloftr-checkpoint "$checkpoint" --warm compile_default --deadline 70 \
  --out "$out/eloftr_speed_trained_warm.json" >"$out/eloftr_speed_trained_warm.log" 2>&1 || status=1
echo "eloftr warm: $(( $(date +%s) - began )) s"; tail -n 1 "$out/eloftr_speed_trained_warm.log"
exit $status
