"""BIG-bench's metrics with BIG-bench 1.0.0's exact definitions and scales.

Each metric returns the task-level values and, where the metric decomposes over examples, the per-example
values whose mean is the task value (those feed error bars and the report's ``examples``).
BLEU and ROUGE use the libraries BIG-bench uses (sacrebleu, rouge-score: extra ``metrics``); ROUGE is
reported as the plain mean over examples rather than BIG-bench's unseeded bootstrap median.
"""

from __future__ import annotations

import hashlib
import importlib
import math
import sys
import types
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

import numpy as np

GENERATIVE_METRICS = (
    "bleu",
    "bleurt",
    "exact_str_match",
    "case_insensitive_str_match",
    "sequence_f1",
    "numeric_match_with_0_1_relative_error",
    "rouge",
)
SCORING_METRICS = ("log_likelihood",)
MULTIPLE_CHOICE_METRICS = (
    "multiple_choice_grade",
    "calibration_multiple_choice_brier_score",
    "expected_calibration_error",
    "weighted_log_probabilities",
    "weighted_probabilities",
    "macro_f1",
)
ALL_METRICS = GENERATIVE_METRICS + MULTIPLE_CHOICE_METRICS + SCORING_METRICS

@dataclass(frozen=True)
class Metric:
    """What the harness knows about one score, in one place: scoring, gates, error bars, the recorder and the
    renderers read this table (``METRICS``) rather than lists of their own."""

    name: str
    #: the summary's name for it (the JSON report keeps BIG-bench's full names)
    short: str | None = None
    #: calibration errors: a threshold is passed at or below it, a regression is an increase
    lower_is_better: bool = False
    #: BIG-bench's normalisation range (``low_score``, ``high_score`` of a task preferring it); None: none
    range: tuple[float, float] | None = None
    #: the values it can take, for intervals that stay inside them (None: unbounded). Not ``range``:
    #: log-likelihoods', weighted log-probabilities' and bleurt's ranges there are nominal
    bounds: tuple[float, float] | None = None
    #: "per-example": the mean of per-example values (CLT, Wilson, logit intervals); "corpus": a statistic of
    #: the whole set (bootstrapped)
    kind: Literal["per-example", "corpus"] = "per-example"
    #: how a parent task aggregates it over subtasks: BIG-bench's unweighted mean (``results.aggregate``)
    aggregation: Literal["mean"] = "mean"
    #: defined on some examples only (a judge's grade, where its verdict was read): the score and its interval
    #: are the mean over those examples
    sparse: bool = False


_UNIT, _PERCENT = (0.0, 1.0), (0.0, 100.0)

