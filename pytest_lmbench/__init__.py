"""pytest-lmbench: language-model evaluation tasks as pytest tests.

The evaluation core (``tasks``, ``models``, ``scoring``, ``evaluate``, ``results``) knows nothing about
pytest; ``plugin`` and ``report`` are the thin pytest layer on top of it.
"""

from pytest_lmbench.errors import BackendError, LmbenchError, TaskFormatError
from pytest_lmbench.evaluate import evaluate
from pytest_lmbench.models.base import Model
from pytest_lmbench.results import TaskResult

__all__ = ["BackendError", "LmbenchError", "Model", "TaskFormatError", "TaskResult", "evaluate"]
__version__ = "0.1.0"
