"""Which ONNX operators each TensorRT version's ONNX parser takes, from NVIDIA's support tables.

The tables (:data:`ma_trt_convert.engine_limits.UNSUPPORTED_OPS`, with their source) list the
operators marked **N** (not supported); an operator that the table does not list at all is also
reported (as "not in the support table"). TensorRT 11 and TensorRT-RTX are not tabulated: ``check``
parses with the real parser for them when the module is installed (always the case for
``desktop-rtx`` here).

Restrictions that matter for the MatchAnything graphs are checked separately (see
:func:`node_restrictions`): TopK with K >= 3840, antialiased Resize, GridSample at opset >= 20
(wrong results on TensorRT 10.13), float64 tensors; and, in the 8.5 table, cubic Resize (8.5
resizes nearest/linear only).
"""

from __future__ import annotations

from dataclasses import dataclass

import onnx

from ma_trt_convert.engine_limits import TOPK_LIMIT, UNSUPPORTED_OPS


@dataclass(frozen=True)
class OpProblem:
    """One node the target's parser will not take (or takes wrongly)."""

    node: str
    op_type: str
    reason: str

    def __str__(self) -> str:
        return f"{self.node or '<unnamed>'} ({self.op_type}): {self.reason}"


def model_opset(model: onnx.ModelProto) -> int:
    """The ai.onnx opset the model imports."""
    return next(op.version for op in model.opset_import if op.domain in ("", "ai.onnx"))


def _int_initializer(model: onnx.ModelProto, name: str) -> list[int] | None:
    for init in model.graph.initializer:
        if init.name == name:
            return onnx.numpy_helper.to_array(init).reshape(-1).tolist()
    for node in model.graph.node:
        if node.op_type == "Constant" and node.output[0] == name:
            return onnx.numpy_helper.to_array(node.attribute[0].t).reshape(-1).tolist()
    return None


def _attribute(node: onnx.NodeProto, name: str) -> object:
    return next((onnx.helper.get_attribute_value(a) for a in node.attribute if a.name == name), None)


def node_restrictions(model: onnx.ModelProto) -> list[OpProblem]:
    """Restrictions every TensorRT version has for our graphs (independent of the op tables)."""
    problems: list[OpProblem] = []
    opset = model_opset(model)
    for node in model.graph.node:
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        if node.op_type == "TopK" and len(node.input) > 1:
            k = _int_initializer(model, node.input[1])
            if k is None:
                problems.append(OpProblem(node.name, "TopK", "K is not a constant"))
            elif k[0] >= TOPK_LIMIT:
                problems.append(OpProblem(node.name, "TopK", f"K={k[0]} >= {TOPK_LIMIT}"))
        elif node.op_type == "Resize" and attrs.get("antialias", 0):
            problems.append(OpProblem(node.name, "Resize", "antialiased Resize is rejected"))
        elif node.op_type == "GridSample" and opset >= 20:
            problems.append(
                OpProblem(
                    node.name, "GridSample", f"opset {opset}: TensorRT 10.13 computes it wrongly, export opset 17"
                )
            )
        elif node.op_type in ("Cast", "ConstantOfShape") and attrs.get("to") == onnx.TensorProto.DOUBLE:
            problems.append(OpProblem(node.name, node.op_type, "casts to float64"))
    problems += [
        OpProblem(init.name, "initializer", "float64 weights")
        for init in model.graph.initializer
        if init.data_type == onnx.TensorProto.DOUBLE
    ]
    return problems


def table_problems(model: onnx.ModelProto, table: str) -> list[OpProblem]:
    """Nodes whose operator table ``table`` (``"8.5"`` or ``"10"``) marks unsupported or does not list."""
    unsupported = UNSUPPORTED_OPS[table]
    known = {schema.name for schema in onnx.defs.get_all_schemas()}
    problems = []
    for node in model.graph.node:
        if node.domain not in ("", "ai.onnx"):
            problems.append(OpProblem(node.name, node.op_type, f"custom domain {node.domain!r} needs a plugin"))
        elif node.op_type in unsupported:
            problems.append(OpProblem(node.name, node.op_type, f"not supported by TensorRT {table} (operators.md)"))
        elif table == "8.5" and node.op_type == "Resize" and _attribute(node, "mode") == b"cubic":
            problems.append(OpProblem(node.name, "Resize", "cubic mode: TensorRT 8.5 resizes nearest/linear only"))
        elif node.op_type not in known:
            problems.append(OpProblem(node.name, node.op_type, "not an ONNX operator"))
    return problems