#: Every score the harness computes. Each entry is what the code computes: bleu (sacrebleu), sequence_f1 and
#: rouge are percentages; the string and numeric matches are 0/1; the grade is the picked option's target
#: score (in [0, 1] for the usual 0/1 scores; ``metric_bounds`` checks the values); macro F1 is a mean of
#: F1s; the multiple-choice Brier score sums (p - t)^2 + t (1 - t) over an example's options, at most 2 (1 for
#: a single option) when target scores are >= 0, and divides by the number of options (>= 2); ECEs and MAD are
#: weighted means of |accuracy - confidence|; the stated-confidence metrics (scoring/confidence.py) and the
#: per-example "confidence" and "correct" they are made of are probabilities and 0/1.
METRICS: dict[str, Metric] = {m.name: m for m in (
    Metric("bleu", range=_PERCENT, bounds=_PERCENT, kind="corpus"),
    Metric("bleurt", range=(-0.1, 1.1)),
    Metric("exact_str_match", short="exact_match", range=_UNIT, bounds=_UNIT),
    Metric("case_insensitive_str_match", short="exact_match_ci", range=_UNIT, bounds=_UNIT),
    Metric("sequence_f1", range=_PERCENT, bounds=_PERCENT),
    Metric("numeric_match_with_0_1_relative_error", short="numeric_match", range=_UNIT, bounds=_UNIT),
    Metric("rouge1", range=_PERCENT, bounds=_PERCENT),
    Metric("rouge2", range=_PERCENT, bounds=_PERCENT),
    Metric("rougeLsum", range=_PERCENT, bounds=_PERCENT),
    Metric("multiple_choice_grade", short="mc_grade", range=_UNIT, bounds=_UNIT),
    Metric("calibration_multiple_choice_brier_score", short="brier", lower_is_better=True, range=_UNIT,
           bounds=_UNIT, kind="corpus"),
    Metric("expected_calibration_error", short="ece", lower_is_better=True, range=_UNIT, bounds=_UNIT,
           kind="corpus"),
    Metric("weighted_log_probabilities", short="weighted_logp", range=(-10.0, 0.0)),
    Metric("weighted_probabilities", short="weighted_p", range=(-1.0, 1.0)),
    Metric("macro_f1", range=_UNIT, bounds=_UNIT, kind="corpus"),
    Metric("log_likelihood", range=(-10.0, 0.0), kind="corpus"),
    Metric("log_likelihood_per_word", kind="corpus"),
    Metric("log_likelihood_per_char", kind="corpus"),
    Metric("confidence_brier_score", short="conf_brier", lower_is_better=True, bounds=_UNIT, kind="corpus"),
    Metric("confidence_ece", short="conf_ece", lower_is_better=True, bounds=_UNIT, kind="corpus"),
    Metric("confidence_mad", short="conf_mad", lower_is_better=True, bounds=_UNIT, kind="corpus"),
    Metric("confidence", bounds=_UNIT),
    Metric("correct", bounds=_UNIT),
    Metric("normalized_aggregate_score", short="norm_aggregate", range=_PERCENT),
    # model-graded scores (scoring/judge.py): grades normalised to [0, 1]; unread verdicts as a fraction
    Metric("judge_score", range=_UNIT, bounds=_UNIT, sparse=True),
    Metric("judge_score_weighted", short="judge_weighted", range=_UNIT, bounds=_UNIT, sparse=True),
    Metric("judge_unparsed", lower_is_better=True, range=_UNIT, bounds=_UNIT),
    Metric("judge_win_rate", short="win_rate", range=_UNIT, bounds=_UNIT, sparse=True),
    Metric("judge_swap_inconsistency", short="swap_incons", lower_is_better=True, range=_UNIT, bounds=_UNIT,
           sparse=True),
    Metric("judge_prefers_longer", short="prefers_longer", range=_UNIT, bounds=_UNIT, sparse=True),
    # a judge against people (0 = chance agreement for kappa, so its normalisation range is [0, 1])
    Metric("judge_human_kappa", short="human_kappa", range=_UNIT, bounds=(-1.0, 1.0), kind="corpus"),
    Metric("judge_human_agreement", short="human_agree", range=_UNIT, bounds=_UNIT, sparse=True),
    # a panel of judges: how well they agree with one another (Krippendorff's alpha, ordinal)
    Metric("judge_alpha", range=_UNIT, bounds=(-1.0, 1.0), kind="corpus"),
)}


def base_metric(metric: str) -> str:
    """The table's name for ``metric``: one panel judge's ``judge_score@2`` is a ``judge_score``
    (``scoring/judge.judge_metric``); any other name is itself."""
    base, at, judge = metric.rpartition("@")
    return base if at and judge.isdigit() and base in METRICS else metric


def is_sparse(metric: str) -> bool:
    """Whether ``metric`` is defined on some examples only (``Metric.sparse``)."""
    known = METRICS.get(base_metric(metric))
    return known is not None and known.sparse


_V = TypeVar("_V")


class _ByBase(dict[str, _V]):
    """A view of METRICS that finds a panel judge's score (``judge_score@2``) under its metric's name."""

    def __contains__(self, metric: object) -> bool:
        return isinstance(metric, str) and dict.__contains__(self, base_metric(metric))

    def __getitem__(self, metric: str) -> _V:
        return dict.__getitem__(self, base_metric(metric))

    def get(self, metric: str, default: Any = None) -> Any:  # type: ignore[override]
        return dict.get(self, base_metric(metric), default)


class _ShortNames(_ByBase[str]):
    """The summary's short names; a panel judge's keeps its ``@J`` (``judge_weighted@2``)."""

    def get(self, metric: str, default: Any = None) -> Any:  # type: ignore[override]
        base = base_metric(metric)
        short = dict.get(self, base)
        return default if short is None else short + metric[len(base):]


