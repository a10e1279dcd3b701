"""Launch files and parameter YAML checked without ``launch`` (not installable here), and the YAML run for real.

Launch files must parse, name executables that setup.py installs, refer to config files that exist
and set only parameters the node declares. Every YAML must document every node parameter with
valid values, and the node must start from it as ``matchanything_node --ros-args --params-file``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import yaml
from support.node_process import start_node
from support.ros_harness import REPO_ROOT, RosEnvironment, RosTestNode, call_idempotent, wait_until

from ma_trt_ros.ros.node_parameters import NodeParameters, parameter_names

LAUNCH_FILES = sorted((REPO_ROOT / "launch").glob("*.launch.py"))
CONFIG_FILES = sorted((REPO_ROOT / "config").glob("*.yaml"))
LAUNCH_ARGUMENT_EXTRAS = {"config", "namespace", "bag", "image0", "image1", "image", "reference"}


def console_scripts() -> set[str]:
    """Names of the console scripts in setup.py's entry_points."""
    tree = ast.parse((REPO_ROOT / "setup.py").read_text())
    entries = [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and " = " in node.value and ":" in node.value
    ]
    return {entry.split(" = ")[0].strip() for entry in entries}


def module_constants(tree: ast.Module) -> dict[str, str]:
    """Module-level ``NAME = "string"`` assignments."""
    return {
        target.id: node.value.value
        for node in tree.body
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)
        for target in node.targets
        if isinstance(target, ast.Name)
    }


def resolved(node: ast.AST, constants: dict[str, str]) -> str | None:
    """The string a constant or a module-level name stands for, else None."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Name):
        return constants.get(node.id)
    return None


def calls(tree: ast.Module, name: str) -> list[ast.Call]:
    """Calls of ``name(...)`` anywhere in ``tree``."""
    return [n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "id", None) == name]


def keyword(call: ast.Call, name: str) -> ast.AST | None:
    return next((k.value for k in call.keywords if k.arg == name), None)


def test_there_are_the_two_launch_files_and_five_configs() -> None:
    assert [p.name for p in LAUNCH_FILES] == ["bag_replay.launch.py", "matchanything.launch.py"]
    assert [p.name for p in CONFIG_FILES] == [
        "desktop_eloftr.yaml",
        "desktop_roma.yaml",
        "desktop_torch_eloftr.yaml",
        "desktop_torch_roma.yaml",
        "jetson_orin_eloftr.yaml",
    ]


@pytest.mark.parametrize("path", LAUNCH_FILES, ids=lambda p: p.name)
def test_launch_file_names_existing_executables_configs_and_parameters(path: Path) -> None:
    tree = ast.parse(path.read_text(), filename=str(path))
    constants = module_constants(tree)
    assert any(isinstance(n, ast.FunctionDef) and n.name == "generate_launch_description" for n in tree.body)
    scripts = console_scripts()
    nodes = calls(tree, "Node")
    assert nodes, "no Node action"
    for node in nodes:
        assert resolved(keyword(node, "package"), constants) == "ma_trt_ros"
        assert resolved(keyword(node, "executable"), constants) in scripts
    for process in calls(tree, "ExecuteProcess"):
        command = keyword(process, "cmd")
        assert isinstance(command, ast.List) and resolved(command.elts[0], constants) in scripts
    strings = [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)]
    strings += list(constants.values())
    for name in (s for s in strings if s.endswith((".yaml", ".xml"))):
        assert (REPO_ROOT / "config" / name).is_file(), f"{path.name} refers to missing config/{name}"
    for mapping in (n for n in ast.walk(tree) if isinstance(n, ast.Dict)):
        keys = [resolved(k, constants) for k in mapping.keys if k is not None]
        if "model_path" in keys or "queue_policy" in keys:
            assert set(keys) <= set(parameter_names()), f"unknown parameters in {path.name}: {keys}"
    for argument in calls(tree, "DeclareLaunchArgument"):
        name = resolved(argument.args[0], constants) if argument.args else None
        assert name is None or name in LAUNCH_ARGUMENT_EXTRAS | set(parameter_names()), name
    imports = [n for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module.startswith("ma_trt_ros")]
    for statement in imports:
        module = __import__(statement.module, fromlist=[a.name for a in statement.names])
        assert all(hasattr(module, a.name) for a in statement.names)


@pytest.mark.parametrize("path", CONFIG_FILES, ids=lambda p: p.name)
def test_config_documents_every_parameter_with_a_valid_value(path: Path) -> None:
    values = yaml.safe_load(path.read_text())["/**"]["ros__parameters"]
    assert list(values) == parameter_names()
    params = NodeParameters.from_values(values)
    assert params.autostart and params.input_mode == "pair"
    lines = path.read_text().splitlines()
    for name in values:
        index = next(i for i, line in enumerate(lines) if line.strip().startswith(f"{name}:"))
        assert lines[index - 1].strip().startswith("#"), f"{name} in {path.name} has no comment"


def parameter_value(value: object) -> object:
    """The Python value of an rcl_interfaces ParameterValue (bool, integer, double or string)."""
    from rcl_interfaces.msg import ParameterType

    fields = {
        ParameterType.PARAMETER_BOOL: "bool_value",
        ParameterType.PARAMETER_INTEGER: "integer_value",
        ParameterType.PARAMETER_DOUBLE: "double_value",
        ParameterType.PARAMETER_STRING: "string_value",
    }
    return getattr(value, fields[value.type])


@pytest.mark.ros
@pytest.mark.timeout(120)
@pytest.mark.parametrize("path", CONFIG_FILES, ids=lambda p: p.name)
def test_node_starts_from_the_config_file(ros_env: RosEnvironment, ros_node: RosTestNode, path: Path) -> None:
    from rcl_interfaces.srv import GetParameters

    values = yaml.safe_load(path.read_text())["/**"]["ros__parameters"]
    variant = "roma" if "roma" in path.name else "eloftr"
    ns = f"/config_{path.stem}"
    overrides = {"model_path": f"fake:{variant}", "backend": "auto"}
    with start_node(ros_env, ns, overrides, params_file=path) as node:
        wait_until(lambda: "configured:" in node.output(), 30.0, "the node to configure")
        client = ros_node.node.create_client(GetParameters, f"{ns}/matchanything_node/get_parameters")
        assert client.wait_for_service(timeout_sec=20.0)
        names = ["geometry", "dense_stride", "max_rate_hz", "queue_policy", "model_path"]
        got = [parameter_value(v) for v in call_idempotent(client, GetParameters.Request(names=names)).values]
        assert node.returncode is None
    assert got == [values[n] for n in names[:-1]] + [f"fake:{variant}"]
    assert f"configured: fake:{variant}@00000000 ({variant}) on test_double, input mode pair" in node.output()
