"""Error bars on results: method per metric, hand-computed values, report and summary."""

from __future__ import annotations

import json
import math

import pytest

from pytest_lmbench.core import stats as S
from pytest_lmbench.core.lm import Choice
from pytest_lmbench.core.recorder import Recorder
from pytest_lmbench.core.results import ExampleResult, TaskResult, aggregate
from pytest_lmbench.core.scoring import metrics as M
from pytest_lmbench.core.scoring.confidence import CONFIDENCE_METRICS
from pytest_lmbench.core.uncertainty import (
    aggregate_errors,
    attach_errors,
    examples_to_settle,
    half_width,
    one_sided_bound,
)


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
    assert e["bounds"] == [0.0, 1.0] and r.errors["normalized_aggregate_score"]["bounds"] == [0.0, 100.0]


def test_unclustered_proportions_keep_the_wilson_numbers() -> None:
    """0/1 scores: the interval, the one-sided bound and the settle estimate are Wilson's, as before the
    logit intervals."""
    rec = Recorder("t", "m", metric="accuracy")
    for right in [1, 1, 1, 0, 1, 0, 1, 1, 1, 1]:
        rec.record(bool(right))
    r = rec.result()
    # Wilson 8/10 at z = 1.6449 (one-sided 95%): centre (0.8 + z^2/20) / (1 + z^2/10) = 0.7361174,
    # half-width z sqrt(0.016 + z^2/400) / (1 + z^2/10) = 0.1953246
    assert one_sided_bound(r, "accuracy") == pytest.approx(0.5407928, abs=1e-6)
    assert one_sided_bound(r, "accuracy", lower_is_better=True) == pytest.approx(0.9314420, abs=1e-6)
    # and on the normalized scale (low 0, high 1): x 100
    assert one_sided_bound(r, "normalized_aggregate_score") == pytest.approx(54.07928, abs=1e-4)
    # the smallest n whose one-sided Wilson lower bound of p = 0.8 clears 0.6 (n = 17: 0.6050; n = 16: 0.5984)
    assert examples_to_settle(r, "accuracy", 0.6) == 17
    assert examples_to_settle(r, "normalized_aggregate_score", 60.0) == 17
    assert S.wilson_interval(0.8 * 17, 17, z=S.Z95_ONE_SIDED)[0] >= 0.6 > S.wilson_interval(
        0.8 * 16, 16, z=S.Z95_ONE_SIDED)[0]


def test_continuous_scores_and_clusters() -> None:
    """An author's "score" (normalised with (0, 1), every value inside): bounded by [0, 1], so the clustered
    and the plain interval are logit intervals."""
    rec = Recorder("t", "m", metric="score")
    values = [0.2, 0.4, 0.9, 0.7]
    for i, v in enumerate(values):
        rec.record(v, input=str(i), cluster="q1" if i < 2 else "q2")
    r = rec.result()
    e = r.errors["score"]
    assert e["method"] == "clustered-logit" and e["bounds"] == [0.0, 1.0]
    # mean 0.55; cluster sums of residuals -0.5 and 0.5; CR1: se^2 = 2/1 * (0.25 + 0.25) / 16, se = 0.25
    assert e["stderr"] == pytest.approx(0.25)
    # logit(0.55) = 0.2006707; se_logit = 0.25 / (0.55 * 0.45) = 1.0101010; 0.2006707 -/+ 1.959964 * 1.0101010
    # = -1.7790904, 2.1804318; expit: 0.1444154, 0.8984785 (the normal interval was [0.0600, 1.0400])
    assert e["ci95"] == pytest.approx([0.1444154, 0.8984785], abs=1e-6)
    rec2 = Recorder("t", "m", metric="score")
    for v in values:
        rec2.record(v)
    e2 = rec2.result().errors["score"]
    # sd (ddof=1) 0.3109126, se 0.1554563; se_logit = 0.1554563 / 0.2475 = 0.6281063;
    # expit(0.2006707 -/+ 1.959964 * 0.6281063) = 0.2630075, 0.8071717
    assert e2["method"] == "logit" and e2["stderr"] == pytest.approx(0.3109126 / 2, abs=1e-6)
    assert e2["ci95"] == pytest.approx([0.2630075, 0.8071717], abs=1e-6)


