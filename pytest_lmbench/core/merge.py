"""Reports of one suite split over several jobs (``--lm-shard``, pytest-split, ``-k``, one job per model), merged
into the report one process would have written: the item results gathered, then everything a whole run computes
(comparisons and the baseline gate with Holm's correction over all items, parents' aggregates, the mean
normalized scores) computed again by ``core/run.final_results``, never copied from a job that saw only part.

A merge refuses what cannot be one run: the same item twice with different results, a task run from two
versions of its file, jobs run with different example limits. It marks the merged report incomplete when a job
was, or when shards of a ``--lm-shard`` split are missing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from pytest_lmbench.core.aggregates import model_aggregates
from pytest_lmbench.core.compare import BaselineIndex, ungated
from pytest_lmbench.core.results import Report, ReportError, TaskResult
from pytest_lmbench.core.run import final_results


class MergeError(ReportError):
    """Reports that cannot be merged into one run's: which files, which item, and what to do."""


def _item(r: TaskResult) -> str:
    return f"{r.task} [{r.model}, {r.shots}-shot]"


def _score_differs(a: TaskResult, b: TaskResult) -> str | None:
    """The first metric whose value differs between two results (NaN equals NaN: a report read twice), or None."""
    for metric in sorted(set(a.scores) | set(b.scores)):
        x, y = a.scores.get(metric), b.scores.get(metric)
        if x != y and not (isinstance(x, float) and isinstance(y, float) and math.isnan(x) and math.isnan(y)):
            return metric
    return None


def _differs(a: TaskResult, b: TaskResult) -> str | None:
    """What tells two results of one item apart, in a few words; None: the same result (a job run twice, a
    report given twice)."""
    if a.outcome != b.outcome:
        return f"outcome {a.outcome} vs {b.outcome}"
    metric = _score_differs(a, b)
    if metric is not None:
        return f"{metric} {a.scores.get(metric)} vs {b.scores.get(metric)}"
    if [e.id for e in a.examples] != [e.id for e in b.examples]:
        return "different examples"
    return None


def merge_reports(reports: Sequence[tuple[str, Report]], *, baseline: BaselineIndex | None = None,
                  max_regression: float = 0.0, alpha: float = 0.05, baseline_metric: str | None = None,
                  compare_to: str | None = None, lmeval_include: Sequence[str] = ()) -> Report:
    """One report from ``reports`` ((name, report) each; the names are what errors and notes say). The item
    results of every report (aggregates dropped, each one's own gate undone: ``compare.ungated``) are computed
    into a run's results again with the options a single run would have had (``--lm-baseline`` as
    ``baseline`` and its gate options, ``--lm-compare`` as ``compare_to``). A MergeError for reports that are
    not parts of one run."""
    if not reports:
        raise MergeError("no reports to merge: name the reports of the jobs, e.g. merge shard-1.json shard-2.json")
    limits = {name: r.max_examples for name, r in reports}
    if len(set(limits.values())) > 1:
        shown = ", ".join(f"{n}: {v}" for n, v in limits.items())
        raise MergeError(f"the reports were run with different --lm-max-examples ({shown}): their examples differ; "
                         "merge reports of jobs run with the same options")
    items: dict[tuple[str, str, int], tuple[str, TaskResult]] = {}
    digests: dict[str, tuple[str, str]] = {}  # task -> (digest, report)
    notes: list[str] = []
    for name, report in reports:
        for result in report.results:
            if result.aggregate:
                continue  # computed again from all items
            key = (result.task, result.model, result.shots)
            if result.source_digest is not None:
                seen = digests.setdefault(result.task, (result.source_digest, name))
                if seen[0] != result.source_digest:
                    raise MergeError(
                        f"{result.task}: run from two versions of its file ({seen[1]}: {seen[0]}, {name}: "
                        f"{result.source_digest}, the sha256 of {result.path or 'the task file'}): rerun the jobs "
                        "on the same commit")
            if key in items:
                first_name, first = items[key]
                differs = _differs(first, result)
                if differs is not None:
                    raise MergeError(f"{_item(result)} is in {first_name} and in {name} with different results "
                                     f"({differs}): merge the reports of one split run, or leave one of them out")
                notes.append(f"{_item(result)} is in {first_name} and in {name} with the same result: kept once")
                continue
            items[key] = (name, ungated(result))
    complete = all(r.complete for _, r in reports)
    notes += [f"{name}: the job's run was incomplete (interrupted or stopped by a budget)"
              for name, r in reports if not r.complete]
    shard_notes, shards_complete = _shards(reports)
    notes += shard_notes
    complete = complete and shards_complete
    results = final_results([r for _, r in items.values()], baseline=baseline, max_regression=max_regression,
                            alpha=alpha, baseline_metric=baseline_metric, compare_to=compare_to,
                            lmeval_include=lmeval_include)
    models = list(dict.fromkeys(m for _, r in reports for m in r.models))
    shots = sorted({s for _, r in reports for s in r.shots})
    merged: dict[str, Any] = {"from": [name for name, _ in reports], "notes": notes}
    return Report(complete=complete, models=models, shots=shots, max_examples=next(iter(limits.values())),
                  aggregates=[g.to_dict() for g in model_aggregates(results)], results=results,
                  extra={"merged": merged})


def _shards(reports: Sequence[tuple[str, Report]]) -> tuple[list[str], bool]:
    """Notes on the ``--lm-shard`` split the reports come from, and whether all of its shares are there."""
    shards = {name: r.extra["shard"] for name, r in reports if isinstance(r.extra.get("shard"), dict)}
    if not shards:
        return [], True
    counts = {s.get("count") for s in shards.values()}
    if len(counts) > 1:
        shown = ", ".join(f"{n}: {s.get('index')}/{s.get('count')}" for n, s in shards.items())
        raise MergeError(f"the reports come from different --lm-shard splits ({shown}): merge the shards of one split")
    count = int(next(iter(counts)) or 0)
    present = {int(s.get("index", 0)) for s in shards.values()}
    missing = [i for i in range(1, count + 1) if i not in present]
    notes = []
    if missing:
        notes.append(f"--lm-shard: share(s) {', '.join(f'{i}/{count}' for i in missing)} missing: the merged report "
                     "holds only part of the suite")
    totals = {s.get("total") for s in shards.values()}
    if not missing and len(totals) > 1:
        notes.append(f"--lm-shard: the shares were cut from different collections ({sorted(map(str, totals))} "
                     "items): were the jobs run with the same options?")
        return notes, False
    return notes, not missing
