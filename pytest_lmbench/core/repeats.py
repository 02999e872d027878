"""Repeated sampling: each example answered K times, and the reducers that turn K answers into one number.

- ``mean@K``: the mean score of all samples (per example, the mean of its K samples);
- ``maj@K``: the score of the majority answer (Minerva's and PaLM's maj1@k). Ties go to the tied answer that
  came first, in repeat order (repeat 0 first): deterministic, and with one sample it is that sample;
- ``pass@k``: the chance that at least one of k samples drawn without replacement from the n is right, by
  the unbiased estimator of Chen et al. 2021, ``1 - C(n-c, k) / C(n, k)`` for c right of n;
- ``pass^k``: the chance that all k drawn are right, ``C(c, k) / C(n, k)`` (unbiased for p**k; at k = n it is
  "all n right"; reported for k > 1, as pass^1 is pass@1).

Per-repeat seeds are ``seed + i`` (repeat i), so a rerun draws the same samples. Pure: no pytest here, and
numpy only when options are drawn (the plugin imports this module at start-up).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from pytest_lmbench.core.results import ExampleResult
    from pytest_lmbench.core.scoring.metrics import MetricValues

#: Sampling temperature when K > 1 and none is given (the model's own distribution).
DEFAULT_TEMPERATURE: Final = 1.0


@dataclass(frozen=True)
class Repeats:
    """How often each example is answered, at what temperature, from which seed, and which pass@k to report
    (``pass_at``: empty means 1 and K)."""

    k: int = 1
    temperature: float = DEFAULT_TEMPERATURE
    seed: int = 0
    pass_at: tuple[int, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if self.k < 1:
            raise ValueError(f"repeats must be 1 or more, not {self.k}")
        if not self.temperature >= 0:
            raise ValueError(f"temperature must be 0 or more, not {self.temperature}")
        if any(k < 1 for k in self.pass_at):
            raise ValueError(f"pass@k needs k of 1 or more, not {list(self.pass_at)}")

    @property
    def on(self) -> bool:
        return self.k > 1

    def seeds(self) -> list[int]:
        return [self.seed + i for i in range(self.k)]

    def ks(self) -> list[int]:
        """The k of pass@k and pass^k to report: those asked for that K samples allow."""
        asked = self.pass_at or (1, self.k)
        return sorted({k for k in asked if k <= self.k})

    def skipped_ks(self) -> list[int]:
        return sorted({k for k in self.pass_at if k > self.k})

    def describe(self) -> dict[str, object]:
        """What the report records of the repeats (builtin types)."""
        return {"k": self.k, "temperature": self.temperature, "seeds": self.seeds(), "pass_at": self.ks()}


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k (Chen et al. 2021): ``1 - C(n-c, k) / C(n, k)``, in exact integers (no cancellation),
    rounded once."""
    _check(n, c, k)
    if n - c < k:
        return 1.0
    return float(1 - Fraction(math.comb(n - c, k), math.comb(n, k)))


def pass_hat_k(n: int, c: int, k: int) -> float:
    """pass^k: the chance that k samples drawn without replacement are all right, ``C(c, k) / C(n, k)``."""
    _check(n, c, k)
    if c < k:
        return 0.0
    return float(Fraction(math.comb(c, k), math.comb(n, k)))


def _check(n: int, c: int, k: int) -> None:
    if not 0 <= c <= n or not 1 <= k <= n:
        raise ValueError(f"pass@k needs 0 <= c <= n and 1 <= k <= n, not n={n}, c={c}, k={k}")


def majority(answers: Sequence[Hashable]) -> int:
    """The index of the sample whose answer is the majority one: most votes, ties to the answer given first.
    None is no answer (an mc=letters reply that named no option) and gets no vote; with no answer at all, 0."""
    counts: dict[Hashable, int] = {}
    first: dict[Hashable, int] = {}
    for i, a in enumerate(answers):
        if a is None:
            continue
        counts[a] = counts.get(a, 0) + 1
        first.setdefault(a, i)
    if not counts:
        return 0
    best = max(counts, key=lambda a: (counts[a], -first[a]))
    return first[best]


def vote(sample: Mapping[str, Any]) -> Hashable:
    """What a sample votes for: the option it picked, else its answer's text, else (a function task's record
    with a score only) its score."""
    if "picked" in sample:
        return sample["picked"]
    if sample.get("response") is not None:
        return str(sample["response"])
    return ("score", float(sample["score"]))


def reduce_example(scores: Sequence[float], answers: Sequence[Hashable], correct: Sequence[bool] | None,
                   k_max: int, ks: Sequence[int]) -> dict[str, float]:
    """One example's reducers from its samples' scores, answers (what is voted on) and right/wrong (None when
    the metric does not say right or wrong: no pass@k then). Named with ``k_max``, the repeats asked for."""
    n = len(scores)
    out = {f"mean@{k_max}": float(sum(scores) / n), f"maj@{k_max}": float(scores[majority(answers)])}
    if correct is not None:
        c = sum(bool(x) for x in correct)
        for k in ks:
            if k <= n:
                out[f"pass@{k}"] = pass_at_k(n, c, k)
                if k > 1:  # pass^1 is pass@1
                    out[f"pass^{k}"] = pass_hat_k(n, c, k)
    return out


def reducer_names(k_max: int, ks: Sequence[int], binary: bool) -> list[str]:
    """Every reducer score a task with K = ``k_max`` repeats reports, in report order."""
    names = [f"mean@{k_max}", f"maj@{k_max}"]
    if binary:
        names += [f"pass@{k}" for k in ks] + [f"pass^{k}" for k in ks if k > 1]
    return names


