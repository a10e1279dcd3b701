#!/usr/bin/env bash
# ELoFTR fast-path variants (bench/eloftr_speed.py) on the GPU, then a warm start of the compiled ones:
#   bash bench/eloftr_speed_gpu.sh OUT_DIR WHEEL_DIR [SUFFIX]
# The first process compiles from an empty cache folder (Inductor's and Triton's); the second, a new
# process on the same folder, builds two compiled variants again from it (the warm start).
set -uo pipefail
out="$1"; suffix="${3:-run5}"
mkdir -p "$out"
source bench/reference_wheels.sh "$2" || exit 1
cache=$(mktemp -d)
export TORCHINDUCTOR_CACHE_DIR="$cache/inductor" TRITON_CACHE_DIR="$cache/triton"
status=0
timeout 205 python3 bench/eloftr_speed.py --out "$out/eloftr_speed_$suffix.json" --deadline 188 \
  --profile "$out/eloftr_compiled_profile_$suffix.txt" || status=1
timeout 90 python3 bench/eloftr_speed.py --out "$out/eloftr_speed_warm_$suffix.json" --deadline 85 \
  --warm compile_default compile_default_channels_last || status=1
exit $status
