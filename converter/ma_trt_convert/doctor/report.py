"""The doctor's verdict and how it is shown: a table, the install steps for what is missing, JSON.

Exit codes: with a target, 0 when it is ready (every required need met) and 1 otherwise. Without a
target, 0 unless nothing that runs or builds a model is importable (no TensorRT module of any kind,
no ONNX Runtime, no PyTorch): then 1, since only ``--help`` would work.
"""

from __future__ import annotations

import platform
import textwrap
from dataclasses import asdict, dataclass
from typing import Any

from ma_trt_convert.doctor.checks import Inventory
from ma_trt_convert.doctor.requirements import (
    INSTALL,
    Verdict,
    is_jetson,
    judge_target,
    platform_note,
    ready,
    remedy,
)
from ma_trt_convert.tensorrt.targets import TARGETS, Target

ROW_ORDER = (
    "python",
    "gpu",
    "cuda-runtime",
    "tensorrt",
    "tensorrt_rtx",
    "tensorrt_lean",
    "pycuda",
    "cuda-python",
    "onnxruntime",
    "torch",
    "onnx",
    "onnxslim",
    "cv2",
    "rclpy",
    "messages",
)
# what runs or builds a model at all: one of these makes the machine useful
ENGINES = ("tensorrt", "tensorrt_rtx", "tensorrt_lean", "onnxruntime", "torch")


@dataclass(frozen=True)
class Report:
    """The doctor's result: what was found, the target's verdicts (empty without one), the exit code."""

    inventory: Inventory
    target: Target | None
    with_ros: bool
    verdicts: tuple[Verdict, ...]
    exit_code: int


def make_report(inventory: Inventory, target: Target | None, *, with_ros: bool = True) -> Report:
    """Judge ``target`` (or the machine as a whole) against ``inventory``."""
    if target is None:
        useful = any(inventory.findings[name].present for name in ENGINES)
        return Report(inventory, None, with_ros, (), 0 if useful else 1)
    verdicts = tuple(judge_target(target, inventory, with_ros=with_ros))
    return Report(inventory, target, with_ros, verdicts, 0 if ready(list(verdicts)) else 1)


def missing_required(target: Target, inventory: Inventory, *, with_ros: bool) -> list[str]:
    """The problems that keep ``target`` from running here (empty: ready)."""
    return [v.problem for v in judge_target(target, inventory, with_ros=with_ros) if v.need.required and not v.met]


def _status(verdict: Verdict | None, present: bool) -> str:
    """``ok``, ``MISSING``/``MISMATCH`` (required), ``optional`` (not required, missing) or ``-`` (not needed)."""
    if verdict is None:
        return "-"
    if verdict.met:
        return "ok" if not verdict.note else "ok, see note"
    if not verdict.need.required:
        return "optional"
    return "MISMATCH" if present else "MISSING"


def table(rows: list[tuple[str, ...]], wrap: dict[int, int]) -> list[str]:
    """Rows as aligned text columns; column ``i`` wraps at ``wrap[i]`` characters where given."""
    wrapped = [
        [
            textwrap.wrap(cell, wrap[i], break_on_hyphens=False) or [""] if i in wrap else [cell]
            for i, cell in enumerate(row)
        ]
        for row in rows
    ]
    widths = [max(len(line) for row in wrapped for line in row[i]) for i in range(len(rows[0]))]
    lines = []
    for index, row in enumerate(wrapped):
        for depth in range(max(len(cell) for cell in row)):
            parts = [
                (cell[depth] if depth < len(cell) else "").ljust(width) for cell, width in zip(row, widths, strict=True)
            ]
            lines.append("  ".join(parts).rstrip())
        if index == 0:
            lines.append("  ".join("-" * width for width in widths))
    return lines


def machine_line(inventory: Inventory) -> str:
    """``machine: Linux x86_64; not a Jetson``."""
    jetson = f"Jetson, {inventory.jetpack}" if inventory.jetpack else "not a Jetson"
    return f"machine: {platform.system()} {platform.machine()}; {jetson}"


def works_here(inventory: Inventory) -> list[str]:
    """What runs on this machine whatever the targets' verdicts (a CPU-only machine included)."""
    present = {name for name, finding in inventory.findings.items() if finding.present}
    usable = [
        ({"onnxruntime"}, "ma-trt-match and the node on an exported .onnx (ONNX Runtime backend, CPU)"),
        ({"torch"}, "the torch backend on the release checkpoints (CPU: slow)"),
        ({"torch", "onnx", "onnxslim"}, "ma-trt-convert export and verify"),
        ({"tensorrt_rtx"}, "ma-trt-convert build --target desktop-rtx (plans for RTX GPUs; builds without a GPU)"),
        ({"rclpy", "messages"}, "matchanything_node, ma-trt-replay and ma-trt-bag"),
    ]
    return [text for needs, text in usable if needs <= present]


