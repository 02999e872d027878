"""The cyclic garbage collector is paused while records are built, never while a model runs, and its state
is always restored."""

from __future__ import annotations

import gc

import pytest

from pytest_lmbench.core import gcpause
from pytest_lmbench.core.evaluate import evaluate
from pytest_lmbench.core.models.base import BaseModel
from pytest_lmbench.core.tasks.bigbench import task_from_dict


@pytest.fixture(autouse=True)
def _restore_gc():
    was = gc.isenabled()
    yield
    (gc.enable if was else gc.disable)()


def test_paused_and_resumed_nest_and_restore_the_previous_state() -> None:
    gc.enable()
    with gcpause.paused():
        assert not gc.isenabled()
        with gcpause.paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the inner block restored "paused", not "enabled"
        with gcpause.resumed():
            assert gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()
    gc.disable()  # a user who turned the collector off keeps it off
    with gcpause.paused():
        with gcpause.resumed():
            assert gc.isenabled()
    assert not gc.isenabled()


def test_the_collector_is_paused_around_evaluation_but_runs_during_model_calls() -> None:
    seen: dict[str, bool] = {}

    class Watching(BaseModel):
        def loglikelihood(self, requests):
            seen["loglikelihood"] = gc.isenabled()
            return [-1.0 if c == "a" else -2.0 for _, c in requests]

        def generate(self, prompts, *, max_tokens, stop=None):
            seen["generate"] = gc.isenabled()
            return ["a"] * len(prompts)

    task = task_from_dict({"name": "t", "description": "d", "keywords": ["k"],
                           "metrics": ["multiple_choice_grade", "exact_str_match"],
                           "preferred_score": "exact_str_match",
                           "examples": [{"input": f"q{i}", "target": "a", "target_scores": {"a": 1, "b": 0}}
                                        for i in range(4)]}, "t/task.json")
    gc.enable()
    result = evaluate(task, Watching())
    assert seen == {"loglikelihood": True, "generate": True}
    assert gc.isenabled()
    assert result.scores["multiple_choice_grade"] == 1.0 and result.scores["exact_str_match"] == 1.0

    class Failing(Watching):
        def loglikelihood(self, requests):
            raise RuntimeError("backend down")

    with pytest.raises(Exception, match="backend down"):
        evaluate(task, Failing())
    assert gc.isenabled()
