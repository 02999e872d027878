"""Run a BIG-bench programmatic task with BIG-bench's own code only, for parity tests: the task class imported from
the checkout (``bench/fetch_bigbench.py .lmbench``), ``random`` and numpy seeded with 0 before it is built and before
``evaluate_model(model, max_examples, random_seed=0)`` (the protocol pytest-lmbench documents), and the model
speaking BIG-bench's model API directly (``programmatic_models.reference_model``)."""

from __future__ import annotations

import dataclasses
import importlib
import os
import random
import sys
from typing import Any

from bigbench_reference import RECORDING, load_recording, reference_source
from programmatic_models import reference_model

#: Tasks of different kinds: multiple choice, generative, interactive (the model's answers steer the next prompt),
#: several ScoreData; each with its Task class's name, as BIG-bench's own code would be driven.
PARITY = {
    "web_of_lies": "WebOfLiesTask",  # multiple choice, 4 subtasks
    "boolean_expressions": "BooleanExpressionsTask",  # multiple choice and generative, 8 subtasks
    "com2sense": "Com2SenseTask",  # multiple choice over pairs
    "dynamic_counting": "ShuffleLanguageTask",  # absolute log-probs of many short targets
    "protein_interacting_sites": "ProteinInteractingSitesTask",  # multiple choice, 5 subtasks
    "simple_arithmetic": "ArithmeticTask",  # generative with output_regex, 5 subtasks
    "cycled_letters": "CycledLettersTask",  # generative
    "word_problems_on_sets_and_graphs": "ThreeReasoningTasks",  # generative, 3 subtasks
    "twenty_questions": "TwentyQuestions",  # interactive: two model roles talking
    "high_low_game": "HighLowGame",  # interactive
    "text_navigation_game": "TextNavigationTask",  # interactive, 4 subtasks
    "sudoku": "SudokuTask",  # interactive, 8 subtasks
    "bias_from_probabilities": "BiasFromProbabilities",  # log-prob differences
}
#: The example counts the parity test runs them with
PARITY_MAX_EXAMPLES = [8, 32]


def tasks_dir() -> str | None:
    src = reference_source()
    if src is None:
        return None
    path = os.path.join(src, "bigbench", "benchmark_tasks")
    return path if os.path.isfile(os.path.join(path, "sudoku", "task.py")) else None


def run_reference(name: str, class_name: str, max_examples: int) -> list[dict[str, Any]]:
    import numpy as np

    src = reference_source()
    assert src is not None
    if src not in sys.path:
        sys.path.insert(0, src)
    module = importlib.import_module(f"bigbench.benchmark_tasks.{name}.task")
    model = reference_model(importlib.import_module("bigbench.api.model"),
                            importlib.import_module("bigbench.models.model_utils"))
    random.seed(0)
    np.random.seed(0)
    task = getattr(module, class_name)()
    random.seed(0)
    np.random.seed(0)
    returned = task.evaluate_model(model, max_examples=max_examples, random_seed=0)
    out = []
    for sd in returned if isinstance(returned, list) else [returned]:
        d = dataclasses.asdict(sd)
        d["score_dict"] = {k: v.item() if hasattr(v, "item") else v for k, v in d["score_dict"].items()}
        out.append({k: (v.item() if hasattr(v, "item") else v) for k, v in d.items()})
    return out


def recorded_parity() -> dict[str, list[dict[str, Any]]]:
    """BIG-bench's ScoreData for the parity tasks as recorded (``NAME@MAX_EXAMPLES``); empty where none was: their
    code is not in the repository, so they can be recorded only where the release could be fetched."""
    if not os.path.isfile(RECORDING):
        return {}
    return load_recording().get("programmatic", {})
