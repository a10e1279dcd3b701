"""Markdown table of one or more ``bench/accuracy.py`` results files (matchers side by side, per protocol).

    python bench/accuracy_table.py bench/results/accuracy_eloftr_trained_h200.json \\
        bench/results/accuracy_eloftr_trained_cpu.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

COLUMNS = ("matches_per_pair", "precision_1px", "precision_3px", "precision_5px", "auc_3px", "auc_5px", "auc_10px")
HEADER = "| matcher | run | matches / pair | P@1 px | P@3 px | P@5 px | AUC@3 px | AUC@5 px | AUC@10 px |"


def rows(path: Path, protocol: str) -> list[str]:
    """One table row per matcher of the results file ``path`` for ``protocol``."""
    report = json.loads(path.read_text())
    lines = []
    for name, result in report["matchers"].items():
        values = result[protocol]
        cells = [f"{values[COLUMNS[0]]:.0f}"] + [f"{100 * values[key]:.1f}" for key in COLUMNS[1:]]
        lines.append(f"| {name} | {report['device']} | " + " | ".join(cells) + " |")
    return lines


def main(argv: list[str]) -> int:
    paths = [Path(arg) for arg in argv]
    protocols = json.loads(paths[0].read_text())["protocols"]
    for protocol in protocols:
        print(f"\n{protocol} (precision and AUC in %):\n\n{HEADER}\n" + "| --- " * 9 + "|")
        for path in paths:
            print("\n".join(rows(path, protocol)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