class _NameSet(frozenset[str]):
    """A set of metric names that holds a panel judge's score when it holds its metric."""

    def __contains__(self, metric: object) -> bool:
        return isinstance(metric, str) and frozenset.__contains__(self, base_metric(metric))


#: Views of METRICS, by the names the code has always used.
SCORE_RANGES: dict[str, tuple[float, float]] = _ByBase(
    {m.name: m.range for m in METRICS.values() if m.range is not None and m.name != "normalized_aggregate_score"})
METRIC_BOUNDS: dict[str, tuple[float, float]] = _ByBase(
    {m.name: m.bounds for m in METRICS.values() if m.bounds is not None})
LOWER_IS_BETTER: frozenset[str] = _NameSet(m.name for m in METRICS.values() if m.lower_is_better)
SHORT_METRIC: dict[str, str] = _ShortNames({m.name: m.short for m in METRICS.values() if m.short is not None})

#: BIG-bench's own score names that are unbounded (or bounded on one side only): no default range for them.
_UNBOUNDED_KNOWN = frozenset(m.name for m in METRICS.values() if m.bounds is None)


def metric_bounds(metric: str, values: Sequence[float] | None = None,
                  default: tuple[float, float] | None = None) -> tuple[float, float] | None:
    """(low, high) that ``metric``'s values lie in, or None when it is unbounded: an interval of a bounded
    metric must stay inside its bounds. A metric of METRIC_BOUNDS is bounded unless one of ``values`` falls
    outside (a grade over target scores above 1, say). A metric of neither table (a task author's own, e.g.
    "accuracy") is bounded by ``default`` (the result's low and high scores) only when ``values`` are given
    and all lie inside it: nothing else says what it can take."""
    if metric in METRIC_BOUNDS:
        low, high = METRIC_BOUNDS[metric]
    elif metric in _UNBOUNDED_KNOWN or default is None or values is None:
        return None
    else:
        low, high = float(default[0]), float(default[1])
    if not low < high:
        return None
    if values is not None and not all(low <= float(v) <= high for v in values):  # NaN lies outside
        return None
    return low, high

ECE_BUCKETS = 15
ROUGE_TYPES = ("rouge1", "rouge2", "rougeLsum")


class MetricUnavailable(Exception):
    """A metric needs a scorer that is not installed (e.g. bleurt); the message says how to get it."""


def produced_metric_names(metrics: Sequence[str]) -> set[str]:
    """The score names a list of task metrics produces (rouge -> rouge1/2/Lsum, and so on)."""
    names: set[str] = set()
    for m in metrics:
        if m == "rouge":
            names.update(ROUGE_TYPES)
        elif m == "log_likelihood":
            names.update(("log_likelihood", "log_likelihood_per_word", "log_likelihood_per_char"))
        elif m == "multiple_choice_grade":
            names.update((m, "calibration_multiple_choice_brier_score", "expected_calibration_error"))
        else:
            names.add(m)
    return names


@dataclass
class MetricValues:
    """Task-level scores plus per-example values for the metrics that decompose over examples."""

    scores: dict[str, float] = field(default_factory=dict)
    per_example: dict[str, list[float]] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)


# --------------------------------------------------------------------------- multiple choice

def hashed_argmax(values: Sequence[float]) -> int:
    """BIG-bench's argmax: ties broken by a hash of the float64 bytes (deterministic, not first-index)."""
    if type(values) is list and values and all(type(v) is float and v == v for v in values):
        top = max(values)  # the common case, a plain list of floats with one maximum: no numpy needed
        if values.count(top) == 1:
            return values.index(top)
    a = np.asarray(values, dtype=np.float64)
    best = np.flatnonzero(a == np.max(a))
    if len(best) == 1:  # hash % 1 == 0: no need to hash
        return int(best[0])
    return int(best[int(hashlib.sha256(a.tobytes()).hexdigest(), 16) % len(best)])


def ece_buckets(confidences: Sequence[float], n_buckets: int = ECE_BUCKETS) -> list[int]:
    """Bucket index per confidence: the first j with conf < (j+1)/n, else the last bucket."""
    if len(confidences) == 0:
        return []
    edges = np.array([float((k + 1) / n_buckets) for k in range(n_buckets)])
    below = np.asarray(confidences, dtype=np.float64)[:, None] < edges[None, :]
    return [int(j) for j in np.where(below.any(axis=1), below.argmax(axis=1), n_buckets - 1)]


