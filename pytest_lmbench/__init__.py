"""pytest-lmbench: language-model evaluation tasks as pytest tests.

The evaluation core (``tasks``, ``models``, ``scoring``, ``evaluate``, ``results``) knows nothing about
pytest; ``plugin`` and ``report`` are the thin pytest layer on top of it.
"""

from pytest_lmbench.errors import BackendError, LmbenchError, TaskFormatError
from pytest_lmbench.evaluate import evaluate
from pytest_lmbench.lm import LM, Choice
from pytest_lmbench.models.base import Model
from pytest_lmbench.recorder import Recorder
from pytest_lmbench.results import TaskResult
from pytest_lmbench.scoring.confidence import parse_confidence
from pytest_lmbench.tasks.data import load_examples
from pytest_lmbench.tasks.prompts import bigbench_prompt

__all__ = ["LM", "BackendError", "Choice", "LmbenchError", "Model", "Recorder", "TaskFormatError", "TaskResult",
           "bigbench_prompt", "evaluate", "load_examples", "parse_confidence"]
__version__ = "0.1.0"
