"""Error bars on results: method per metric, hand-computed values, report and summary."""

from __future__ import annotations

import json
import math

import pytest

from pytest_lmbench.lm import Choice
from pytest_lmbench.recorder import Recorder
from pytest_lmbench.results import TaskResult
from pytest_lmbench.uncertainty import aggregate_errors, half_width


def choice(probs: list[float], options=("a", "b", "c")) -> Choice:
    logs = [math.log(p) for p in probs]
    return Choice(prompt="q", options=list(options), index=max(range(len(probs)), key=lambda i: probs[i]),
                  log_probs=logs, probs=list(probs))


def test_proportion_gets_wilson_and_clt_stderr() -> None:
    rec = Recorder("t", "m", metric="accuracy")
    for right in [1, 1, 1, 0, 1, 0, 1, 1, 1, 1]:
        rec.record(bool(right), input="x")
    r = rec.result()
    e = r.errors["accuracy"]
    assert e["method"] == "wilson"
    assert e["stderr"] == pytest.approx(math.sqrt(0.8 * 0.2 * 10 / 9 / 10))  # ddof=1
    # Wilson 8/10 at z=1.96 (statsmodels: 0.4901625, 0.9433178)
    assert e["ci95"] == pytest.approx([0.4901625, 0.9433178], abs=1e-6)
    # normalized score: same interval on the 0-100 scale of (score - low) / (high - low)
    assert r.errors["normalized_aggregate_score"]["ci95"] == pytest.approx([49.01625, 94.33178], abs=1e-4)
    assert half_width(r) == pytest.approx(0.8 - 0.4901625, abs=1e-6)


def test_continuous_scores_and_clusters() -> None:
    rec = Recorder("t", "m", metric="score")
    values = [0.2, 0.4, 0.9, 0.7]
    for i, v in enumerate(values):
        rec.record(v, input=str(i), cluster="q1" if i < 2 else "q2")
    r = rec.result()
    e = r.errors["score"]
    assert e["method"] == "clustered"
    mean = sum(values) / 4
    sums = [(0.2 - mean) + (0.4 - mean), (0.9 - mean) + (0.7 - mean)]
    se = math.sqrt(2 / 1 * sum(s * s for s in sums) / 16)
    assert e["stderr"] == pytest.approx(se)
    assert e["ci95"] == pytest.approx([mean - 1.959964 * se, mean + 1.959964 * se], abs=1e-5)
    rec2 = Recorder("t", "m", metric="score")
    for v in values:
        rec2.record(v)
    e2 = rec2.result().errors["score"]
    assert e2["method"] == "clt" and e2["stderr"] == pytest.approx(0.3109126 / 2, abs=1e-6)


def test_one_example_has_no_interval_and_says_so() -> None:
    rec = Recorder("t", "m")
    rec.record(True)
    e = rec.result().errors["score"]
    assert e["stderr"] is None and e["ci95"] is None and "no interval" in e["note"]


def test_calibration_metrics_are_bootstrapped_reproducibly() -> None:
    def run() -> TaskResult:
        rec = Recorder("t", "m")
        for i in range(30):
            p = [0.6, 0.3, 0.1] if i % 3 else [0.2, 0.5, 0.3]
            rec.record_choice(choice(p), "a" if i % 4 else "b")
        return rec.result()

    a, b = run(), run()
    for metric in ("expected_calibration_error", "calibration_multiple_choice_brier_score"):
        assert a.errors[metric]["method"] == "bootstrap"
        assert a.errors[metric] == b.errors[metric]
        lo, hi = a.errors[metric]["ci95"]
        assert lo <= a.scores[metric] <= hi
    assert a.errors["multiple_choice_grade"]["method"] == "wilson"


def test_aggregate_errors_combine_independent_subtasks() -> None:
    subs = []
    for se in (0.1, 0.2):
        r = TaskResult(task="s", model="m", shots=0, n_examples=10, scores={"multiple_choice_grade": 0.5},
                       preferred_score="multiple_choice_grade", low_score=0.25, high_score=1.0)
        r.errors = {"multiple_choice_grade": {"stderr": se, "ci95": [0, 1], "method": "wilson"}}
        subs.append(r)
    parent = TaskResult(task="p", model="m", shots=0, n_examples=20, scores={"multiple_choice_grade": 0.5},
                        preferred_score="multiple_choice_grade", low_score=0.25, high_score=1.0, aggregate=True)
    aggregate_errors(parent, subs)
    assert parent.errors["multiple_choice_grade"]["stderr"] == pytest.approx(math.sqrt(0.01 + 0.04) / 2)


def test_report_and_summary_carry_error_bars(pytester: pytest.Pytester) -> None:
    from conftest import mc_task, write_task

    write_task(pytester.path, "colors/task.json", mc_task(n=8))
    result = pytester.runpytest_subprocess("--lm-model", "dummy:random?seed=1", "--lm-report", "r.json",
                                           "-p", "no:cacheprovider")
    result.stdout.fnmatch_lines(["*score*±95%*", "colors*±0.*"])
    row = json.loads((pytester.path / "r.json").read_text())["results"][0]
    assert row["errors"]["multiple_choice_grade"]["method"] == "wilson"
    assert len(row["errors"]["multiple_choice_grade"]["ci95"]) == 2


def test_weighted_bootstrap_equals_the_resampling_loop() -> None:
    """The vectorised bootstrap of the calibration errors draws the same resamples as the loop and gets the
    same numbers, clustered or not."""
    import numpy as np

    from pytest_lmbench import stats as S
    from pytest_lmbench.results import ExampleResult, TaskResult
    from pytest_lmbench.uncertainty import corpus_statistic, weighted_statistic

    rng = np.random.default_rng(3)
    examples = []
    for i in range(30):
        choices = ["a", "b", "c", "d"]
        examples.append(ExampleResult(
            id=str(i), index=i, prompt="", targets=[], choices=choices, log_probs=list(rng.normal(size=4)),
            target_scores={c: float(j == i % 4) for j, c in enumerate(choices)},
            scores={"confidence": float(rng.random()), "correct": float(i % 3 == 0)}))
    result = TaskResult(task="t", model="m", shots=0, n_examples=30, scores={}, preferred_score="x", low_score=0,
                        high_score=1, examples=examples)
    for metric in ("calibration_multiple_choice_brier_score", "expected_calibration_error",
                   "confidence_brier_score", "confidence_ece"):
        for clusters in (None, [str(i // 3) for i in range(30)]):
            loop = S.bootstrap(corpus_statistic(result, metric), 30, clusters=clusters, seed=0)
            fast = S.bootstrap_weighted(weighted_statistic(result, metric), 30, clusters=clusters, seed=0)
            assert fast == pytest.approx(loop, rel=1e-12), (metric, clusters)


def test_metrics_sharing_one_set_of_resamples_get_what_each_gets_alone() -> None:
    import numpy as np

    from pytest_lmbench import stats as S

    rng = np.random.default_rng(5)
    x, y = rng.random(40), rng.random(40) + 1
    stats = {"ratio": lambda w: (w @ x) / (w @ y), "mean": lambda w: (w @ x) / w.sum(axis=1)}
    for clusters in (None, [i // 4 for i in range(40)]):
        together = S.bootstrap_weighted_many(stats, 40, clusters=clusters, seed=2)
        for name, fn in stats.items():
            assert together[name] == S.bootstrap_weighted(fn, 40, clusters=clusters, seed=2)
    assert S.bootstrap_weighted_many(stats, 1) == {"ratio": None, "mean": None}
