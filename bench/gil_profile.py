"""Summary of a ``py-spy record --threads --gil -f raw`` profile: which thread held Python's GIL, and where.

py-spy with ``--gil`` takes a sample only while some thread holds the GIL, and files it under that thread;
``--threads`` puts the thread first in each folded stack (``thread (ID): NAME;frame;frame... COUNT``). So
a thread's samples over all the samples say its share of the GIL, and all the samples over ``rate ×
seconds`` say how busy the GIL was (``--seconds``: how long the process ran under py-spy).

    python bench/gil_profile.py node_eloftr_latest_gil.txt --seconds 60 --rate 250 [--top 8] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import re
from collections import Counter, defaultdict
from pathlib import Path

LINE = re.compile(r"^thread \(\d+\): (?P<thread>[^;]+);(?P<stack>.*) (?P<count>\d+)$")


def read_profile(path: Path) -> dict[str, Counter[tuple[str, ...]]]:
    """thread name -> Counter of stacks (outermost frame first) -> samples. Threads of one name (a pool)
    are counted together."""
    threads: dict[str, Counter[tuple[str, ...]]] = defaultdict(Counter)
    for line in path.read_text().splitlines():
        found = LINE.match(line)
        if found:
            name = re.sub(r"_\d+$", "", found["thread"])  # ThreadPoolExecutor-0_2 -> ThreadPoolExecutor-0
            threads[name][tuple(found["stack"].split(";"))] += int(found["count"])
    return threads


def own_frames(stacks: Counter[tuple[str, ...]], top: int) -> list[tuple[str, int]]:
    """The ``top`` innermost frames of ``stacks`` by samples (where the time was spent itself)."""
    frames: Counter[str] = Counter()
    for stack, count in stacks.items():
        frames[stack[-1]] += count
    return frames.most_common(top)


def project_frames(stacks: Counter[tuple[str, ...]], top: int) -> list[tuple[str, int]]:
    """The ``top`` innermost frames of this project's code (``ma_trt_ros``) by samples: each sample counts
    for the innermost project frame on its stack (what our code was doing, whatever library it called)."""
    frames: Counter[str] = Counter()
    for stack, count in stacks.items():
        ours = [frame for frame in stack if "ma_trt_ros/" in frame or "ma_trt_convert/" in frame]
        frames[ours[-1] if ours else "(outside the project)"] += count
    return frames.most_common(top)


def summary(path: Path, seconds: float | None, rate_hz: float, top: int) -> dict:
    """Per thread: samples, share of the GIL's samples, share of the run (with ``seconds``), top frames."""
    threads = read_profile(path)
    total = sum(sum(stacks.values()) for stacks in threads.values())
    possible = seconds * rate_hz if seconds else None
    report: dict = {"samples": total, "gil_busy": round(total / possible, 3) if possible else None, "threads": {}}
    for name, stacks in sorted(threads.items(), key=lambda item: -sum(item[1].values())):
        samples = sum(stacks.values())
        report["threads"][name] = {
            "samples": samples,
            "share_of_gil_samples": round(samples / total, 3),
            "share_of_run": round(samples / possible, 3) if possible else None,
            "own_frames": own_frames(stacks, top),
            "project_frames": project_frames(stacks, top),
        }
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("profile", type=Path, help="py-spy raw output (--threads --gil -f raw)")
    parser.add_argument("--seconds", type=float, help="how long the process ran under py-spy, s")
    parser.add_argument("--rate", type=float, default=250.0, help="py-spy's sampling rate, Hz (its -r)")
    parser.add_argument("--top", type=int, default=8, help="frames listed per thread")
    parser.add_argument("--json", type=Path, help="also write the summary here")
    args = parser.parse_args()
    report = summary(args.profile, args.seconds, args.rate, args.top)
    busy = f", GIL held {report['gil_busy']:.0%} of the run" if report["gil_busy"] is not None else ""
    print(f"{report['samples']} samples{busy}")
    for name, thread in report["threads"].items():
        run = f", {thread['share_of_run']:.0%} of the run" if thread["share_of_run"] is not None else ""
        print(f"\n{name}: {thread['samples']} samples, {thread['share_of_gil_samples']:.0%} of the GIL's{run}")
        for frame, count in thread["project_frames"]:
            print(f"  {count:6d}  {frame}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
