"""pytest-lmbench: language-model evaluation tasks as pytest tests.

Three packages whose names are the layers (docs/architecture.md): ``core`` (tasks, models, scoring,
statistics, evaluation, results; never imports pytest), ``report`` (renderers of results) and ``plugin`` (the
pytest layer). Arrows point down: plugin -> report -> core.

The public names below are imported on first use (PEP 562 ``__getattr__``): pytest loads the ``pytest11``
entry point ``pytest_lmbench.plugin`` in every run of an environment where this package is installed, and
that import must not pull in numpy and the evaluation core for a project that has no task files.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pytest_lmbench.core.errors import BackendError, LmbenchError, TaskFormatError
    from pytest_lmbench.core.evaluate import evaluate
    from pytest_lmbench.core.lm import LM, Choice
    from pytest_lmbench.core.models.base import BaseModel, Model
    from pytest_lmbench.core.options import EvalOptions
    from pytest_lmbench.core.recorder import Recorder
    from pytest_lmbench.core.results import Report, TaskResult
    from pytest_lmbench.core.scoring.confidence import parse_confidence
    from pytest_lmbench.core.tasks.data import load_examples
    from pytest_lmbench.core.tasks.prompts import bigbench_prompt

#: public name -> the module that defines it
_PUBLIC = {
    "BackendError": "pytest_lmbench.core.errors", "LmbenchError": "pytest_lmbench.core.errors",
    "TaskFormatError": "pytest_lmbench.core.errors", "evaluate": "pytest_lmbench.core.evaluate",
    "LM": "pytest_lmbench.core.lm", "Choice": "pytest_lmbench.core.lm", "Model": "pytest_lmbench.core.models.base",
    "BaseModel": "pytest_lmbench.core.models.base", "EvalOptions": "pytest_lmbench.core.options",
    "Recorder": "pytest_lmbench.core.recorder", "TaskResult": "pytest_lmbench.core.results",
    "Report": "pytest_lmbench.core.results",
    "parse_confidence": "pytest_lmbench.core.scoring.confidence", "load_examples": "pytest_lmbench.core.tasks.data",
    "bigbench_prompt": "pytest_lmbench.core.tasks.prompts",
}

__all__ = ["LM", "BackendError", "BaseModel", "Choice", "EvalOptions", "LmbenchError", "Model", "Recorder", "Report",
           "TaskFormatError", "TaskResult", "bigbench_prompt", "evaluate", "load_examples", "parse_confidence"]
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

