"""``py:MODULE_OR_FILE:ATTR?opts``: a model class or factory from the user's own code.

``ATTR`` is called with the spec's options as keyword arguments (numbers and true/false converted).
``MODULE_OR_FILE`` is a dotted module name or a path to a ``.py`` file (relative to the working directory).
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from typing import Any

from pytest_lmbench.core.errors import ConfigError
from pytest_lmbench.core.models.base import Model
from pytest_lmbench.core.models.spec import Backend, ModelSpec


def _convert(value: str) -> Any:
    low = value.lower()
    if low in ("true", "false"):
        return low == "true"
    for cast in (int, float):
        try:
            return cast(value)
        except ValueError:
            pass
    return value


def _import(where: str, spec: ModelSpec) -> Any:
    if where.endswith(".py") or os.sep in where or "/" in where:
        path = os.path.abspath(where)
        if not os.path.isfile(path):
            raise ConfigError(f"--lm-model {spec.public!r}: file {where!r} not found")
        name = "_lmbench_user_model_" + os.path.splitext(os.path.basename(path))[0]
        module_spec = importlib.util.spec_from_file_location(name, path)
        if module_spec is None or module_spec.loader is None:
            raise ConfigError(f"--lm-model {spec.public!r}: cannot import {where!r}")
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[name] = module
        module_spec.loader.exec_module(module)
        return module
    try:
        return importlib.import_module(where)
    except ModuleNotFoundError as exc:
        raise ConfigError(f"--lm-model {spec.public!r}: cannot import module {where!r} ({exc})") from None


def load_python_model(spec: ModelSpec) -> Model:
    where, sep, attr = spec.target.rpartition(":")
    if not sep or not where or not attr:
        raise ConfigError(f"--lm-model {spec.public!r}: the form is py:MODULE_OR_FILE:ATTR, "
                          "e.g. py:mymodels:EchoModel or py:models.py:make_model")
    module = _import(where, spec)
    try:
        factory = getattr(module, attr)
    except AttributeError:
        raise ConfigError(f"--lm-model {spec.public!r}: {where!r} has no attribute {attr!r}") from None
    options = {k: _convert(v) for k, v in spec.options.items() if k != "name"}
    try:
        return factory(**options)
    except TypeError as exc:
        raise ConfigError(f"--lm-model {spec.public!r}: calling {attr} with {sorted(options)} failed: {exc}") \
            from None


#: The user's own class: not cached (it may not be pure), its options passed to it converted.
PYTHON = Backend(name="py", factory=load_python_model)