def _works_here_lines(inventory: Inventory) -> list[str]:
    works = works_here(inventory)
    return ["", "works here: " + ("; ".join(works) if works else "nothing that runs or builds a model")]


def _target_lines(report: Report) -> list[str]:
    target = report.target
    assert target is not None
    by_component = {v.need.component: v for v in report.verdicts}
    rows = [("component", "found", "needed for", "status")]
    for name in ROW_ORDER:
        finding = report.inventory.findings[name]
        verdict = by_component.get(name)
        rows.append(
            (
                finding.label,
                finding.found_text(),
                verdict.need.purpose if verdict else "-",
                _status(verdict, finding.present),
            )
        )
    lines = [f"target {target.name}: {target.summary}", "", *table(rows, {1: 44, 2: 28})]
    unmet = [v for v in report.verdicts if not v.met]
    if unmet:
        wording = "JetPack" if is_jetson(target) else "desktop"
        lines += ["", f"to install ({wording} wording):"]
        for verdict in unmet:
            kind = "required" if verdict.need.required else "optional"
            lines.append(f"- {verdict.problem} ({kind}: {verdict.need.purpose}):")
            lines.append(f"    {remedy(verdict, target, report.inventory)}")
    notes = [f"- {v.need.component}: {v.note}" for v in report.verdicts if v.note]
    machine = platform_note(target, report.inventory.jetpack)
    if machine:
        notes.append(f"- machine: {machine}")
    if notes:
        lines += ["", "notes:", *notes]
    ros = "" if report.with_ros else " (ROS node left out: --no-ros)"
    problems = [v.problem for v in report.verdicts if v.need.required and not v.met]
    verdict_line = "READY" if not problems else f"NOT READY: {'; '.join(problems)}"
    works = _works_here_lines(report.inventory) if problems else []
    return [*lines, "", f"target {target.name}{ros}: {verdict_line}", *works]


def _overview_lines(report: Report) -> list[str]:
    inventory = report.inventory
    rows = [("component", "found")]
    rows += [(inventory.findings[name].label, inventory.findings[name].found_text()) for name in ROW_ORDER]
    lines = [*table(rows, {1: 70}), "", "targets (ready = can build and run plans here; details: --target NAME):"]
    for target in TARGETS.values():
        problems = missing_required(target, inventory, with_ros=report.with_ros)
        lines.append(f"- {target.name}: {'ready' if not problems else 'not ready: ' + '; '.join(problems)}")
    lines += _works_here_lines(inventory)
    missing = [name for name in ROW_ORDER if not inventory.findings[name].present and name != "cuda-runtime"]
    if missing:
        lines += ["", "to install what is missing:"]
        for name in missing:
            lines.append(f"- {inventory.findings[name].label}:")
            desktop, jetpack = INSTALL[name]
            lines += [f"    desktop: {desktop}", f"    JetPack: {jetpack}"]
    if report.exit_code:
        lines += ["", "nothing here runs or builds a model: no TensorRT module, ONNX Runtime or PyTorch"]
    return lines


def render_text(report: Report) -> str:
    """The whole report as text."""
    head = [machine_line(report.inventory), ""]
    body = _target_lines(report) if report.target is not None else _overview_lines(report)
    return "\n".join(head + body)


def to_json(report: Report) -> dict[str, Any]:
    """The report as a JSON-able dict (``components``, ``gpu``, ``target``, ``needs``, ``targets``, ``exit_code``)."""
    inventory = report.inventory
    gpu = inventory.gpu
    return {
        "machine": {"system": platform.system(), "arch": platform.machine(), "jetpack": inventory.jetpack or None},
        "components": {
            name: {
                "label": f.label,
                "present": f.present,
                "version": f.version or None,
                "details": list(f.details),
                "error": f.error or None,
                "install": None
                if f.present or name not in INSTALL
                else dict(zip(("desktop", "jetpack"), INSTALL[name], strict=True)),
            }
            for name in ROW_ORDER
            for f in (inventory.findings[name],)
        },
        "gpu": None if gpu is None else asdict(gpu),
        "target": report.target.name if report.target else None,
        "machine_note": (platform_note(report.target, inventory.jetpack) or None) if report.target else None,
        "needs": [
            {
                "component": v.need.component,
                "for": v.need.purpose,
                "required": v.need.required,
                "met": v.met,
                "problem": v.problem or None,
                "note": v.note or None,
                "install": None if v.met or report.target is None else remedy(v, report.target, inventory),
            }
            for v in report.verdicts
        ],
        "targets": {
            t.name: {"ready": not (p := missing_required(t, inventory, with_ros=report.with_ros)), "problems": p}
            for t in TARGETS.values()
        },
        "works_here": works_here(inventory),
        "exit_code": report.exit_code,
    }