def calibration_bins(confidences: Sequence[float], correct: Sequence[float]) -> tuple[float, list[dict[str, Any]]]:
    """BIG-bench's expected calibration error over ECE_BUCKETS equal-width bins, and the reliability-diagram
    data of the non-empty bins (mean confidence, accuracy, count)."""
    n = len(confidences)
    buckets = ece_buckets(confidences)
    ece, bins = 0.0, []
    for b in range(ECE_BUCKETS):
        members = [i for i, j in enumerate(buckets) if j == b]
        if members:
            acc = float(np.mean([correct[i] for i in members]))
            mc = float(np.mean([confidences[i] for i in members]))
            ece += len(members) / n * abs(acc - mc)
            bins.append({"bin": b, "lower": b / ECE_BUCKETS, "upper": (b + 1) / ECE_BUCKETS,
                         "count": len(members), "mean_confidence": mc, "accuracy": acc})
    return ece, bins


def ece_from_weights(weights: np.ndarray, confidence: np.ndarray, correct: np.ndarray) -> np.ndarray:
    """ECE for many weightings of the same examples at once (a row of ``weights`` = how often each example
    counts, e.g. one bootstrap resample): sum over bins of |sum of weight * (correct - confidence)| / total
    weight, which is BIG-bench's sum of (n_b / n) |accuracy_b - confidence_b|."""
    buckets = np.asarray(ece_buckets(list(confidence)))
    onehot = np.zeros((len(buckets), ECE_BUCKETS))
    onehot[np.arange(len(buckets)), buckets] = 1.0
    gaps = (weights * (np.asarray(correct, dtype=np.float64) - np.asarray(confidence, dtype=np.float64))) @ onehot
    return np.abs(gaps).sum(axis=1) / weights.sum(axis=1)


def mc_calibration_parts(choices: Sequence[Sequence[str]], target_scores: Sequence[dict[str, float]],
                         log_probs: Sequence[Sequence[float]]) -> dict[str, np.ndarray]:
    """Per example, what BIG-bench's multiple-choice Brier score and ECE are made of: the Brier sum over
    options and the number of options (Brier = sum of sums / sum of options), and the top probability and
    whether the top option is the target's (numpy's first-index argmax, as BIG-bench)."""
    n = len(choices)
    out = {"brier": np.zeros(n), "options": np.array([len(c) for c in choices], dtype=np.float64),
           "confidence": np.zeros(n), "correct": np.zeros(n)}
    by_size: dict[int, list[int]] = {}
    for i, c in enumerate(choices):
        by_size.setdefault(len(c), []).append(i)
    for rows in by_size.values():  # examples with as many options at once (numpy row-wise)
        lp = np.array([log_probs[i] for i in rows], dtype=np.float64)
        e = np.exp(lp - lp.max(axis=1, keepdims=True))
        p = e / e.sum(axis=1, keepdims=True)
        t = np.array([[target_scores[i][c] for c in choices[i]] for i in rows], dtype=np.float64)
        total = t.sum(axis=1, keepdims=True)
        t = np.divide(t, total, out=np.zeros_like(t), where=total != 0)
        out["brier"][rows] = (t * (p - 1) ** 2 + (1 - t) * p ** 2).sum(axis=1)
        out["confidence"][rows] = p.max(axis=1)
        out["correct"][rows] = (t.argmax(axis=1) == p.argmax(axis=1)).astype(np.float64)
    return out