def is_reducer(metric: str) -> bool:
    head, at, tail = metric.partition("@")
    if at and head in ("mean", "maj", "pass") and tail.isdigit():
        return True
    head, hat, tail = metric.partition("^")
    return bool(hat) and head == "pass" and tail.isdigit()


def option_sample(normalized_log_probs: Sequence[float], temperature: float, seed: int, example: str) -> int:
    """Multiple choice with repeats: an option drawn from softmax(log-probs / temperature), with a generator
    seeded by (seed, example id) so that a draw does not depend on the other examples."""
    import numpy as np

    lp = np.asarray(normalized_log_probs, dtype=np.float64)
    if temperature == 0:
        from pytest_lmbench.core.scoring.metrics import hashed_argmax

        return hashed_argmax(list(lp))
    z = lp / temperature
    p = np.exp(z - z.max())
    p /= p.sum()
    digest = hashlib.sha256(f"{seed}\x00{example}".encode()).digest()
    rng = np.random.default_rng(int.from_bytes(digest[:16], "little"))
    return int(rng.choice(len(p), p=p))


#: Scores that say right (1) or wrong (0) of each generated answer: what pass@k and pass^k count.
RIGHT_WRONG = frozenset({"exact_str_match", "case_insensitive_str_match", "numeric_match_with_0_1_relative_error"})


def mean_of_repeats(per_repeat: list[MetricValues], examples: list[ExampleResult]) -> MetricValues:
    """The metrics of K repeats: each the mean over the repeats (per example, the mean of its K samples). Each
    sample of ``examples`` keeps its own per-example values (``scores``)."""
    from pytest_lmbench.core.scoring.metrics import (
        MetricValues,  # numpy: only once there are repeats
        is_sparse,
    )

    out = MetricValues()
    k = len(per_repeat)
    for metric in per_repeat[0].scores:
        if not is_sparse(metric):
            out.scores[metric] = float(sum(v.scores[metric] for v in per_repeat) / k)
    for metric, first in per_repeat[0].per_example.items():
        n = len(first)
        column: list[list[float | None]] = [[v.per_example.get(metric, [None] * n)[j] for v in per_repeat]  # type: ignore[list-item]
                                            for j in range(n)]
        if is_sparse(metric):  # a judge's grade: per example the mean of the samples whose verdict was read
            read = [[x for x in xs if x is not None] for xs in column]
            out.per_example[metric] = [float(sum(xs) / len(xs)) if xs else None for xs in read]  # type: ignore[misc]
            kept = [x for x in out.per_example[metric] if x is not None]
            if kept:
                out.scores[metric] = float(sum(kept) / len(kept))
        else:  # (a function task's sparse metric: None where an example has no value)
            out.per_example[metric] = [None if any(x is None for x in xs)  # type: ignore[misc]
                                       else float(sum(x for x in xs if x is not None) / k) for xs in column]
        for j, ex in enumerate(examples):
            for i, sample in enumerate(ex.samples or []):
                value = column[j][i]
                if value is not None:
                    sample.setdefault("scores", {})[metric] = float(value)
    return out


def judged_repeats(metric: str, repeats: Repeats, notes: list[str]) -> dict[str, Any]:
    """The repeats of a judge's score (``metric``): already the mean over each example's judged samples; a grade
    has no majority vote and no right or wrong to count pass@k by, so there are no reducers (said in ``notes``)."""
    notes.append(f"repeats: {metric} is the mean over each example's {repeats.k} judged samples (no maj@K or pass@k "
                 "of a judge's grades)")
    return {**repeats.describe(), "metric": metric}


def reduce_repeats(metric: str, repeats: Repeats, examples: list[ExampleResult], values: MetricValues,
                   notes: list[str], *, binary: bool) -> dict[str, Any]:
    """mean@K, maj@K, pass@k and pass^k of ``metric`` from each example's samples (each with its ``score``, and
    ``correct`` where ``binary``: the metric says right or wrong), into ``values`` (per example and overall).
    The vote is over each sample's answer (``vote``); an example's shown answer becomes its majority one."""
    k, ks = repeats.k, repeats.ks()
    names = reducer_names(k, ks, binary)
    per_example: dict[str, list[float]] = {name: [] for name in names}
    for ex in examples:
        samples = ex.samples or []
        votes = [vote(s) for s in samples]
        correct = [bool(s.get("correct")) for s in samples] if binary else None
        reduced = reduce_example([float(s["score"]) for s in samples], votes, correct, k, ks)
        for name in names:
            per_example[name].append(reduced[name])
        top = samples[majority(votes)]
        if "response" in top:  # a generated answer: the example shows its majority one
            ex.response, ex.raw_response = top.get("response"), top.get("raw_response")
            if "picked" in top:
                ex.picked = top["picked"]
    for name in names:
        values.per_example[name] = per_example[name]
        values.scores[name] = float(sum(per_example[name]) / len(per_example[name])) if per_example[name] else 0.0
    if not binary:
        notes.append(f"repeats: {metric} is not right/wrong per sample, so no pass@k or pass^k")
    skipped = repeats.skipped_ks()
    if skipped:
        notes.append(f"repeats: pass@{', pass@'.join(map(str, skipped))} need more than {k} samples per example")
    return {**repeats.describe(), "metric": metric}
