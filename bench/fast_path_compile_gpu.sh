#!/usr/bin/env bash
# torch.compile of the fast path (bench/fast_path.py --compile), cold and warm start, both variants:
#   bash bench/fast_path_compile_gpu.sh OUT_DIR WHEEL_DIR [MODE [VARIANTS]]   (VARIANTS default "eloftr roma")
# WHEEL_DIR as for bench/fast_path_gpu.sh (the ELoFTR run gates the compiled runner against the reference).
# Each variant runs twice, in fresh processes sharing one cache folder (Inductor's and Triton's): the
# first compiles from an empty cache (cold), the second finds the compiled kernels on disk (warm).
# A run cut off by its time limit keeps what its JSON had (the uncompiled runner, no compiled entry).
set -uo pipefail
out="$1"; mode="${3:-default}"; variants="${4:-eloftr roma}"
mkdir -p "$out"
source bench/reference_wheels.sh "$2" || exit 1
status=0
for variant in $variants; do
  cache=$(mktemp -d)
  for start in cold warm; do
    case "$variant/$start" in
      eloftr/cold) limit=90 ;; eloftr/warm) limit=60 ;; roma/cold) limit=130 ;; roma/warm) limit=80 ;;
    esac
    began=$(date +%s)
    TORCHINDUCTOR_CACHE_DIR="$cache/inductor" TRITON_CACHE_DIR="$cache/triton" timeout "$limit" \
      python3 bench/fast_path.py --variant "$variant" --compile "$mode" \
      --out "$out/${variant}_compile_${mode}_${start}.json" || status=1
    echo "$variant $start: $(( $(date +%s) - began )) s of at most $limit"
  done
done
exit $status
