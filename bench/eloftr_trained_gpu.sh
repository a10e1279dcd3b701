#!/usr/bin/env bash
# The ELoFTR fast path on our trained weights (issue 21: fp16 that passes its gate, ELoFTR under 3 ms):
#   bash bench/eloftr_trained_gpu.sh OUT_DIR WHEEL_DIR
# WHEEL_DIR as for bench/fast_path_gpu.sh (the reference, efficientloftr-inference, is the gate's baseline).
# 1. bench/fast_path.py --variant eloftr on the trained checkpoint: the fidelity gate of our export
#    modules and the fast path in fp32 and fp16 against the reference, latencies, stages.
# 2. the compiled fast fp16 runner (torch.compile "default") with its gate, twice, in fresh processes on one
#    cache folder: cold (compiles), then warm (kernels from the disk cache) — two separate latency runs.
# ELOFTR_CHECKPOINT overrides the weights (default weights/matchanything_eloftr_trained.ckpt).
set -uo pipefail
out="$(mkdir -p "$1" && cd "$1" && pwd)"
source bench/reference_wheels.sh "$2" || exit 1
checkpoint="${ELOFTR_CHECKPOINT:-weights/matchanything_eloftr_trained.ckpt}"
status=0
began=$(date +%s)
timeout 200 python3 bench/fast_path.py --variant eloftr --eloftr-checkpoint "$checkpoint" \
  --out "$out/eloftr_trained.json" --profile "$out/eloftr_trained_profile.txt" >"$out/eloftr_trained.log" 2>&1 || status=1
echo "uncompiled: $(( $(date +%s) - began )) s"
cache=$(mktemp -d)
for start in cold warm; do
  began=$(date +%s)
  TORCHINDUCTOR_CACHE_DIR="$cache/inductor" TRITON_CACHE_DIR="$cache/triton" timeout 150 \
    python3 bench/fast_path.py --variant eloftr --eloftr-checkpoint "$checkpoint" --compile default \
    --out "$out/eloftr_trained_compile_$start.json" >"$out/eloftr_trained_compile_$start.log" 2>&1 || status=1
  echo "compiled, $start: $(( $(date +%s) - began )) s"
done
exit $status
