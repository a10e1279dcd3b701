#!/usr/bin/env bash
# ELoFTR 640x480 compiled (the default), trained weights, default budget: pairs per second at batch 1, 4 and 8
# (issue 21, item 5), one GPU call (~3 min):
#   bash bench/eloftr_throughput_gpu.sh OUT_DIR WHEEL_DIR
# bench/eloftr_speed.py --warm on an empty cache: a cold start (no gate), its batch-1 latency, then a graph
# (and a compilation) per batch size.
set -uo pipefail
out="$(mkdir -p "$1" && cd "$1" && pwd)"
source bench/reference_wheels.sh "$2" || exit 1
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$out/device.txt"
cache=$(mktemp -d)
export TORCHINDUCTOR_CACHE_DIR="$cache/inductor" TRITON_CACHE_DIR="$cache/triton"
began=$(date +%s)
timeout 280 python3 bench/eloftr_speed.py --eloftr-checkpoint "${ELOFTR_CHECKPOINT:-weights/matchanything_eloftr_trained.ckpt}" \
  --warm compile_default --throughput --deadline 250 --out "$out/eloftr_throughput.json" >"$out/eloftr_throughput.log" 2>&1
status=$?
echo "eloftr throughput: $(( $(date +%s) - began )) s"; tail -n 3 "$out/eloftr_throughput.log"
exit $status
