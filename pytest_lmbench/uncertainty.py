"""Error bars for every score of a result: standard error and 95% interval, by the method that fits.

- means of per-example scores: CLT standard error (ddof=1); for 0/1 scores the interval is Wilson's;
- clustered examples (repeated samples of one question, a ``cluster`` per example): cluster-robust (CR1)
  standard error and a normal interval;
- corpus metrics (bleu, ECE, Brier scores, macro F1): seeded percentile bootstrap over examples;
- ``normalized_aggregate_score``: the preferred score's error bars, rescaled;
- a parent's aggregate (the mean of its subtasks' scores): the subtasks are independent samples, so
  se = sqrt(sum se_i^2) / k.

With one example or fewer there is no interval, and the result says so.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from pytest_lmbench import stats as S
from pytest_lmbench.results import ExampleResult, TaskResult
from pytest_lmbench.scoring import metrics as M
from pytest_lmbench.scoring.confidence import CONFIDENCE_METRICS, confidence_calibration

BOOTSTRAP_RESAMPLES = 1000
MC_CALIBRATION = ("calibration_multiple_choice_brier_score", "expected_calibration_error")
BLEU_RESAMPLES = 200  # sacrebleu is slow; 200 resamples keep a 1000-example task under seconds
NO_INTERVAL = "n <= 1: no interval"


def _entry(stderr: float | None, ci: tuple[float, float] | None, method: str) -> dict[str, Any]:
    if stderr is None and ci is None:
        return {"stderr": None, "ci95": None, "method": method, "note": NO_INTERVAL}
    return {"stderr": None if stderr is None else float(stderr),
            "ci95": None if ci is None else [float(ci[0]), float(ci[1])], "method": method}


def _per_example(examples: list[ExampleResult], metric: str) -> list[float] | None:
    values = [ex.scores.get(metric) for ex in examples]
    if not values or any(v is None for v in values):
        return None
    return [float(v) for v in values]


def _is_proportion(metric: str, values: list[float]) -> bool:
    """0/1 scores of a metric on a 0-1 scale (not rouge's 0-100, whose zeros are not a proportion)."""
    low, high = M.SCORE_RANGES.get(metric, (0.0, 1.0))
    return high == 1.0 and S.is_binary(values)


def _mean_errors(metric: str, values: list[float], clusters: list[Any] | None) -> dict[str, Any]:
    n = len(values)
    mean = sum(values) / n if n else 0.0
    clustered = clusters is not None and len(set(clusters)) < n
    se = S.mean_stderr(values, clusters if clustered else None)
    if se is None:
        return _entry(None, None, "clustered" if clustered else "clt")
    if _is_proportion(metric, values) and not clustered:
        return _entry(se, S.wilson_interval(sum(values), n), "wilson")
    return _entry(se, (mean - S.Z95 * se, mean + S.Z95 * se), "clustered" if clustered else "clt")


def corpus_statistic(result: TaskResult, metric: str) -> Callable[[np.ndarray], float] | None:
    """metric(resampled examples), for metrics that are not means of per-example values."""
    ex = result.examples
    if metric == "bleu" and all(e.response is not None for e in ex):
        return lambda idx: M.bleu([ex[i].targets for i in idx], [str(ex[i].response) for i in idx])
    mc = all(e.choices is not None and e.log_probs is not None and e.target_scores for e in ex)
    if mc and metric in ("calibration_multiple_choice_brier_score", "expected_calibration_error", "macro_f1"):
        def stat(idx: np.ndarray) -> float:
            chosen = [ex[i] for i in idx]
            lps = [e.log_probs for e in chosen]
            values = M.multiple_choice([e.choices for e in chosen], [e.target_scores for e in chosen], lps, lps,
                                       [metric])
            return float(values.scores[metric])
        return stat
    if metric in CONFIDENCE_METRICS:
        conf, right = _stated(result)
        if len(conf) < 2:
            return None
        # resample over the examples that stated a confidence
        return lambda idx: confidence_calibration(list(conf[idx]), list(right[idx]))["scores"][metric]
    return None


def _stated(result: TaskResult) -> tuple[np.ndarray, np.ndarray]:
    """(stated confidence, right or wrong) of the examples that stated a confidence."""
    pairs = [(e.scores.get("confidence"), e.scores.get("correct", e.score)) for e in result.examples]
    kept = [(float(c), float(s)) for c, s in pairs if c is not None and s is not None]
    return np.array([c for c, _ in kept]), np.array([s for _, s in kept])


def weighted_statistic(result: TaskResult, metric: str, memo: dict[str, Any] | None = None
                       ) -> Callable[[np.ndarray], np.ndarray] | None:
    """metric(W) for a matrix of resampling weights (see ``stats.bootstrap_weighted``), for the corpus metrics
    that are ratios of weighted sums: the Brier scores and the ECEs. None for the others. ``memo`` shares the
    per-example parts between the metrics of one result."""
    ex = result.examples
    if metric in MC_CALIBRATION and all(e.choices is not None and e.log_probs is not None and e.target_scores
                                        for e in ex):
        memo = {} if memo is None else memo
        if "mc_parts" not in memo:
            memo["mc_parts"] = M.mc_calibration_parts([e.choices for e in ex], [e.target_scores for e in ex],
                                                      [e.log_probs for e in ex])
        parts = memo["mc_parts"]
        if metric == "expected_calibration_error":
            return lambda w: M.ece_from_weights(w, parts["confidence"], parts["correct"])
        return lambda w: (w @ parts["brier"]) / (w @ parts["options"])
    if metric in ("confidence_brier_score", "confidence_ece"):
        conf, right = _stated(result)
        if metric == "confidence_ece":
            return lambda w: M.ece_from_weights(w, conf, right)
        return lambda w: (w @ (conf - right) ** 2) / w.sum(axis=1)
    return None


def _groups(clusters: list[Any] | None, n: int, result: TaskResult) -> list[Any] | None:
    """The clusters to resample by: the examples' own, when the statistic is over all of them."""
    return clusters if n == result.n_examples else None


def _boot_entry(boot: tuple[float, float, float] | None) -> dict[str, Any]:
    return _entry(*(boot[0], (boot[1], boot[2])) if boot else (None, None), "bootstrap")


def attach_errors(result: TaskResult, *, seed: int = 0, memo: dict[str, Any] | None = None) -> TaskResult:
    """Fill ``result.errors`` ({metric: {stderr, ci95, method}}) for every score of a leaf result. ``memo``:
    what is already computed of the examples (``mc_parts``: ``metrics.mc_calibration_parts`` of their
    ``log_probs``)."""
    errors: dict[str, dict[str, Any]] = {}
    clusters = [ex.cluster for ex in result.examples] if any(ex.cluster is not None for ex in result.examples) \
        else None
    if clusters is not None:
        clusters = [c if c is not None else f"#{i}" for i, c in enumerate(clusters)]
    memo = dict(memo or {})
    # weighted statistics of the same examples share one set of resampling weights (same draws as alone)
    weighted: dict[int, dict[str, Callable[[np.ndarray], np.ndarray]]] = {}
    for metric in result.scores:
        if metric == "normalized_aggregate_score":
            continue
        values = _per_example(result.examples, metric)
        if values is not None and len(values) == result.n_examples:
            errors[metric] = _mean_errors(metric, values, clusters)
            continue
        n = result.n_examples if metric not in CONFIDENCE_METRICS else len(_stated(result)[0])
        statistic = weighted_statistic(result, metric, memo)
        if statistic is not None:
            weighted.setdefault(n, {})[metric] = statistic
            continue
        stat = corpus_statistic(result, metric)
        if stat is None:
            continue  # e.g. log_likelihood sums: no per-example breakdown to resample
        resamples = BLEU_RESAMPLES if metric == "bleu" else BOOTSTRAP_RESAMPLES
        errors[metric] = _boot_entry(S.bootstrap(stat, n, clusters=_groups(clusters, n, result), resamples=resamples,
                                                 seed=seed))
    for n, statistics in weighted.items():
        boots = S.bootstrap_weighted_many(statistics, n, clusters=_groups(clusters, n, result),
                                          resamples=BOOTSTRAP_RESAMPLES, seed=seed)
        errors.update((metric, _boot_entry(boot)) for metric, boot in boots.items())
    errors = {metric: errors[metric] for metric in result.scores if metric in errors}  # in the scores' order
    preferred = errors.get(result.preferred_score)
    if preferred is not None and "normalized_aggregate_score" in result.scores:
        span = result.high_score - result.low_score
        scale = 100.0 / span if span else 0.0
        norm = dict(preferred)
        if preferred.get("stderr") is not None:
            norm["stderr"] = preferred["stderr"] * scale
        if preferred.get("ci95") is not None:
            lo, hi = preferred["ci95"]
            norm["ci95"] = [(lo - result.low_score) * scale, (hi - result.low_score) * scale]
        errors["normalized_aggregate_score"] = norm
    result.errors = errors
    return result


def aggregate_errors(parent: TaskResult, subtasks: list[TaskResult]) -> TaskResult:
    """Error bars of a parent's aggregate (unweighted mean over subtasks of each metric)."""
    errors: dict[str, dict[str, Any]] = {}
    for metric, value in parent.scores.items():
        parts = [r.errors.get(metric) for r in subtasks if metric in r.scores]
        if metric == "normalized_aggregate_score":
            parts = [r.errors.get("normalized_aggregate_score") for r in subtasks]
        if not parts or any(p is None or p.get("stderr") is None for p in parts):
            continue
        se = math.sqrt(sum(p["stderr"] ** 2 for p in parts)) / len(parts)
        errors[metric] = _entry(se, (value - S.Z95 * se, value + S.Z95 * se), "subtasks")
    parent.errors = errors
    return parent


def half_width(result: TaskResult, metric: str | None = None) -> float | None:
    """The larger side of the 95% interval of ``metric`` (default: the preferred score), for display."""
    metric = metric or result.preferred_score
    entry = result.errors.get(metric) if result.errors else None
    value = result.scores.get(metric)
    if not entry or entry.get("ci95") is None or value is None:
        return None
    lo, hi = entry["ci95"]
    return max(value - lo, hi - value)


def one_sided_bound(result: TaskResult, metric: str, lower_is_better: bool = False) -> float | None:
    """The one-sided 95% bound of ``metric`` on the side a threshold is judged: the lower bound, or the upper
    bound for calibration errors. Wilson for 0/1 scores, else value -/+ 1.645 se. None without an interval."""
    entry = result.errors.get(metric) if result.errors else None
    value = result.scores.get(metric)
    if not entry or entry.get("stderr") is None or value is None:
        return None
    if entry.get("method") == "wilson":
        values = _per_example(result.examples, metric)
        if values:
            interval = S.wilson_interval(sum(values), len(values), z=S.Z95_ONE_SIDED)
            if interval is not None:
                return interval[1] if lower_is_better else interval[0]
    step = S.Z95_ONE_SIDED * entry["stderr"]
    return value + step if lower_is_better else value - step


def examples_to_settle(result: TaskResult, metric: str, threshold: float, lower_is_better: bool = False
                       ) -> int | None:
    """About how many examples would make the one-sided bound clear ``threshold`` at today's mean and spread."""
    entry = result.errors.get(metric) if result.errors else None
    value = result.scores.get(metric)
    if not entry or entry.get("stderr") is None or value is None or result.n_examples < 2:
        return None
    if entry.get("method") == "wilson" and not lower_is_better:
        return _wilson_examples(value, threshold)
    sd = entry["stderr"] * math.sqrt(result.n_examples)
    if lower_is_better:
        return S.examples_needed(-value, sd, -threshold)
    return S.examples_needed(value, sd, threshold)


def _wilson_examples(p: float, threshold: float, limit: int = 10_000_000) -> int | None:
    """Smallest n at which the one-sided Wilson lower bound of a proportion p clears ``threshold``."""
    if p <= threshold:
        return None

    def clears(n: int) -> bool:
        interval = S.wilson_interval(p * n, n, z=S.Z95_ONE_SIDED)
        return interval is not None and interval[0] >= threshold

    hi = 2
    while not clears(hi):
        hi *= 2
        if hi > limit:
            return None
    lo = hi // 2
    while lo + 1 < hi:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if clears(mid) else (mid, hi)
    return hi
