"""Error bars for every score of a result: standard error and 95% interval, by the method that fits.

- means of per-example scores: CLT standard error (ddof=1); for 0/1 scores the interval is Wilson's;
- clustered examples (repeated samples of one question, a ``cluster`` per example): cluster-robust (CR1)
  standard error;
- corpus metrics (bleu, ECE, Brier scores, macro F1): seeded percentile bootstrap over examples;
- ``normalized_aggregate_score``: the preferred score's error bars, rescaled;
- a parent's aggregate (the mean of its subtasks' scores): the subtasks are independent samples, so
  se = sqrt(sum se_i^2) / k.

Intervals stay inside what the score can take (``metrics.metric_bounds``): Wilson and the percentile
bootstrap do by construction; the other intervals of a bounded score are normal on the logit scale of its
position between the bounds (delta method, ``stats.logit_interval``), as are the one-sided bounds of the
threshold gate. Unbounded scores (log-likelihoods, say) get mean +/- 1.96 se. Each entry carries its
``bounds`` ([low, high], or None when unbounded).

With one example or fewer there is no interval, and the result says so.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from pytest_lmbench.core import stats as S
from pytest_lmbench.core.repeats import is_reducer
from pytest_lmbench.core.results import ErrorBar, ExampleResult, TaskResult
from pytest_lmbench.core.scoring import metrics as M
from pytest_lmbench.core.scoring.confidence import CONFIDENCE_METRICS, confidence_calibration

BOOTSTRAP_RESAMPLES = 1000
MC_CALIBRATION = ("calibration_multiple_choice_brier_score", "expected_calibration_error")
BLEU_RESAMPLES = 200  # sacrebleu is slow; 200 resamples keep a 1000-example task under seconds
NO_INTERVAL = "n <= 1: no interval"


def _entry(stderr: float | None, ci: tuple[float, float] | None, method: str,
           bounds: tuple[float, float] | list[float] | None = None) -> ErrorBar:
    if stderr is None and ci is None:
        return {"stderr": None, "ci95": None, "method": method, "note": NO_INTERVAL}
    return {"stderr": None if stderr is None else float(stderr),
            "ci95": None if ci is None else [float(ci[0]), float(ci[1])], "method": method,
            "bounds": None if bounds is None else [float(bounds[0]), float(bounds[1])]}


def _normal_or_logit(mean: float, se: float, bounds: tuple[float, float] | list[float] | None, method: str,
                     z: float = S.Z95) -> tuple[tuple[float, float], str]:
    """The interval of a mean with standard error ``se``: on the logit scale between ``bounds`` (method
    suffixed "-logit", or "logit" for plain CLT), else mean +/- z se."""
    named = method if bounds is None else ("logit" if method == "clt" else f"{method}-logit")
    return S.mean_interval(mean, se, bounds, z), named


def _per_example(examples: list[ExampleResult], metric: str) -> list[float] | None:
    values = [ex.scores.get(metric) for ex in examples]
    known = [float(v) for v in values if v is not None]
    return known if values and len(known) == len(values) else None


def _is_proportion(metric: str, values: list[float]) -> bool:
    """0/1 scores of a metric on a 0-1 scale (not rouge's 0-100, whose zeros are not a proportion)."""
    low, high = M.SCORE_RANGES.get(metric, (0.0, 1.0))
    return high == 1.0 and S.is_binary(values)


def _mean_errors(metric: str, values: list[float], clusters: list[Any] | None,
                 default: tuple[float, float] | None = None) -> ErrorBar:
    """Error bars of a mean of per-example values; ``default``: the range a metric of neither of metrics.py's
    tables is bounded by when its values all lie inside it."""
    n = len(values)
    mean = sum(values) / n if n else 0.0
    clustered = clusters is not None and len(set(clusters)) < n
    se = S.mean_stderr(values, clusters if clustered else None)
    if se is None:
        return _entry(None, None, "clustered" if clustered else "clt")
    proportion = _is_proportion(metric, values)
    bounds = (0.0, 1.0) if proportion else M.metric_bounds(metric, values, default)
    if proportion and not clustered:
        return _entry(se, S.wilson_interval(sum(values), n), "wilson", bounds)
    ci, method = _normal_or_logit(mean, se, bounds, "clustered" if clustered else "clt")
    return _entry(se, ci, method, bounds)


def corpus_statistic(result: TaskResult, metric: str) -> Callable[[np.ndarray], float] | None:
    """metric(resampled examples), for metrics that are not means of per-example values."""
    ex = result.examples
    if metric == "bleu" and all(e.response is not None and not e.samples for e in ex):  # repeats: no resampling
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
            # (every example has all three, checked above; `or` only tells the type checker)
            memo["mc_parts"] = M.mc_calibration_parts([e.choices or [] for e in ex],
                                                      [e.target_scores or {} for e in ex],
                                                      [e.log_probs or [] for e in ex])
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


def sample_errors(result: TaskResult, clusters: list[Any] | None = None) -> ErrorBar | None:
    """mean@K's error bars from every sample's score, the samples of one example (or of one cluster of
    examples) a cluster: the project's clustered standard error (``stats.mean_stderr``). None when the examples
    carry no samples."""
    if not result.examples or any(not ex.samples for ex in result.examples):
        return None
    values, groups = [], []
    for i, ex in enumerate(result.examples):
        group = clusters[i] if clusters is not None else f"#{i}"
        for sample in ex.samples or []:
            values.append(float(sample["score"]))
            groups.append(group)
    default = (result.low_score, result.high_score) if result.high_score > result.low_score else (0.0, 1.0)
    return _mean_errors(result.preferred_score, values, groups, default)


def _groups(clusters: list[Any] | None, n: int, result: TaskResult) -> list[Any] | None:
    """The clusters to resample by: the examples' own, when the statistic is over all of them."""
    return clusters if n == result.n_examples else None


def _boot_entry(boot: tuple[float, float, float] | None, bounds: tuple[float, float] | None) -> ErrorBar:
    """The percentile interval stays in ``bounds`` (its ends are values of the statistic); they are recorded
    for the one-sided bound and the parent's aggregate."""
    if boot is None:
        return _entry(None, None, "bootstrap")
    return _entry(boot[0], (boot[1], boot[2]), "bootstrap", bounds)


def attach_errors(result: TaskResult, *, seed: int = 0, memo: dict[str, Any] | None = None) -> TaskResult:
    """Fill ``result.errors`` ({metric: {stderr, ci95, method}}) for every score of a leaf result. ``memo``:
    what is already computed of the examples (``mc_parts``: ``metrics.mc_calibration_parts`` of their
    ``log_probs``)."""
    errors: dict[str, ErrorBar] = {}
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
        if metric.startswith("mean@") and is_reducer(metric):
            entry = sample_errors(result, clusters)
            if entry is not None:
                errors[metric] = entry
                continue
        if M.is_sparse(metric):  # defined on some examples only (read verdicts): its mean and interval over those
            kept = [i for i, ex in enumerate(result.examples) if ex.scores.get(metric) is not None]
            if kept:
                errors[metric] = _mean_errors(metric, [float(result.examples[i].scores[metric]) for i in kept],
                                              [clusters[i] for i in kept] if clusters is not None else None,
                                              (0.0, 1.0))
            continue
        values = _per_example(result.examples, metric)
        if values is not None and len(values) == result.n_examples:
            # a task author's own metric: bounded by the result's range if it is the preferred one, else by
            # the (0, 1) the recorder would normalise it with, when its values lie inside
            default = (result.low_score, result.high_score) if metric == result.preferred_score else (0.0, 1.0)
            errors[metric] = _mean_errors(metric, values, clusters, default)
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
                                                 seed=seed), M.metric_bounds(metric, [result.scores[metric]]))
    for n, statistics in weighted.items():
        boots = S.bootstrap_weighted_many(statistics, n, clusters=_groups(clusters, n, result),
                                          resamples=BOOTSTRAP_RESAMPLES, seed=seed)
        errors.update((metric, _boot_entry(boot, M.metric_bounds(metric, [result.scores[metric]])))
                      for metric, boot in boots.items())
    errors = {metric: errors[metric] for metric in result.scores if metric in errors}  # in the scores' order
    preferred = errors.get(result.preferred_score)
    if preferred is not None and "normalized_aggregate_score" in result.scores:
        span = result.high_score - result.low_score
        scale = 100.0 / span if span else 0.0
        norm = ErrorBar(**preferred)
        stderr, ci, bounds = preferred.get("stderr"), preferred.get("ci95"), preferred.get("bounds")
        if stderr is not None:
            norm["stderr"] = stderr * scale
        if ci is not None:
            norm["ci95"] = [(ci[0] - result.low_score) * scale, (ci[1] - result.low_score) * scale]
        if bounds is not None:  # the rescaled interval stays inside the rescaled bounds
            ends = sorted((b - result.low_score) * scale for b in bounds)
            norm["bounds"] = [float(ends[0]), float(ends[1])]
        errors["normalized_aggregate_score"] = norm
    result.errors = errors
    return result


