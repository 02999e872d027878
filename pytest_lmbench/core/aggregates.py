"""Scores over many tasks: per model (and shot count), the mean normalized preferred score over all tasks and
over the tasks of each BIG-bench keyword, with error bars.

Tasks are counted as BIG-bench counts them: a parent task is one task (its aggregate), never its subtasks
again. A task's normalized score is 0 at chance (or the task's low score) and 100 at its high score, so tasks
with different metrics can be averaged. The error bar is the sampling error of the examples with the set of
tasks held fixed: se = sqrt(sum se_i^2) / k over the k tasks (tasks are independent samples). It does not
include the variation from choosing other tasks. A normalized score can only take values between its
preferred metric's bounds, normalized; the group's mean lies between the means of those, and its interval is
on the logit scale between them (``stats.logit_interval``), so it never leaves what the mean can take. When a
task's preferred metric is unbounded (log-likelihood, say) the group's interval is mean +/- 1.96 se.
"""

from __future__ import annotations

import dataclasses
import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, cast

from pytest_lmbench.core import stats as S
from pytest_lmbench.core.results import TaskResult
from pytest_lmbench.core.scoring.metrics import normalized_score

ALL = "all tasks"


@dataclass
class GroupScore:
    """The mean normalized score of one model and shot count over a group of tasks."""

    model: str
    shots: int
    group: str  # ALL or a keyword
    n_tasks: int
    normalized_score: float
    stderr: float | None
    ci95: list[float] | None
    tasks: list[str] = field(default_factory=list)
    note: str | None = None
    method: str | None = None  # "logit" between ``bounds``, or "normal" (an unbounded member)
    bounds: list[float] | None = None  # the range the mean normalized score can take

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def normalized_stderr(result: TaskResult) -> float | None:
    """The standard error of a result's normalized preferred score (its preferred score's, rescaled)."""
    entry = result.errors.get(result.preferred_score) if result.errors else None
    stderr = entry.get("stderr") if entry else None
    if stderr is None or result.high_score == result.low_score:
        return None
    return float(stderr) * 100.0 / abs(result.high_score - result.low_score)


def normalized_bounds(result: TaskResult) -> tuple[float, float] | None:
    """The range of a result's normalized preferred score: its preferred metric's bounds (the ``bounds`` of
    its error entry) normalized; None when the metric is unbounded."""
    entry = result.errors.get(result.preferred_score) if result.errors else None
    bounds = entry.get("bounds") if entry else None
    if bounds is None or result.high_score == result.low_score:
        return None
    ends = sorted(normalized_score(float(b), result.low_score, result.high_score) for b in bounds)
    return ends[0], ends[1]


def top_level(results: list[TaskResult]) -> list[TaskResult]:
    """Each task once: parents' aggregates and tasks without a parent, with a score."""
    return [r for r in results if (r.aggregate or not r.parent) and r.outcome not in ("error", "skipped")
            and r.normalized_preferred_score is not None]


def _group(model: str, shots: int, group: str, members: list[TaskResult]) -> GroupScore:
    # members come from top_level, which keeps only results with a normalized preferred score
    values = [float(cast(float, r.normalized_preferred_score)) for r in members]
    mean = sum(values) / len(values)
    errors = [normalized_stderr(r) for r in members]
    missing = [r.task for r, e in zip(members, errors) if e is None]
    if missing:
        return GroupScore(model, shots, group, len(members), mean, None, None, [r.task for r in members],
                          note=f"no interval: {', '.join(missing)} has none")
    known_errors = [e for e in errors if e is not None]  # all of them: none is missing
    se = math.sqrt(sum(e * e for e in known_errors)) / len(known_errors)
    ranges = [normalized_bounds(r) for r in members]
    known_ranges = [b for b in ranges if b is not None]
    bounds = None if len(known_ranges) < len(ranges) else \
        [sum(b[0] for b in known_ranges) / len(known_ranges), sum(b[1] for b in known_ranges) / len(known_ranges)]
    lo, hi = S.mean_interval(mean, se, bounds)
    return GroupScore(model, shots, group, len(members), mean, se, [lo, hi], [r.task for r in members],
                      method="normal" if bounds is None else "logit", bounds=bounds)


def model_aggregates(results: list[TaskResult]) -> list[GroupScore]:
    """Per (model, shots): the mean over all tasks, then one row per keyword, keywords by name."""
    by_model: dict[tuple[str, int], list[TaskResult]] = defaultdict(list)
    for r in top_level(results):
        by_model[(r.model, r.shots)].append(r)
    out = []
    for (model, shots), members in by_model.items():
        out.append(_group(model, shots, ALL, members))
        keywords = sorted({k for r in members for k in r.keywords})
        for keyword in keywords:
            out.append(_group(model, shots, keyword, [r for r in members if keyword in r.keywords]))
    return out
