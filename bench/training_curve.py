"""The training curve of the shipped ELoFTR weights as JSON and a PNG (drawn with OpenCV; no matplotlib).

    python bench/training_curve.py --chunk LOG_DIR_1 --chunk LOG_DIR_2 \
        --out bench/results/training_eloftr_h200

Each ``LOG_DIR`` is the ``$OUT`` of one ``bench/train_gpu.sh`` device command (``log.jsonl`` and
``run_info.json``). Writes ``OUT.json`` (the chunks' run facts and every log line in step order) and
``OUT.png`` (left: the unweighted coarse, fine and offset losses per validation interval; right:
validation precision at 1/3/5 px).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np

PANEL_W, PANEL_H, MARGIN = 560, 360, 50
LOSSES = {"coarse": (200, 80, 0), "fine": (0, 120, 220), "offset": (0, 160, 0)}
PRECISIONS = {"val_precision_1px": (0, 120, 220), "val_precision_3px": (200, 80, 0), "val_precision_5px": (0, 160, 0)}


def read_chunks(folders: list[Path]) -> tuple[list[dict], list[dict]]:
    """``(run facts per chunk, log lines of all chunks in step order)``."""
    runs, lines = [], []
    for index, folder in enumerate(folders):
        runs.append({"chunk": index + 1, **json.loads((folder / "run_info.json").read_text())})
        for text in (folder / "log.jsonl").read_text().splitlines():
            lines.append({"chunk": index + 1, **json.loads(text)})
    return runs, sorted(lines, key=lambda line: line["step"])


def _panel(lines: list[dict], series: dict[str, tuple[int, int, int]], title: str, y_max: float) -> np.ndarray:
    """One white panel: the series against ``step``, y from 0 to ``y_max``, legend top-right."""
    image = np.full((PANEL_H, PANEL_W, 3), 255, np.uint8)
    steps = np.array([line["step"] for line in lines], dtype=np.float64)
    left, top, right, bottom = MARGIN, 30, PANEL_W - 15, PANEL_H - MARGIN
    cv2.rectangle(image, (left, top), (right, bottom), (0, 0, 0), 1)

    def to_pixel(step: float, value: float) -> tuple[int, int]:
        x = left + (right - left) * step / max(steps.max(), 1.0)
        y = bottom - (bottom - top) * min(value, y_max) / y_max
        return round(x), round(y)

    for fraction in (0.25, 0.5, 0.75, 1.0):
        y = to_pixel(0, fraction * y_max)[1]
        cv2.putText(image, f"{fraction * y_max:.3g}", (5, y + 4), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1)
    for step in np.linspace(0, steps.max(), 5):
        x = to_pixel(step, 0)[0]
        cv2.putText(image, f"{int(step)}", (x - 15, bottom + 18), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1)
    cv2.putText(image, "step", (right - 40, bottom + 38), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1)
    cv2.putText(image, title, (left, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (0, 0, 0), 1)
    for row, (key, colour) in enumerate(series.items()):
        points = np.array([to_pixel(line["step"], line[key]) for line in lines], np.int32)
        cv2.polylines(image, [points], False, colour, 2, cv2.LINE_AA)
        label = key.removeprefix("val_")
        cv2.putText(image, label, (right - 150, top + 18 + 16 * row), cv2.FONT_HERSHEY_SIMPLEX, 0.45, colour, 1)
    return image


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chunk", action="append", required=True, type=Path, help="$OUT folder of one chunk, in order")
    parser.add_argument("--out", required=True, help="output path without extension")
    args = parser.parse_args(argv)
    runs, lines = read_chunks(args.chunk)
    Path(f"{args.out}.json").write_text(json.dumps({"chunks": runs, "log": lines}, indent=1) + "\n")
    top = max(line[key] for line in lines for key in LOSSES)
    losses = _panel(lines, LOSSES, "training losses, unweighted (mean per interval)", top)
    precision = _panel(lines, PRECISIONS, "held-out validation precision", 1.0)
    cv2.imwrite(f"{args.out}.png", np.concatenate([losses, precision], axis=1))
    print(f"wrote {args.out}.json and {args.out}.png ({len(lines)} log lines, {len(runs)} chunks)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