def aggregate_errors(parent: TaskResult, subtasks: list[TaskResult]) -> TaskResult:
    """Error bars of a parent's aggregate (unweighted mean over subtasks of each metric). The mean of values
    each inside its subtask's bounds lies inside the mean of the bounds; when every subtask's entry has
    bounds (for ``normalized_aggregate_score``, each its preferred score's bounds on the normalized scale),
    the interval is on the logit scale between those ("subtasks-logit"), else normal ("subtasks")."""
    errors: dict[str, ErrorBar] = {}
    for metric, value in parent.scores.items():
        named = [r for r in subtasks if metric in r.scores or metric == "normalized_aggregate_score"]
        parts = [r.errors.get(metric) or ErrorBar() for r in named]
        ses = [p.get("stderr") for p in parts]
        if not parts or any(se is None for se in ses):
            continue
        se = math.sqrt(sum(float(e) ** 2 for e in ses if e is not None)) / len(parts)
        ranges = [p.get("bounds") for p in parts]
        bounds = None
        if all(b is not None for b in ranges):
            known = [b for b in ranges if b is not None]
            bounds = (sum(b[0] for b in known) / len(known), sum(b[1] for b in known) / len(known))
        ci, method = _normal_or_logit(value, se, bounds, "subtasks")
        errors[metric] = _entry(se, ci, method, bounds)
    parent.errors = errors
    return parent