def multiple_choice(choices: Sequence[Sequence[str]], target_scores: Sequence[dict[str, float]],
                    log_probs: Sequence[Sequence[float]], absolute_log_probs: Sequence[Sequence[float]],
                    metrics: Sequence[str]) -> MetricValues:
    """Multiple-choice metrics over samples. ``log_probs`` are the ones the grade uses (normalised unless
    the task asks for absolute normalisation); weighted metrics use ``absolute_log_probs``."""
    out = MetricValues()
    n = len(choices)
    picks = [hashed_argmax(lp) for lp in log_probs]
    parts = mc_calibration_parts(choices, target_scores, log_probs)
    out.extra["mc_parts"] = parts  # for the error bars of the calibration scores (uncertainty.attach_errors)
    if "multiple_choice_grade" in metrics:
        grades = [float(s[c[p]]) for c, s, p in zip(choices, target_scores, picks)]
        out.scores["multiple_choice_grade"] = sum(grades) / n
        out.per_example["multiple_choice_grade"] = grades
    if "calibration_multiple_choice_brier_score" in metrics:
        out.scores["calibration_multiple_choice_brier_score"] = float(parts["brier"].sum() / parts["options"].sum())
    if "expected_calibration_error" in metrics:
        ece, bins = calibration_bins([float(c) for c in parts["confidence"]], [int(c) for c in parts["correct"]])
        out.scores["expected_calibration_error"] = ece
        out.extra["reliability"] = bins
    if "weighted_log_probabilities" in metrics or "weighted_probabilities" in metrics:
        ws = [np.array([s[c] for c in ch]) for ch, s in zip(choices, target_scores)]
        alp = [np.asarray(a, dtype=np.float64) for a in absolute_log_probs]
        if "weighted_log_probabilities" in metrics:
            per = [float(np.sum(w * a)) for w, a in zip(ws, alp)]
            out.scores["weighted_log_probabilities"] = sum(per) / n
            out.per_example["weighted_log_probabilities"] = per
        if "weighted_probabilities" in metrics:
            per = [float(np.sum(w * np.exp(a))) for w, a in zip(ws, alp)]
            out.scores["weighted_probabilities"] = sum(per) / n
            out.per_example["weighted_probabilities"] = per
    if "macro_f1" in metrics:
        out.scores["macro_f1"] = _macro_f1(choices, target_scores, picks)
    return out


def _macro_f1(choices: Sequence[Sequence[str]], target_scores: Sequence[dict[str, float]],
              picks: Sequence[int]) -> float:
    if not all(list(s.values()).count(1) == 1 for s in target_scores):
        raise ValueError("macro_f1 needs exactly one choice scored 1 in every example")
    if not all(sum(s.values()) == 1 for s in target_scores):
        raise ValueError("macro_f1 needs target scores without partial credit (they must sum to 1)")
    y_true = [k for s in target_scores for k, v in s.items() if v == 1]
    y_pred = [c[p] for c, p in zip(choices, picks)]
    f1s = []
    for label in sorted(set(y_true) | set(y_pred)):
        tp = sum(1 for t, p in zip(y_true, y_pred) if t == label and p == label)
        fp = sum(1 for t, p in zip(y_true, y_pred) if t != label and p == label)
        fn = sum(1 for t, p in zip(y_true, y_pred) if t == label and p != label)
        f1s.append(0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn))
    return float(np.mean(f1s))


# --------------------------------------------------------------------------- generative

def exact_str_match(targets: Sequence[Sequence[str]], responses: Sequence[str]) -> list[float]:
    return [1.0 if r in t else 0.0 for t, r in zip(targets, responses)]


def case_insensitive_str_match(targets: Sequence[Sequence[str]], responses: Sequence[str]) -> list[float]:
    return [1.0 if r.strip().lower() in [x.strip().lower() for x in t] else 0.0
            for t, r in zip(targets, responses)]


def numeric_match(targets: Sequence[Sequence[str]], responses: Sequence[str], rel_error: float = 0.1) -> list[float]:
    """Within 10% relative error of the single target (absolute error when the target is 0).
    The divisor is the signed target, as in BIG-bench."""
    out = []
    for t, r in zip(targets, responses):
        if len(t) != 1:
            raise ValueError("numeric_match_with_0_1_relative_error needs exactly one target per example")
        try:
            ft = float(t[0])
            fv = float(r)
        except ValueError:
            out.append(0.0)
            continue
        out.append(1.0 if abs(fv - ft) / (ft if ft != 0 else 1) <= rel_error else 0.0)
    return out


def sequence_f1(targets: Sequence[Sequence[str]], responses: Sequence[str]) -> list[float]:
    """Token accuracy ×100 against the first target, prediction truncated or padded with "O"."""
    out = []
    for t, r in zip(targets, responses):
        pred = r.split(" ")
        gold = t[0].split(" ")
        pred = pred[: len(gold)] + ["O"] * max(0, len(gold) - len(pred))
        out.append(100.0 * float(np.mean([p == g for p, g in zip(pred, gold)])))
    return out


