"""Run-level results: what a whole run's item results add up to, computed from the results and explicit options.

The plugin gathers item results and options and calls :func:`final_results`; a tool that reads reports back
(``load`` a report, compare it, merge several) calls the same function without pytest, so a run's comparisons,
regression gate and parent aggregates are computed one way wherever they are computed.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from pytest_lmbench.core.compare import BaselineIndex, compare_models, compare_with_baseline
from pytest_lmbench.core.results import TaskResult, aggregate
from pytest_lmbench.core.uncertainty import aggregate_errors


def final_results(results: Sequence[TaskResult], *, baseline: BaselineIndex | None = None,
                  max_regression: float = 0.0, alpha: float = 0.05, baseline_metric: str | None = None,
                  compare_to: str | None = None, lmeval_include: Sequence[str] = ()) -> list[TaskResult]:
    """Item results (compared with ``baseline``, the --lm-baseline gate, and the ``compare_to`` model) plus one
    aggregate per parent and model, in a stable order. Comparisons are added to the item results themselves
    (and a regressed item's outcome set), as the gate needs every item's p-value at once (Holm).

    A parent is aggregated by its ``parent_kind``: None, BIG-bench's ``add_aggregate_scores`` per (parent,
    model, shots); "lmeval", lm-eval's own group rules (``tasks/lmeval.aggregate_group``, with the configs
    found through ``lmeval_include``, as --lm-eval-include)."""
    if not results:
        return []
    items = sorted(results, key=lambda r: (r.parent or r.task, r.task, r.model, r.shots))
    if baseline is not None:
        compare_with_baseline(items, baseline, max_regression=max_regression, alpha=alpha, metric=baseline_metric)
    if compare_to is not None:
        compare_models(items, compare_to, alpha=alpha)
    by_parent: dict[tuple[str, str, int], list[TaskResult]] = defaultdict(list)
    groups: dict[tuple[str, str], list[TaskResult]] = defaultdict(list)
    for r in items:
        if r.parent and r.outcome not in ("error", "skipped") and r.scores:
            if r.parent_kind == "lmeval":
                groups[(r.parent, r.model)].append(r)
            elif r.parent_kind is None:
                by_parent[(r.parent, r.model, r.shots)].append(r)
            else:
                raise ValueError(f"{r.task} [{r.model}]: unknown parent_kind {r.parent_kind!r} (one of None, "
                                 "'lmeval'); a report of a newer pytest-lmbench?")
    out = list(items)
    for (parent, _model, _shots), subs in sorted(by_parent.items()):
        family = sorted({name for r in subs for name in r.parent_subtasks})  # known from collection
        out.append(aggregate_errors(aggregate(parent, subs, family or None), subs))
    if groups:
        from pytest_lmbench.core.tasks.lmeval import aggregate_group
    for (parent, _model), subs in sorted(groups.items()):
        family = sorted({name for r in subs for name in r.parent_subtasks})
        tasks = [r.task for r in subs]
        # each task once (at its config's shot count, as lm-eval runs a group), else one aggregate per shots
        runs = [subs] if len(tasks) == len(set(tasks)) else \
            [[r for r in subs if r.shots == s] for s in sorted({r.shots for r in subs})]
        out += [aggregate_group(run[0].path or "", parent, run, family, lmeval_include) for run in runs]
    return out
