"""How the node obtains its matcher: the runtime's ``open_matcher``, or a factory named by an environment variable.

A factory is a callable ``factory(model_path: str, backend: str, options: MatchOptions,
settings: BackendSettings) -> matcher``
with the runtime matcher's interface (``variant``, ``backend_name``, ``model_id``, ``input_color``,
``takes_uint8_images``, ``match``, ``match_batch``, ``gpu_memory_bytes``, ``close``).

:data:`FACTORY_VARIABLE` (``MA_TRT_ROS_MATCHER_FACTORY``) exists for tests that start the node in a
separate process: its value ``package.module:function`` names a factory to use instead of the
runtime (our tests name the test double ``test/support/fake_matcher.py``). Deployments leave it unset.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from typing import Any

FACTORY_VARIABLE = "MA_TRT_ROS_MATCHER_FACTORY"

MatcherFactory = Callable[[str, str, Any, Any], Any]


def runtime_factory(model_path: str, backend: str, options: Any, settings: Any) -> Any:
    """The runtime's ``open_matcher`` (imported on first use)."""
    from ma_trt_ros.runtime import open_matcher

    return open_matcher(model_path, backend=backend, options=options, settings=settings)


def load_factory(spec: str) -> MatcherFactory:
    """The callable named by ``spec`` = ``module:function``; ValueError when it cannot be found."""
    module_name, _, function_name = spec.partition(":")
    if not module_name or not function_name:
        raise ValueError(f"{FACTORY_VARIABLE}={spec!r} must have the form package.module:function")
    try:
        factory = getattr(importlib.import_module(module_name), function_name)
    except (ImportError, AttributeError) as error:
        raise ValueError(f"{FACTORY_VARIABLE}={spec!r} cannot be loaded: {error}") from error
    if not callable(factory):
        raise ValueError(f"{FACTORY_VARIABLE}={spec!r} is not callable")
    return factory


def factory_from_environment() -> MatcherFactory:
    """The factory named by :data:`FACTORY_VARIABLE` when set, else :func:`runtime_factory`."""
    spec = os.environ.get(FACTORY_VARIABLE, "")
    return load_factory(spec) if spec else runtime_factory
