#!/usr/bin/env bash
# Every GPU measurement of the model ports in one run (the GPU is lent for minutes at a time).
# Usage on a CUDA machine with PyTorch, from the repository root:
#   bash bench/gpu_batch.sh OUT_DIR [WHEEL_DIR]
# WHEEL_DIR holds wheels of what that machine lacks (romatch, efficientloftr-inference, kornia 0.7.4,
# kornia_rs, loguru); they are installed into a private folder, never into the system.
set -uo pipefail
out="$1"; wheels="${2:-}"
mkdir -p "$out"
if [[ -n "$wheels" ]]; then
  source bench/reference_wheels.sh "$wheels" || exit 1
fi
export PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$out/device.txt"
python3 -c "import torch, torchvision; print('torch', torch.__version__, 'torchvision', torchvision.__version__)" \
  | tee -a "$out/device.txt"
status=0
run() { local name="$1"; shift; echo "== $name: $*"; "$@" >"$out/$name.log" 2>&1 || { status=1; echo "FAILED"; }
        tail -n 25 "$out/$name.log"; }
run roma_parity python3 bench/roma_gpu_parity.py --out "$out/roma_parity_560_864.json" --coarse-res 560 --upsample-res 864
run gp_solvers python3 bench/roma_gp_solvers.py --device cuda --out "$out/gp_solvers_cuda.json" --repeats 10
run eloftr_fp16 python3 bench/eloftr_fp16_deviation.py --out "$out/eloftr_fp16_640x480.json"
exit $status