def test_clustered_proportions_get_a_logit_interval() -> None:
    rec = Recorder("t", "m", metric="accuracy")
    for i, right in enumerate([1, 1, 1, 1, 0, 1]):
        rec.record(bool(right), cluster=str(i // 2))
    e = rec.result().errors["accuracy"]
    # mean 5/6; residuals 1/6 (x5) and -5/6; cluster sums 1/3, 1/3, -2/3; CR1: se^2 = 3/2 * (2/3) / 36 = 1/36
    # se = 1/6; se_logit = (1/6) / (5/6 * 1/6) = 1.2; logit(5/6) = ln 5 = 1.6094379;
    # expit(1.6094379 -/+ 1.959964 * 1.2) = expit(-0.7425189), expit(3.9613947) = 0.3224536, 0.9813191
    assert e["method"] == "clustered-logit" and e["stderr"] == pytest.approx(1 / 6)
    assert e["ci95"] == pytest.approx([0.3224536, 0.9813191], abs=1e-6)


def test_bounded_continuous_mean_stays_inside_its_bounds() -> None:
    """rougeLsum lives in [0, 100]: the normal interval of [0, 50, 100, 100] would reach 109.4."""
    rec = Recorder("t", "m", metric="rougeLsum")
    for v in [0.0, 50.0, 100.0, 100.0]:
        rec.record(v)
    r = rec.result()
    e = r.errors["rougeLsum"]
    assert e["method"] == "logit" and e["bounds"] == [0.0, 100.0]
    # mean 62.5; squared deviations 3906.25 + 156.25 + 1406.25 + 1406.25 = 6875; sd sqrt(6875 / 3) = 47.871355,
    # se = 23.935678 (normal interval 62.5 -/+ 46.913 = [15.587, 109.413])
    assert e["stderr"] == pytest.approx(23.935678, abs=1e-6)
    # z = 0.625, logit = ln(0.625 / 0.375) = 0.5108256; se_logit = 23.935678 / (100 * 0.625 * 0.375) = 1.0212556;
    # 0.5108256 -/+ 1.959964 * 1.0212556 = -1.4908018, 2.5124530; 100 expit: 18.380190, 92.501000
    assert e["ci95"] == pytest.approx([18.380190, 92.501000], abs=1e-5)
    assert r.errors["normalized_aggregate_score"]["ci95"] == pytest.approx([18.380190, 92.501000], abs=1e-5)
    # one-sided: 0.5108256 -/+ 1.644854 * 1.0212556 = -1.1689910, 2.1906422; 100 expit: 23.703754, 89.940597
    assert one_sided_bound(r, "rougeLsum") == pytest.approx(23.703754, abs=1e-5)
    assert one_sided_bound(r, "rougeLsum", lower_is_better=True) == pytest.approx(89.940597, abs=1e-5)
    assert one_sided_bound(r, "normalized_aggregate_score") == pytest.approx(23.703754, abs=1e-5)
    # settle 50 on the logit scale: sd_logit = 1.0212556 * 2 = 2.0425112, gap = 0.5108256 - logit(0.5) = 0.5108256;
    # (1.644854 * 2.0425112 / 0.5108256)^2 = 43.26 -> 44 (the normal scale said (1.644854 * 47.871355 / 12.5)^2
    # = 39.68 -> 40)
    assert examples_to_settle(r, "rougeLsum", 50.0) == 44


def test_sayings_like_rouge_gets_an_interval_inside_its_range() -> None:
    """A real run printed "rougeLsum 17.65 ±21.85" and a 95% lower bound of -0.6879 for 12 examples; the same
    shape of data (two perfect answers, one partial, nine misses) now stays inside [0, 100]."""
    from pytest_lmbench.core.gates import judge

    rec = Recorder("sayings", "m", metric="rougeLsum")
    for v in [100.0, 100.0, 11.8] + [0.0] * 9:
        rec.record(v)
    r = rec.result()
    e = r.errors["rougeLsum"]
    assert r.scores["rougeLsum"] == pytest.approx(17.65)
    # sum of squares 20139.24 - 12 * 17.65^2 = 16400.97; sd sqrt(16400.97 / 11) = 38.613; se 11.146738
    # (normal: 17.65 -/+ 21.847 = [-4.197, 39.497]; one-sided 17.65 - 1.644854 * 11.146738 = -0.6848)
    assert e["stderr"] == pytest.approx(11.146738, abs=1e-6)
    # logit(0.1765) = -1.5401717; se_logit = 11.146738 / (100 * 0.1765 * 0.8235) = 0.7669013;
    # -1.5401717 -/+ 1.959964 * 0.7669013 = -3.0432504, -0.0370930; 100 expit: 4.550581, 49.071514
    assert e["method"] == "logit" and e["ci95"] == pytest.approx([4.550581, 49.071514], abs=1e-5)
    # one-sided: -1.5401717 - 1.644854 * 0.7669013 = -2.8016205; 100 expit = 5.723329
    assert one_sided_bound(r, "rougeLsum") == pytest.approx(5.723329, abs=1e-5)
    # settle 10: gap logit(0.1765) - logit(0.1) = -1.5401717 + 2.1972246 = 0.6570529; sd_logit 0.7669013 sqrt(12)
    # = 2.6566236; (1.644854 * 2.6566236 / 0.6570529)^2 = 44.24 -> 45 (the normal scale said 69)
    assert examples_to_settle(r, "rougeLsum", 10.0) == 45
    outcome, message = judge(r, {"rougeLsum": 10.0}, gate="lower")
    assert outcome == "inconclusive"
    assert "95% lower bound 5.723 does not; about 45 examples would settle it" in message


def test_thresholds_at_or_beyond_the_bounds_do_not_crash() -> None:
    rec = Recorder("t", "m", metric="rougeLsum")
    for v in [0.0, 50.0, 100.0, 100.0]:
        rec.record(v)
    r = rec.result()
    for threshold in (100.0, 150.0):  # the lower bound never reaches the top, let alone beyond it
        assert examples_to_settle(r, "rougeLsum", threshold) is None
    for threshold in (0.0, -5.0):  # any lower bound clears it
        assert examples_to_settle(r, "rougeLsum", threshold) == 2
    for threshold in (0.0, -5.0):  # an upper bound never gets to or below the bottom
        assert examples_to_settle(r, "rougeLsum", threshold, lower_is_better=True) is None
    assert examples_to_settle(r, "rougeLsum", 100.0, lower_is_better=True) == 2
    assert examples_to_settle(r, "rougeLsum", 70.0) is None  # the mean 62.5 does not clear 70


def test_a_mean_at_a_bound_with_no_spread_is_the_point() -> None:
    for v in (0.0, 100.0):
        rec = Recorder("t", "m", metric="rougeLsum")
        for _ in range(5):
            rec.record(v)
        r = rec.result()
        assert r.errors["rougeLsum"]["stderr"] == 0.0 and r.errors["rougeLsum"]["ci95"] == [v, v]
        assert one_sided_bound(r, "rougeLsum") == v == one_sided_bound(r, "rougeLsum", lower_is_better=True)
    assert S.logit_interval(0.3, 0.0, 0.0, 1.0) == (0.3, 0.3)
    # a mean at a bound with spread (not a mean of values inside the bounds): normal, clipped to the bounds
    assert S.logit_interval(0.0, 0.1, 0.0, 1.0) == pytest.approx((0.0, 1.959964 * 0.1), abs=1e-6)


def test_unbounded_metrics_keep_the_normal_interval() -> None:
    assert M.metric_bounds("log_likelihood", [-3.0, -1.0], default=(-10.0, 0.0)) is None
    assert M.metric_bounds("weighted_log_probabilities", [-1.0]) is None
    assert M.metric_bounds("bleurt", [0.5], default=(-0.1, 1.1)) is None
    rec = Recorder("t", "m", metric="log_likelihood")
    for v in [-1.0, -2.0, -4.0]:
        rec.record(v)
    e = rec.result().errors["log_likelihood"]
    # mean -7/3, sd sqrt((1.3333^2 + 0.3333^2 + 1.6667^2) / 2) = 1.5275252, se 0.8819171; -7/3 -/+ 1.7285257
    assert e["method"] == "clt" and e["bounds"] is None
    assert e["ci95"] == pytest.approx([-4.0618591, -0.6048076], abs=1e-6)
    # an author's metric with a value outside its result's range is not bounded by it
    rec2 = Recorder("t", "m", metric="score")
    for v in [0.5, 1.5, 0.2]:
        rec2.record(v)
    assert rec2.result().errors["score"]["method"] == "clt"


def test_metric_bounds_table() -> None:
    assert set(CONFIDENCE_METRICS) <= set(M.METRIC_BOUNDS)
    assert M.metric_bounds("rougeLsum") == (0.0, 100.0) and M.metric_bounds("bleu", [37.2]) == (0.0, 100.0)
    assert M.metric_bounds("exact_str_match", [0.0, 1.0]) == (0.0, 1.0)
    # a grade over target scores above 1 is not a number in [0, 1]
    assert M.metric_bounds("multiple_choice_grade", [0.0, 2.0]) is None
    # an author's metric: bounded by the default only when every value is inside it
    assert M.metric_bounds("accuracy", [0.2, 0.9], default=(0.0, 1.0)) == (0.0, 1.0)
    assert M.metric_bounds("accuracy", [0.2, 1.9], default=(0.0, 1.0)) is None
    assert M.metric_bounds("accuracy", None, default=(0.0, 1.0)) is None
    assert M.metric_bounds("accuracy", [0.5]) is None


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


def test_bootstrap_intervals_and_bounds_stay_in_range() -> None:
    """Percentile intervals are values of the statistic, so inside [0, 1]; the one-sided bounds of the
    calibration errors (from the bootstrap se, on the logit scale) too, where value -/+ 1.645 se is not."""
    rec = Recorder("t", "m")
    for i in range(12):
        # well calibrated but for one example: ECE and Brier scores near 0
        p = [0.98, 0.01, 0.01] if i else [0.4, 0.3, 0.3]
        rec.record_choice(choice(p), "a" if i else "b", confidence=0.97 if i else 0.2)
    r = rec.result()
    outside = 0
    for metric in ("expected_calibration_error", "calibration_multiple_choice_brier_score",
                   "confidence_brier_score", "confidence_ece"):
        e = r.errors[metric]
        assert e["method"] == "bootstrap" and e["bounds"] == [0.0, 1.0]
        lo, hi = e["ci95"]
        assert 0.0 <= lo <= hi <= 1.0
        for lower_is_better in (False, True):
            assert 0.0 <= one_sided_bound(r, metric, lower_is_better) <= 1.0
        outside += r.scores[metric] - S.Z95_ONE_SIDED * e["stderr"] < 0.0
    assert outside  # the normal lower bound would have gone below 0 here


def test_intervals_of_random_bounded_samples_stay_inside_the_bounds() -> None:
    """Property: over many random samples of bounded scores (clustered or not, piled up at a bound or not),
    every 95% interval and every one-sided bound lies within the bounds, around the mean."""
    import numpy as np

    rng = np.random.default_rng(7)
    would_leave = 0
    for trial in range(400):
        metric, low, high = [("rougeLsum", 0.0, 100.0), ("score", -3.0, 7.0), ("exact_str_match", 0.0, 1.0),
                             ("multiple_choice_grade", 0.0, 1.0)][trial % 4]
        n = int(rng.integers(2, 30))
        if metric in ("exact_str_match", "multiple_choice_grade"):
            values = [float(v) for v in rng.random(n) < rng.random()]
        else:
            at_bound = rng.random(n) < rng.random()
            values = [float(v) for v in np.where(at_bound, rng.choice([low, high], size=n, p=[0.8, 0.2]),
                                                 low + (high - low) * rng.random(n) ** 3)]
        clusters = [str(i // int(rng.integers(1, 4))) for i in range(n)] if trial % 3 == 0 else [None] * n
        examples = [ExampleResult(id=str(i), index=i, prompt="", targets=[], scores={metric: v}, cluster=c)
                    for i, (v, c) in enumerate(zip(values, clusters))]
        mean = sum(values) / n
        r = TaskResult(task="t", model="m", shots=0, n_examples=n, scores={metric: mean}, preferred_score=metric,
                       low_score=low, high_score=high, examples=examples)
        attach_errors(r)
        e = r.errors[metric]
        if e["ci95"] is None:
            continue
        assert e["bounds"] == [low, high], (trial, e)
        lo, hi = e["ci95"]
        assert low <= lo <= mean + 1e-9 and mean - 1e-9 <= hi <= high, (trial, values, e)
        for lower_is_better in (False, True):
            bound = one_sided_bound(r, metric, lower_is_better)
            assert low <= bound <= high, (trial, values, e, bound)
            threshold = float(low + (high - low) * rng.random())
            need = examples_to_settle(r, metric, threshold, lower_is_better)
            assert need is None or (isinstance(need, int) and need >= 2)
        assert all(type(x) is float for x in [e["stderr"], *e["ci95"], *e["bounds"]])
        would_leave += not low <= mean - S.Z95 * e["stderr"] <= mean + S.Z95 * e["stderr"] <= high
    assert would_leave > 50  # many of these samples' normal intervals would have left the bounds


def test_aggregate_errors_combine_independent_subtasks() -> None:
    subs = []
    for se in (0.1, 0.2):
        r = TaskResult(task="s", model="m", shots=0, n_examples=10, scores={"multiple_choice_grade": 0.5},
                       preferred_score="multiple_choice_grade", low_score=0.25, high_score=1.0)
        r.errors = {"multiple_choice_grade": {"stderr": se, "ci95": [0, 1], "method": "wilson",
                                              "bounds": [0.0, 1.0]}}
        subs.append(r)
    parent = TaskResult(task="p", model="m", shots=0, n_examples=20, scores={"multiple_choice_grade": 0.5},
                        preferred_score="multiple_choice_grade", low_score=0.25, high_score=1.0, aggregate=True)
    aggregate_errors(parent, subs)
    e = parent.errors["multiple_choice_grade"]
    assert e["stderr"] == pytest.approx(math.sqrt(0.01 + 0.04) / 2)
    # se = 0.1118034; se_logit = 0.1118034 / (0.5 * 0.5) = 0.4472136; expit(0 -/+ 1.959964 * 0.4472136)
    # = expit(-/+0.8765225) = 0.2938989, 0.7061011
    assert e["method"] == "subtasks-logit" and e["bounds"] == [0.0, 1.0]
    assert e["ci95"] == pytest.approx([0.2938989, 0.7061011], abs=1e-6)
    # a subtask without bounds (an unbounded metric): the normal interval
    del subs[1].errors["multiple_choice_grade"]["bounds"]
    aggregate_errors(parent, subs)
    e = parent.errors["multiple_choice_grade"]
    assert e["method"] == "subtasks" and e["bounds"] is None
    assert e["ci95"] == pytest.approx([0.5 - 1.959964 * 0.1118034, 0.5 + 1.959964 * 0.1118034], abs=1e-6)


def test_parent_normalized_score_is_bounded_by_the_mean_of_its_subtasks_normalized_bounds() -> None:
    grade = TaskResult(task="p:a", model="m", shots=0, n_examples=10,
                       scores={"multiple_choice_grade": 0.625, "normalized_aggregate_score": 50.0},
                       preferred_score="multiple_choice_grade", low_score=0.25, high_score=1.0, parent="p")
    grade.errors = {"multiple_choice_grade": {"stderr": 0.15, "ci95": [0.3, 0.9], "method": "wilson",
                                              "bounds": [0.0, 1.0]},
                    # normalized with low 0.25: [0, 1] -> [-33.333, 100], se 0.15 * 100 / 0.75 = 20
                    "normalized_aggregate_score": {"stderr": 20.0, "ci95": [10.0, 90.0], "method": "wilson",
                                                   "bounds": [-100 / 3, 100.0]}}
    match = TaskResult(task="p:b", model="m", shots=0, n_examples=10,
                       scores={"exact_str_match": 0.3, "normalized_aggregate_score": 30.0},
                       preferred_score="exact_str_match", low_score=0.0, high_score=1.0, parent="p")
    match.errors = {"exact_str_match": {"stderr": 0.1, "ci95": [0.1, 0.5], "method": "wilson", "bounds": [0.0, 1.0]},
                    "normalized_aggregate_score": {"stderr": 10.0, "ci95": [10.0, 50.0], "method": "wilson",
                                                   "bounds": [0.0, 100.0]}}
    parent = aggregate_errors(aggregate("p", [grade, match]), [grade, match])
    e = parent.errors["normalized_aggregate_score"]
    # value (50 + 30) / 2 = 40; se sqrt(400 + 100) / 2 = 11.180340; bounds the means (-16.667, 100);
    # z = 56.667 / 116.667 = 0.4857143, logit -0.0571584, se_logit 11.180340 / (116.667 * 0.4857143 * 0.5142857)
    # = 0.3836391; -16.667 + 116.667 expit(-0.0571584 -/+ 1.959964 * 0.3836391) = 19.276835, 61.152925
    assert parent.scores["normalized_aggregate_score"] == pytest.approx(40.0)
    assert e["method"] == "subtasks-logit" and e["bounds"] == pytest.approx([-50 / 3, 100.0])
    assert e["ci95"] == pytest.approx([19.276835, 61.152925], abs=1e-5)
    # the grade alone: se 0.15 on [0, 1]; se_logit 0.15 / (0.625 * 0.375) = 0.64;
    # expit(ln(0.625 / 0.375) -/+ 1.959964 * 0.64) = 0.3222281, 0.8538600
    assert parent.errors["multiple_choice_grade"]["ci95"] == pytest.approx([0.3222281, 0.8538600], abs=1e-6)


def test_report_and_summary_carry_error_bars(pytester: pytest.Pytester) -> None:
    from conftest import mc_task, write_task

    write_task(pytester.path, "colors/task.json", mc_task(n=8))
    result = pytester.runpytest("--lm-model", "dummy:random?seed=1", "--lm-report", "r.json",
                                "-p", "no:cacheprovider")
    result.stdout.fnmatch_lines(["*score*±95%*", "colors*±0.*"])
    row = json.loads((pytester.path / "r.json").read_text())["results"][0]
    assert row["errors"]["multiple_choice_grade"]["method"] == "wilson"
    assert len(row["errors"]["multiple_choice_grade"]["ci95"]) == 2


def test_weighted_bootstrap_equals_the_resampling_loop() -> None:
    """The vectorised bootstrap of the calibration errors draws the same resamples as the loop and gets the
    same numbers, clustered or not."""
    import numpy as np

    from pytest_lmbench.core import stats as S
    from pytest_lmbench.core.results import ExampleResult, TaskResult
    from pytest_lmbench.core.uncertainty import corpus_statistic, weighted_statistic

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

    from pytest_lmbench.core import stats as S

    rng = np.random.default_rng(5)
    x, y = rng.random(40), rng.random(40) + 1
    stats = {"ratio": lambda w: (w @ x) / (w @ y), "mean": lambda w: (w @ x) / w.sum(axis=1)}
    for clusters in (None, [i // 4 for i in range(40)]):
        together = S.bootstrap_weighted_many(stats, 40, clusters=clusters, seed=2)
        for name, fn in stats.items():
            assert together[name] == S.bootstrap_weighted(fn, 40, clusters=clusters, seed=2)
    assert S.bootstrap_weighted_many(stats, 1) == {"ratio": None, "mean": None}