def bleu(targets: Sequence[Sequence[str]], responses: Sequence[str]) -> float:
    """Corpus BLEU as BIG-bench computes it via sacrebleu (intl tokenizer, exp smoothing)."""
    try:
        import sacrebleu
    except ImportError:  # pragma: no cover - depends on the environment
        raise MetricUnavailable("bleu needs sacrebleu: pip install 'pytest-lmbench[metrics]'") from None
    max_refs = max(len(t) for t in targets)
    padded = [list(t) + [t[0]] * (max_refs - len(t)) for t in targets]
    streams = [[t[i] for t in padded] for i in range(max_refs)]
    result = sacrebleu.corpus_bleu(list(responses), streams, smooth_method="exp", smooth_value=0.0,
                                   force=False, lowercase=False, tokenize="intl", use_effective_order=False)
    return float(result.score)


_ROUGE_SCORER = None


class _Deferred(types.ModuleType):
    """Stands in for an nltk module while rouge_score is imported; the real one is imported on first use."""

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("__"):  # the import system probing (__path__, ...): not a use
            raise AttributeError(attr)
        real = importlib.import_module(self.__name__)
        if real is self:  # still being imported: nothing real to hand out yet
            raise AttributeError(attr)
        return getattr(real, attr)


def _import_rouge_scorer() -> Any:
    """``rouge_score.rouge_scorer``, without importing nltk. rouge_score imports nltk at the top (1.3 s, most of
    it scipy) for sentence splitting and stemming, and BIG-bench's ROUGE uses neither; the placeholders load
    the real nltk if anything ever touches them, so nothing changes but the start-up time."""
    if "rouge_score.rouge_scorer" in sys.modules or "nltk" in sys.modules:
        from rouge_score import rouge_scorer

        return rouge_scorer
    names = ("nltk", "nltk.stem", "nltk.stem.porter")
    placeholders = {name: _Deferred(name) for name in names}
    placeholders["nltk"].stem = placeholders["nltk.stem"]  # type: ignore[attr-defined]
    placeholders["nltk.stem"].porter = placeholders["nltk.stem.porter"]  # type: ignore[attr-defined]
    sys.modules.update(placeholders)
    try:
        from rouge_score import rouge_scorer
    finally:
        for name in names:
            if sys.modules.get(name) is placeholders[name]:
                del sys.modules[name]
    return rouge_scorer


def rouge(targets: Sequence[Sequence[str]], responses: Sequence[str]) -> dict[str, list[float]]:
    """Per-example ROUGE F ×100 against the best reference, per ROUGE type (their mean is the score)."""
    global _ROUGE_SCORER
    if _ROUGE_SCORER is None:
        try:
            rouge_scorer = _import_rouge_scorer()
        except ImportError:  # pragma: no cover - depends on the environment
            raise MetricUnavailable("rouge needs rouge-score: pip install 'pytest-lmbench[metrics]'") from None
        _ROUGE_SCORER = rouge_scorer.RougeScorer(list(ROUGE_TYPES))

    def prep(text: str) -> str:
        return text.replace(" . ", " .\n")

    out: dict[str, list[float]] = {k: [] for k in ROUGE_TYPES}
    for refs, resp in zip(targets, responses):
        per_ref = [_ROUGE_SCORER.score(target=prep(ref), prediction=prep(resp)) for ref in refs]
        for k in ROUGE_TYPES:
            out[k].append(100.0 * max(s[k].fmeasure for s in per_ref))
    return out


#: A generative scorer a plugin registers (e.g. bleurt): fn(targets, responses) -> one value per example.
Scorer = Callable[[Sequence[Sequence[str]], Sequence[str]], Sequence[float]]


