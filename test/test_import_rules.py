"""The layers' import rules, read from the source (every ``import``, also those inside functions).

Data flows one way: converter -> contract <- runtime <- ros. Guarded here: nothing in ``ma_trt_ros``
imports the converter; the contract imports neither the runtime nor the ROS glue (and nothing but the
standard library and numpy); the runtime imports neither ROS nor PyTorch; the ROS glue never imports
PyTorch; export (``onnx/``) knows nothing of engine building (``tensorrt/``); and no module, nor any
subpackage, imports itself through others.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = {"ma_trt_ros": ROOT / "ma_trt_ros", "ma_trt_convert": ROOT / "converter" / "ma_trt_convert"}


def _module_name(package: str, root: Path, path: Path) -> str:
    parts = [package, *path.relative_to(root).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_module(name: str) -> bool:
    """``name`` is one of the project's modules or packages (``from pkg import submodule`` imports it)."""
    top, *rest = name.split(".")
    if top not in PACKAGES:
        return False
    base = PACKAGES[top].joinpath(*rest)
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def _imports(tree: ast.AST) -> Iterator[str]:
    """Imported module names; ``from pkg import a, b`` names ``pkg.a`` and ``pkg.b`` where those are
    modules, and ``pkg`` itself where anything else is taken from it."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules = [f"{node.module}.{a.name}" for a in node.names if _is_module(f"{node.module}.{a.name}")]
            yield from modules
            if len(modules) < len(node.names):
                yield node.module


def _import_table() -> dict[str, set[str]]:
    """Every project module -> every module name it imports (anywhere in the file)."""
    table = {}
    for package, root in PACKAGES.items():
        for path in root.rglob("*.py"):
            table[_module_name(package, root, path)] = set(_imports(ast.parse(path.read_text(), str(path))))
    return table


TABLE = _import_table()


def _within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def _violations(source: str, forbidden: tuple[str, ...]) -> list[str]:
    return sorted(
        f"{module} imports {name}"
        for module, names in TABLE.items()
        if _within(module, source)
        for name in names
        if any(_within(name, f) for f in forbidden)
    )


@pytest.mark.parametrize(
    ("source", "forbidden"),
    [
        ("ma_trt_ros", ("ma_trt_convert",)),
        ("ma_trt_ros.contract", ("ma_trt_ros.runtime", "ma_trt_ros.ros")),
        ("ma_trt_ros.runtime", ("ma_trt_ros.ros", "torch", "rclpy")),
        ("ma_trt_ros.ros", ("torch",)),
        ("ma_trt_convert", ("ma_trt_ros.ros", "rclpy")),
        ("ma_trt_convert.onnx", ("ma_trt_convert.tensorrt",)),
        ("ma_trt_convert.tensorrt", ("torch",)),
        ("ma_trt_convert.gpu_probe", ("torch", "pycuda", "ma_trt_convert", "ma_trt_ros")),
        ("ma_trt_convert.engine_limits", ("ma_trt_convert", "ma_trt_ros")),
    ],
)
def test_layer_rule(source: str, forbidden: tuple[str, ...]) -> None:
    assert _violations(source, forbidden) == []


def test_contract_needs_only_the_standard_library_and_numpy() -> None:
    allowed = set(sys.stdlib_module_names) | {"numpy", "ma_trt_ros"}
    outside = sorted(
        f"{module} imports {name}"
        for module, names in TABLE.items()
        if _within(module, "ma_trt_ros.contract")
        for name in names
        if name.split(".")[0] not in allowed
        or (name.startswith("ma_trt_ros") and not _within(name, "ma_trt_ros.contract"))
    )
    assert outside == []


def _unit(module: str, depth: int | None) -> str:
    """The node of a cycle check: the module itself (``depth`` None) or its first ``depth`` name parts."""
    return module if depth is None else ".".join(module.split(".")[:depth])


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for succ in graph.get(node, ()):
            if succ not in index:
                visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in list(graph):
        if node not in index:
            visit(node)
    return found


@pytest.mark.parametrize("depth", [None, 2], ids=["modules", "subpackages"])
def test_no_import_cycle(depth: int | None) -> None:
    """No module imports itself through others; nor does any subpackage (``ma_trt_convert.onnx``,
    ``ma_trt_ros.runtime``, ...)."""
    graph: dict[str, set[str]] = {}
    for module, names in TABLE.items():
        for name in names:
            if name.split(".")[0] in PACKAGES and _unit(name, depth) != _unit(module, depth):
                graph.setdefault(_unit(module, depth), set()).add(_unit(name, depth))
    assert _cycles(graph) == []


def test_the_cycle_check_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
