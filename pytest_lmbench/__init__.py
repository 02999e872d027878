"""pytest-lmbench: language-model evaluation tasks as pytest tests.

The evaluation core (``tasks``, ``models``, ``scoring``, ``evaluate``, ``results``) knows nothing about
pytest; ``plugin`` and ``report`` are the thin pytest layer on top of it.

The public names below are imported on first use (PEP 562 ``__getattr__``): pytest loads the ``pytest11``
entry point ``pytest_lmbench.plugin`` in every run of an environment where this package is installed, and
that import must not pull in numpy and the evaluation core for a project that has no task files.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pytest_lmbench.errors import BackendError, LmbenchError, TaskFormatError
    from pytest_lmbench.evaluate import evaluate
    from pytest_lmbench.lm import LM, Choice
    from pytest_lmbench.models.base import Model
    from pytest_lmbench.recorder import Recorder
    from pytest_lmbench.results import TaskResult
    from pytest_lmbench.scoring.confidence import parse_confidence
    from pytest_lmbench.tasks.data import load_examples
    from pytest_lmbench.tasks.prompts import bigbench_prompt

#: public name -> the module that defines it
_PUBLIC = {
    "BackendError": "pytest_lmbench.errors", "LmbenchError": "pytest_lmbench.errors",
    "TaskFormatError": "pytest_lmbench.errors", "evaluate": "pytest_lmbench.evaluate", "LM": "pytest_lmbench.lm",
    "Choice": "pytest_lmbench.lm", "Model": "pytest_lmbench.models.base", "Recorder": "pytest_lmbench.recorder",
    "TaskResult": "pytest_lmbench.results", "parse_confidence": "pytest_lmbench.scoring.confidence",
    "load_examples": "pytest_lmbench.tasks.data", "bigbench_prompt": "pytest_lmbench.tasks.prompts",
}

__all__ = ["LM", "BackendError", "Choice", "LmbenchError", "Model", "Recorder", "TaskFormatError", "TaskResult",
           "bigbench_prompt", "evaluate", "load_examples", "parse_confidence"]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'pytest_lmbench' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # the next access is a plain module attribute
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_PUBLIC))


class _Package(types.ModuleType):
    """Keeps ``pytest_lmbench.evaluate`` the function. Importing the submodule of the same name binds the
    module as a package attribute; the eager import that used to follow rebound the function, a lazy one
    never would."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _PUBLIC and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
