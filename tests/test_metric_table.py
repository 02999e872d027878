"""One metric table (``scoring.metrics.METRICS``): every score the harness produces has an entry, and the
names the rest of the code reads (SCORE_RANGES, METRIC_BOUNDS, LOWER_IS_BETTER, SHORT_METRIC) are views of it."""

from __future__ import annotations

from pytest_lmbench.core.scoring import metrics as M
from pytest_lmbench.core.scoring.confidence import CONFIDENCE_METRICS
from pytest_lmbench.core.tasks.model import LOWER_IS_BETTER
from pytest_lmbench.report.format import SHORT_METRIC


def test_every_produced_score_is_in_the_table() -> None:
    produced = M.produced_metric_names(M.ALL_METRICS) | set(CONFIDENCE_METRICS) | {"normalized_aggregate_score"}
    assert produced <= set(M.METRICS)


def test_the_old_names_are_views_of_the_table() -> None:
    assert LOWER_IS_BETTER is M.LOWER_IS_BETTER and SHORT_METRIC is M.SHORT_METRIC
    assert LOWER_IS_BETTER == {"calibration_multiple_choice_brier_score", "expected_calibration_error",
                               "judge_unparsed", "judge_swap_inconsistency", *CONFIDENCE_METRICS}
    # BIG-bench's normalisation ranges, as its task_metrics define them
    assert M.SCORE_RANGES["multiple_choice_grade"] == (0.0, 1.0) and M.SCORE_RANGES["bleu"] == (0.0, 100.0)
    assert M.SCORE_RANGES["log_likelihood"] == (-10.0, 0.0) and M.SCORE_RANGES["bleurt"] == (-0.1, 1.1)
    assert "normalized_aggregate_score" not in M.SCORE_RANGES  # never a task's preferred score
    # nominal ranges are not bounds: intervals of log-likelihoods and bleurt are not clipped
    assert {"log_likelihood", "weighted_log_probabilities", "bleurt"}.isdisjoint(M.METRIC_BOUNDS)
    assert len(set(SHORT_METRIC.values())) == len(SHORT_METRIC)  # short names are unambiguous


def test_bounds_lie_within_ranges_where_both_exist() -> None:
    for metric in M.METRICS.values():
        if metric.range is not None and metric.bounds is not None:
            assert metric.bounds[0] <= metric.range[0] < metric.range[1] <= metric.bounds[1], metric.name
