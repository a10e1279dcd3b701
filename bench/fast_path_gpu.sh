#!/usr/bin/env bash
# The fast-path benchmarks of both variants in one GPU run (bench/fast_path.py), from the repository root:
#   bash bench/fast_path_gpu.sh OUT_DIR WHEEL_DIR
# WHEEL_DIR holds the reference packages the GPU machine lacks (see bench/gpu_batch.sh).
set -uo pipefail
out="$1"
mkdir -p "$out"
source bench/reference_wheels.sh "$2" || exit 1
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm --format=csv,noheader | tee "$out/device.txt"
status=0
timeout 90 python3 bench/fast_path.py --variant eloftr --out "$out/eloftr.json" --profile "$out/eloftr_profile.txt" || status=1
timeout 200 python3 bench/fast_path.py --variant roma --out "$out/roma.json" --profile "$out/roma_profile.txt" || status=1
exit $status
