#!/usr/bin/env bash
# Issue 21, sixth round, second GPU call (~4 min):
#   bash bench/round6_throughput_gpu.sh OUT_DIR WHEEL_DIR
# WHEEL_DIR as for bench/fast_path_gpu.sh.
# 1. the GP solves at RoMa's release size (1600 unknowns, batch 2), timing only: the fast path's Cholesky with
#    two triangular solves against Cholesky with one cholesky_solve and the iterative export solvers
#    (bench/roma_gp_solvers.py);
# 2. ELoFTR 640x480 compiled (the default), trained weights, default budget: pairs per second at batch 1, 4 and 8
#    (bench/eloftr_speed.py --warm on an empty cache: a cold start, no gate, then a graph and a compilation per
#    batch size).
set -uo pipefail
out="$(mkdir -p "$1" && cd "$1" && pwd)"
source bench/reference_wheels.sh "$2" || exit 1
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$out/device.txt"
status=0
timeout 60 python3 bench/roma_gp_solvers.py --device cuda --timing-only --repeats 30 --out "$out/gp_solvers.json" \
  >"$out/gp_solvers.log" 2>&1 || status=1
python3 -c "import json, sys; print(json.load(open(sys.argv[1]))['time_ms'])" "$out/gp_solvers.json"
cache=$(mktemp -d)
export TORCHINDUCTOR_CACHE_DIR="$cache/inductor" TRITON_CACHE_DIR="$cache/triton"
began=$(date +%s)
timeout 250 python3 bench/eloftr_speed.py --eloftr-checkpoint "${ELOFTR_CHECKPOINT:-weights/matchanything_eloftr_trained.ckpt}" \
  --warm compile_default --throughput --deadline 230 --out "$out/eloftr_throughput.json" >"$out/eloftr_throughput.log" 2>&1 \
  || status=1
echo "eloftr throughput: $(( $(date +%s) - began )) s"; tail -n 3 "$out/eloftr_throughput.log"
exit $status