def half_width(result: TaskResult, metric: str | None = None) -> float | None:
    """The larger side of the 95% interval of ``metric`` (default: the preferred score), for display."""
    metric = metric or result.preferred_score
    entry = result.errors.get(metric) if result.errors else None
    value = result.scores.get(metric)
    ci = entry.get("ci95") if entry else None
    if ci is None or value is None:
        return None
    return max(value - ci[0], ci[1] - value)


def _rescaled_wilson(result: TaskResult, metric: str, entry: ErrorBar) -> bool:
    """A leaf's ``normalized_aggregate_score`` whose error bars are its preferred score's Wilson ones."""
    return (metric == "normalized_aggregate_score" and entry.get("method") == "wilson"
            and result.preferred_score != metric and result.high_score != result.low_score)


def one_sided_bound(result: TaskResult, metric: str, lower_is_better: bool = False) -> float | None:
    """The one-sided 95% bound of ``metric`` on the side a threshold is judged: the lower bound, or the upper
    bound for calibration errors. Wilson for 0/1 scores; for a bounded score value -/+ 1.645 se on the logit
    scale between its bounds (so the bound stays inside them), as its interval; else value -/+ 1.645 se.
    None without an interval."""
    entry = result.errors.get(metric) if result.errors else None
    value = result.scores.get(metric)
    stderr = entry.get("stderr") if entry else None
    if entry is None or stderr is None or value is None:
        return None
    if _rescaled_wilson(result, metric, entry):
        inner = one_sided_bound(result, result.preferred_score, lower_is_better)
        if inner is not None:
            return M.normalized_score(inner, result.low_score, result.high_score)
    if entry.get("method") == "wilson":
        values = _per_example(result.examples, metric)
        if values:
            interval = S.wilson_interval(sum(values), len(values), z=S.Z95_ONE_SIDED)
            if interval is not None:
                return interval[1] if lower_is_better else interval[0]
    (lo, hi), _ = _normal_or_logit(value, stderr, entry.get("bounds"), "clt", z=S.Z95_ONE_SIDED)
    return hi if lower_is_better else lo


def examples_to_settle(result: TaskResult, metric: str, threshold: float, lower_is_better: bool = False
                       ) -> int | None:
    """About how many examples would make the one-sided bound clear ``threshold`` at today's mean and spread
    (of the per-example values on the logit scale, for a bounded score). None when no number of examples
    would: the mean does not clear it, or the threshold lies at or beyond the bound it must be inside of."""
    entry = result.errors.get(metric) if result.errors else None
    value = result.scores.get(metric)
    stderr = entry.get("stderr") if entry else None
    if entry is None or stderr is None or value is None or result.n_examples < 2:
        return None
    if _rescaled_wilson(result, metric, entry):
        span = result.high_score - result.low_score
        return examples_to_settle(result, result.preferred_score, result.low_score + threshold * span / 100.0,
                                  lower_is_better)
    if entry.get("method") == "wilson":
        if lower_is_better:  # the upper bound of p is 1 - the lower bound of 1 - p
            return _wilson_examples(1.0 - value, 1.0 - threshold)
        return _wilson_examples(value, threshold)
    sign = -1.0 if lower_is_better else 1.0  # judge "higher is better" throughout
    root_n = math.sqrt(result.n_examples)
    bounds = entry.get("bounds")
    if bounds is not None:
        low, high = float(bounds[0]), float(bounds[1])
        far, near = (low, high) if lower_is_better else (high, low)  # the bound can never clear `far`
        if sign * (threshold - far) >= 0:
            return None
        if sign * (threshold - near) <= 0:
            return 2 if sign * (value - threshold) >= 0 else None  # any interval clears it
        se_logit = S.logit_stderr(value, stderr, low, high)
        if se_logit is not None:
            return S.examples_needed(sign * S.logit((value - low) / (high - low)), se_logit * root_n,
                                     sign * S.logit((threshold - low) / (high - low)))
    return S.examples_needed(sign * value, stderr * root_n, sign * threshold)


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
