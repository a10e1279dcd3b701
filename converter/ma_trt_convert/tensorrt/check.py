"""Can the target's TensorRT parse this ONNX? Static op tables plus, where installed, the real parser.

For every target: opset against the parser's maximum, every node against NVIDIA's support table of
that TensorRT version (:mod:`ma_trt_convert.tensorrt.op_support`) and the restrictions that matter for
our graphs. When the target's module is importable here (always ``tensorrt_rtx`` for desktop-rtx;
``tensorrt`` on a machine that has it), the file is also parsed for real and every parser error is
reported with its node. NVIDIA's parser stops at the first node it cannot import, so the static
table is what lists the remaining ones.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import onnx

from ma_trt_convert.errors import ConversionError
from ma_trt_convert.onnx.cleanup import op_histogram
from ma_trt_convert.tensorrt.build import checked_version, create_network, import_tensorrt, make_logger, parse_onnx
from ma_trt_convert.tensorrt.op_support import OpProblem, model_opset, node_restrictions, table_problems
from ma_trt_convert.tensorrt.targets import Target


@dataclass
class CheckReport:
    """Result of :func:`check_onnx`; ``ok`` when nothing would stop the target's parser."""

    target: Target
    opset: int
    op_counts: dict[str, int]
    problems: list[OpProblem] = field(default_factory=list)
    parser: str | None = None
    parser_note: str = ""
    parser_errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.opset <= self.target.max_opset and not self.problems and not self.parser_errors

    def lines(self) -> list[str]:
        """The report as printed by ``ma-trt-convert check``."""
        t = self.target
        out = [f"target {t.name}: {t.summary}"]
        opset_state = "ok" if self.opset <= t.max_opset else f"TOO NEW (its parser takes <= {t.max_opset})"
        out.append(f"opset {self.opset}: {opset_state}")
        out.append(
            f"{sum(self.op_counts.values())} nodes, {len(self.op_counts)} operator types: "
            + ", ".join(f"{k} {v}" for k, v in self.op_counts.items())
        )
        table = f"TensorRT {t.op_table} support table" if t.op_table else "restrictions"
        out.append(f"{table}: " + ("all nodes accepted" if not self.problems else f"{len(self.problems)} problem(s)"))
        out += [f"  {p}" for p in self.problems]
        if self.parser:
            out.append(f"real parser {self.parser}: " + ("parsed" if not self.parser_errors else "FAILED"))
            out += [f"  {e}" for e in self.parser_errors]
        else:
            out.append(f"real parser: not run ({self.parser_note})")
        out.append("check passed" if self.ok else "check FAILED")
        return out


def _real_parse(onnx_path: str | os.PathLike[str], target: Target) -> tuple[str | None, str, list[str]]:
    try:
        trt = import_tensorrt(target)
        version = checked_version(trt, target)
    except ConversionError as exc:
        return None, str(exc), []
    logger = make_logger(trt)
    builder = trt.Builder(logger)
    network = create_network(trt, builder, target)
    _, errors = parse_onnx(trt, network, logger, onnx_path)
    return f"{target.module} {version}", "", errors


def check_onnx(onnx_path: str | os.PathLike[str], target: Target, *, real_parser: bool = True) -> CheckReport:
    """Check ``onnx_path`` for ``target`` (see module docstring)."""
    model = onnx.load(os.fspath(onnx_path), load_external_data=False)
    report = CheckReport(target, model_opset(model), op_histogram(model))
    report.problems = node_restrictions(model)
    if target.op_table:
        report.problems += table_problems(model, target.op_table)
    if real_parser:
        report.parser, report.parser_note, report.parser_errors = _real_parse(onnx_path, target)
    else:
        report.parser_note = "disabled"
    return report