def generative(targets: Sequence[Sequence[str]], responses: Sequence[str], metrics: Sequence[str],
               scorers: Mapping[str, Scorer] | None = None) -> MetricValues:
    """The generative ``metrics``. ``scorers``: the extra scorers of this run (the ``pytest_lmbench_metrics``
    hook's, kept per session by the plugin), by metric name; bleurt needs one."""
    out = MetricValues()
    per_example_fns = {
        "exact_str_match": exact_str_match,
        "case_insensitive_str_match": case_insensitive_str_match,
        "numeric_match_with_0_1_relative_error": numeric_match,
        "sequence_f1": sequence_f1,
    }
    for metric in metrics:
        if metric in per_example_fns:
            values = per_example_fns[metric](targets, responses)
            out.per_example[metric] = values
            out.scores[metric] = float(np.mean(values))
        elif metric == "bleu":
            out.scores["bleu"] = bleu(targets, responses)
        elif metric == "rouge":
            for k, values in rouge(targets, responses).items():
                out.per_example[k] = values
                out.scores[k] = float(np.mean(values))
        elif metric == "bleurt":
            scorer = (scorers or {}).get("bleurt")
            if scorer is None:
                raise MetricUnavailable(
                    "bleurt needs a BLEURT scorer, and none is registered: BLEURT checkpoints cannot be "
                    "downloaded at run time. Register one with the pytest_lmbench_metrics hook.")
            values = [float(v) for v in scorer(targets, responses)]
            out.per_example["bleurt"] = values
            out.scores["bleurt"] = float(np.mean(values))
    return out


# --------------------------------------------------------------------------- scoring

def normalize_log_probs(log_probs: Sequence[Sequence[float]]) -> list[list[float]]:
    """Each example's option log-probs minus their logsumexp (BIG-bench's normalisation across options),
    computed row-wise for all examples with as many options at once; same numbers as one example at a time."""
    out: list[list[float]] = [[] for _ in log_probs]
    by_size: dict[int, list[int]] = {}
    for i, lp in enumerate(log_probs):
        by_size.setdefault(len(lp), []).append(i)
    for size, rows in by_size.items():
        if size == 0:
            continue
        a = np.array([log_probs[i] for i in rows], dtype=np.float64)
        top = a.max(axis=1)
        safe = np.where(np.isfinite(top), top, 0.0)
        with np.errstate(invalid="ignore", over="ignore"):
            sums = np.exp(a - safe[:, None]).sum(axis=1).tolist()
        # math.log as _logsumexp uses it (numpy's log differs in the last bit now and then)
        lse = np.array([m + math.log(z) if not math.isinf(m) else m for m, z in zip(top.tolist(), sums)])
        with np.errstate(invalid="ignore"):
            normalized = (a - lse[:, None]).tolist()
        for i, row in zip(rows, normalized):
            out[i] = row
    return out


def _logsumexp(values: Sequence[float]) -> float:
    a = np.asarray(values, dtype=np.float64)
    m = float(np.max(a))
    if math.isinf(m):
        return m
    return m + math.log(float(np.sum(np.exp(a - m))))


def log_likelihood(log_probs: Sequence[Sequence[float]], targets: Sequence[Sequence[str]]) -> MetricValues:
    """Mean log P(target | input). With any multi-target example, targets' probabilities are summed and
    only the full-sequence value is reported; otherwise per-word and per-char variants too."""
    out = MetricValues()
    if any(len(t) > 1 for t in targets):
        per = [_logsumexp(lp) for lp in log_probs]
        out.scores["log_likelihood"] = float(np.mean(per))
        out.per_example["log_likelihood"] = per
        return out
    per = [float(lp[0]) for lp in log_probs]
    n = len(per)
    out.scores["log_likelihood"] = sum(per) / n
    out.per_example["log_likelihood"] = per
    if all(t[0].split() for t in targets):  # BIG-bench divides by zero on an empty target; we omit the variants
        per_char = [lp / len(t[0]) for lp, t in zip(per, targets)]
        per_word = [lp / len(t[0].split()) for lp, t in zip(per, targets)]
        out.scores["log_likelihood_per_word"] = sum(per_word) / n
        out.scores["log_likelihood_per_char"] = sum(per_char) / n
        out.per_example.update(log_likelihood_per_word=per_word, log_likelihood_per_char=per_char)
    return out


def normalized_score(score: float, low: float, high: float) -> float:
    """BIG-bench's normalised preferred score: 0 at chance (``low``), 100 at ``high``."""
    return 100.0 * (score - low) / (high - low)
