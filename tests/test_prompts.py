"""Prompt formatting and few-shot construction against reference vector 11 (BIG-bench's own output)."""

from __future__ import annotations

import pytest

from pytest_lmbench.core.evaluate import evaluate
from pytest_lmbench.core.models.base import BaseModel
from pytest_lmbench.core.tasks.bigbench import task_from_dict
from pytest_lmbench.core.tasks.prompts import build_queries

TASK = {
    "name": "t", "task_prefix": "Answer the question.\n", "metrics": ["multiple_choice_grade"],
    "preferred_score": "multiple_choice_grade",
    "examples": [{"input": "1+1=", "target_scores": {"2": 1, "3": 0}},
                 {"input": "2+2=", "target_scores": {"4": 1, "5": 0}},
                 {"input": "3+3=", "target_scores": {"6": 1, "7": 0}}],
}


def test_zero_and_one_shot_prompts_are_bigbench_bytes() -> None:
    task = task_from_dict(TASK, "t/task.json")
    assert build_queries(task, 0)[0].prompt == "Answer the question.\n\nQ: 1+1=\n  choice: 3\n  choice: 2\nA: "
    assert build_queries(task, 1)[0].prompt == (
        "Answer the question.\n\nQ: 3+3=\n  choice: 7\n  choice: 6\nA: 6\n\nQ: 1+1=\n  choice: 3\n  choice: 2\nA: ")
    # options are scored in target_scores order, whatever order the prompt shows them in
    assert build_queries(task, 0)[0].choices == ["2", "3"]


class Flat(BaseModel):
    def loglikelihood(self, requests):
        return [-1.0 for _ in requests]


def test_equal_log_probs_give_bigbench_grade_ece_brier() -> None:
    task = task_from_dict(TASK, "t/task.json")
    result = evaluate(task, Flat())
    assert result.scores["multiple_choice_grade"] == 0.0  # hashed tie-break picks the wrong option
    assert result.scores["expected_calibration_error"] == pytest.approx(0.5)
    assert result.scores["calibration_multiple_choice_brier_score"] == pytest.approx(0.25)
    assert task.low_score == pytest.approx(0.5)


def test_too_few_examples_for_shots() -> None:
    task = task_from_dict(TASK, "t/task.json")
    with pytest.raises(ValueError, match="needs at least 4"):
        build_queries(task, 3)


def test_max_examples_subsamples_without_replacement() -> None:
    data = dict(TASK, examples=[{"input": f"{i}+0=", "target_scores": {str(i): 1, "x": 0}} for i in range(20)])
    task = task_from_dict(data, "t/task.json")
    picked = [q.example.index for q in build_queries(task, 0, max_examples=5)]
    assert len(picked) == len(set(picked)) == 5
    assert picked == [q.example.index for q in build_queries(task, 0, max_examples=5)]  # seeded
    assert len(build_queries(task, 2, max_examples=5)) == 5


def test_duplicates_removed_and_shots_exclude_the_query() -> None:
    data = dict(TASK, examples=TASK["examples"] + [TASK["examples"][0]])
    task = task_from_dict(data, "t/task.json")
    assert task.n_duplicates == 1 and len(task.examples) == 3
    for q in build_queries(task, 2):
        shots = q.prompt.split("\n\n")[1:-1]
        assert all(q.example.input not in s for s in shots)
