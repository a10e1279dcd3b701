#!/usr/bin/env bash
# One device command of the ELoFTR training (issue 18), from the repository root on the GPU machine:
#   GIT_COMMIT=<commit> bash bench/train_gpu.sh
# Trains for at most TRAIN_SECONDS (default 470) of wall time, continuing from INIT (release-format
# weights of an earlier chunk, default weights/matchanything_eloftr_trained.ckpt when it exists), then
# writes to $OUT: the log (log.jsonl), the weights split into shards of 11 MiB (weights.part-aa, -ab, ...:
# reassemble with `cat weights.part-* > file.ckpt`), and run_info.json (device, date, commit, seconds).
# With ACCURACY=1 it then runs bench/accuracy.py and the ELoFTR fp16 gate on the new weights
# (GATE_SECONDS and ACCURACY_SECONDS limit them; accuracy.json is rewritten after each matcher).
# Needs the photograph archive at PHOTOS (python -m ma_trt_convert.training photos --source <wheel> ...).
set -euo pipefail
OUT="${OUT:-build/training/out}"
PHOTOS="${PHOTOS:-build/training/photos.npz}"
RUN_DIR="${RUN_DIR:-build/training/run}"
TRAIN_SECONDS="${TRAIN_SECONDS:-470}"
INIT="${INIT:-weights/matchanything_eloftr_trained.ckpt}"
ACCURACY="${ACCURACY:-0}"
ACCURACY_SECONDS="${ACCURACY_SECONDS:-170}"
GATE_SECONDS="${GATE_SECONDS:-45}"
export PYTHONPATH="$PWD/converter:$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
mkdir -p "$OUT" "$RUN_DIR"
device="$(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | head -1)"
started="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
init_args=()
if [[ -f "$INIT" ]]; then init_args=(--init-weights "$INIT"); fi
t0=$(date +%s)
python3 -m ma_trt_convert.training train --config config/training/eloftr.json --photos "$PHOTOS" \
  --out-dir "$RUN_DIR" --device cuda --resume --max-seconds "$TRAIN_SECONDS" "${init_args[@]}" 2>&1 | tee "$OUT/train.log"
t1=$(date +%s)
cp "$RUN_DIR/log.jsonl" "$OUT/log.jsonl"
split -b 11m "$RUN_DIR/eloftr_trained.ckpt" "$OUT/weights.part-"
status=0
if [[ "$ACCURACY" == 1 ]]; then
  timeout "$GATE_SECONDS" python3 bench/eloftr_fp16_deviation.py --checkpoint "$RUN_DIR/eloftr_trained.ckpt" \
    --out "$OUT/fp16_gate.json" > "$OUT/fp16_gate.log" 2>&1 || status=1
  timeout "$ACCURACY_SECONDS" python3 bench/accuracy.py --checkpoint "$RUN_DIR/eloftr_trained.ckpt" \
    --photos "$PHOTOS" --device cuda --commit "${GIT_COMMIT:-unknown}" --out "$OUT/accuracy.json" \
    --matchers torch_fp32,fast_fp16,sift,onnx_fp32,dynamic,onnx_fp16 2>&1 | grep -v 'pair/s' || status=1
fi
t2=$(date +%s)
python3 - "$OUT/run_info.json" "$device" "$started" "${GIT_COMMIT:-unknown}" $((t1 - t0)) $((t2 - t1)) "$INIT" <<'PY'
import json, sys
path, device, started, commit, train_s, after_s, init = sys.argv[1:]
info = {"device": device, "started_utc": started, "commit": commit, "train_wall_s": int(train_s),
        "evaluation_wall_s": int(after_s), "init_weights": init}
open(path, "w").write(json.dumps(info, indent=2) + "\n")
PY
exit $status
