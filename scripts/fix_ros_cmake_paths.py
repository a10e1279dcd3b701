"""Rewrite the build machine's Python/numpy include paths hard-coded in the ROS wheels' CMake files.

The ``ros-kilted-*`` wheels export CMake files that name ``/opt/python/cpXY-cpXY/include/pythonX.Y``
and that interpreter's numpy include directory; CMake then stops with "non-existent path". This
replaces them with the paths of the interpreter running this script (the venv's). Usage:
``python scripts/fix_ros_cmake_paths.py VENV_DIR``. Safe to run again.
"""

from __future__ import annotations

import re
import sys
import sysconfig
from pathlib import Path

import numpy

PYTHON_INCLUDE = re.compile(r"/opt/python/cp\d+-cp\d+/include/python3\.\d+")
NUMPY_INCLUDE = re.compile(r"/opt/python/cp\d+-cp\d+/lib/python3\.\d+/site-packages/numpy/(?:_core|core)/include")


def fix_file(path: Path, python_include: str, numpy_include: str) -> bool:
    """Rewrite one file in place; True if it changed."""
    text = path.read_text()
    fixed = PYTHON_INCLUDE.sub(python_include, NUMPY_INCLUDE.sub(numpy_include, text))
    if fixed != text:
        path.write_text(fixed)
    return fixed != text


def main(venv: Path) -> int:
    python_include = sysconfig.get_paths()["include"]
    if not Path(python_include, "Python.h").is_file():
        print(f"Python headers not found at {python_include}: install your distribution's python3-dev")
        return 1
    changed = [p for p in (venv / "share").rglob("*.cmake") if fix_file(p, python_include, numpy.get_include())]
    print(f"fixed {len(changed)} CMake files")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
