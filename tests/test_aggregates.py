"""Mean normalized scores per model over tasks and per BIG-bench keyword (pytest_lmbench.core.aggregates)."""

from __future__ import annotations

import json
import math

import pytest
from conftest import arith_task, mc_task, write_task

from pytest_lmbench.core.aggregates import ALL, model_aggregates
from pytest_lmbench.core.results import TaskResult


def _r(task: str, score: float, se: float | None, *, low: float = 0.0, high: float = 1.0, keywords=(),
       parent: str | None = None, aggregate: bool = False, model: str = "m", outcome: str = "scored",
       bounds: list[float] | None = None) -> TaskResult:
    errors = {} if se is None else {"grade": {"stderr": se, "ci95": [score - 2 * se, score + 2 * se],
                                              "bounds": bounds}}
    return TaskResult(task=task, model=model, shots=0, n_examples=10, scores={"grade": score}, preferred_score="grade",
                      low_score=low, high_score=high, keywords=list(keywords), parent=parent, aggregate=aggregate,
                      errors=errors, outcome=outcome)


def test_mean_over_top_level_tasks_and_keywords_by_hand() -> None:
    results = [
        _r("a", 0.75, 0.1, low=0.5, keywords=["logic", "mc"]),          # normalized 50, se 20
        _r("p:x", 0.2, 0.05, parent="p", keywords=["mc"]),              # a subtask: counted through its parent
        _r("p", 0.6, 0.05, aggregate=True, keywords=["mc"]),            # normalized 60, se 5
        _r("b", 0.3, 0.1, keywords=["logic"]),                          # normalized 30, se 10
        _r("broken", 0.0, None, outcome="error"),
        _r("a", 1.0, 0.0, low=0.5, model="other"),
    ]
    groups = {(g.model, g.group): g for g in model_aggregates(results)}
    everything = groups[("m", ALL)]
    assert everything.tasks == ["a", "p", "b"] and everything.n_tasks == 3
    assert everything.normalized_score == pytest.approx((50 + 60 + 30) / 3)
    assert everything.stderr == pytest.approx(math.sqrt(20 ** 2 + 5 ** 2 + 10 ** 2) / 3)
    lo, hi = everything.ci95  # an unbounded preferred metric: the normal interval
    assert everything.method == "normal" and everything.bounds is None
    assert (hi - lo) / 2 == pytest.approx(1.959963984540054 * everything.stderr)
    logic = groups[("m", "logic")]
    assert logic.tasks == ["a", "b"] and logic.normalized_score == pytest.approx(40)
    assert logic.stderr == pytest.approx(math.sqrt(400 + 100) / 2)
    assert groups[("m", "mc")].tasks == ["a", "p"]
    assert groups[("other", ALL)].normalized_score == pytest.approx(100) and groups[("other", ALL)].stderr == 0


def test_bounded_members_give_a_logit_interval_inside_the_mean_of_their_normalized_bounds() -> None:
    a = _r("a", 0.75, 0.1, low=0.5, bounds=[0.0, 1.0])  # normalized 50, se 20, bounds [-100, 100]
    b = _r("b", 0.3, 0.1, bounds=[0.0, 1.0])  # normalized 30, se 10, bounds [0, 100]
    g = model_aggregates([a, b])[0]
    assert g.normalized_score == pytest.approx(40) and g.stderr == pytest.approx(math.sqrt(500) / 2)
    assert g.method == "logit" and g.bounds == pytest.approx([-50.0, 100.0])
    # z = (40 + 50) / 150 = 0.6, logit 0.4054651; se_logit = 11.180340 / (150 * 0.6 * 0.4) = 0.3105650;
    # -50 + 150 expit(0.4054651 -/+ 1.959964 * 0.3105650) = 17.404957, 60.075060
    assert g.ci95 == pytest.approx([17.404957, 60.075060], abs=1e-5)
    # the same members near the top: the normal interval 95 -/+ 21.9 would pass 100, this one cannot
    top = model_aggregates([_r("a", 0.975, 0.1, low=0.5, bounds=[0.0, 1.0]),
                            _r("b", 0.95, 0.1, bounds=[0.0, 1.0])])[0]
    assert top.normalized_score == pytest.approx(95) and top.normalized_score + 1.959964 * top.stderr > 100
    assert -50 <= top.ci95[0] <= 95 <= top.ci95[1] <= 100
    # one unbounded member: the group's interval is normal
    mixed = model_aggregates([a, _r("b", 0.3, 0.1)])[0]
    assert mixed.method == "normal" and mixed.ci95 == pytest.approx([40 - 1.959964 * 11.180340,
                                                                     40 + 1.959964 * 11.180340], abs=1e-4)


def test_a_task_without_an_interval_is_named() -> None:
    g = model_aggregates([_r("a", 0.5, 0.1), _r("b", 0.5, None)])[0]
    assert g.stderr is None and g.ci95 is None and g.note == "no interval: b has none"


def test_report_and_summary_carry_the_aggregates(pytester: pytest.Pytester) -> None:
    write_task(pytester.path, "arith/task.json", arith_task(n=8))
    write_task(pytester.path, "colors/task.json", mc_task(n=8))
    result = pytester.runpytest("--lm-model=dummy:oracle", "--lm-report=r.json", "-p", "no:cacheprovider")
    result.stdout.fnmatch_lines(["mean normalized score*tasks*norm*", "all tasks*2*100.0*"])
    rows = json.loads((pytester.path / "r.json").read_text())["aggregates"]
    assert {(g["group"], g["n_tasks"]) for g in rows} == {(ALL, 2), ("arithmetic", 1), ("zero-shot", 1),
                                                           ("multiple choice", 1)}
