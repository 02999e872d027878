"""Formatting shared by every renderer of results (terminal, HTML, Markdown): numbers, intervals, short
metric names, thresholds, and the order and selection of rows. Pure functions of results."""

from __future__ import annotations

import math
from collections.abc import Sequence

from pytest_lmbench.core.results import OUTCOME_ORDER, ComparisonDict, TaskResult
from pytest_lmbench.core.scoring.metrics import LOWER_IS_BETTER, SHORT_METRIC


def fmt(value: float | None) -> str:
    if value is None:
        return "-"
    if abs(value) >= 100 or value == 0:
        return f"{value:.1f}" if abs(value) >= 100 else "0"
    return f"{value:.3f}" if abs(value) < 10 else f"{value:.2f}"


def plus_minus(result: TaskResult) -> str:
    """± half-width of the preferred score's 95% interval; "n<2" when there is none."""
    from pytest_lmbench.core.uncertainty import half_width

    if result.preferred_value is None:
        return ""
    width = half_width(result)
    if width is None:
        # a programmatic task's n counts model requests: its score never has an interval, whatever n is
        return "n<2" if result.n_examples <= 1 and result.score_data is None else "-"
    return "±" + fmt(width)


def threshold_text(result: TaskResult) -> str:
    parts = []
    for metric, value in result.threshold.items():
        op = "<=" if metric in LOWER_IS_BETTER else ">="
        short = "" if metric == result.preferred_score else f"{SHORT_METRIC.get(metric, metric)} "
        parts.append(f"{op} {value:g}" if not short else f"{short.strip()}{op}{value:g}")
    return ", ".join(parts) or "-"


def row_order(result: TaskResult) -> tuple:
    """How a model's rows are listed: items before aggregates, worst outcome first, then by name."""
    return (result.aggregate, OUTCOME_ORDER.get(result.outcome, 9), result.task, result.shots)


def outcome_counts(results: list[TaskResult]) -> list[tuple[str, int]]:
    """(outcome, number of items), worst outcome first; aggregates are not items."""
    counts: dict[str, int] = {}
    for r in results:
        if not r.aggregate:
            counts[r.outcome] = counts.get(r.outcome, 0) + 1
    return sorted(counts.items(), key=lambda kv: OUTCOME_ORDER.get(kv[0], 9))


def explained(results: list[TaskResult]) -> list[TaskResult]:
    """Results whose message says why they need attention."""
    return [r for r in results if r.message and r.outcome in ("failed", "regressed", "inconclusive", "error")]


def baseline_comparison(result: TaskResult) -> ComparisonDict | None:
    """The result's comparison with --lm-baseline (not an informative --lm-compare one), if any."""
    return next((c for c in result.comparisons if c.get("gating", True)), None)


def model_order(results: list[TaskResult], given: Sequence[str]) -> list[str]:
    """The models of ``results`` in the order given on the command line, others (e.g. "-") after."""
    present = list(dict.fromkeys(r.model for r in results))
    return [m for m in given if m in present] + [m for m in present if m not in given]


def group_plus_minus(stderr: float | None, value: float, ci95: Sequence[float] | None) -> str:
    """± the larger half of a group score's 95% interval (lopsided near a bound: see docs/report.md)."""
    if stderr is None or ci95 is None:
        return "n/a"
    return "±" + fmt(max(value - ci95[0], ci95[1] - value))


def reducer_cells(result: TaskResult) -> list[tuple[str, str]]:
    """(reducer, "value ±half-width") of a result run with repeats, in report order: mean@K, maj@K, pass@k...,
    pass^k... (empty without repeats)."""
    from pytest_lmbench.core.repeats import is_reducer
    from pytest_lmbench.core.uncertainty import half_width

    if not result.repeats:
        return []
    out = []
    for name, value in result.scores.items():
        if is_reducer(name):
            width = half_width(result, name)
            out.append((name, fmt(value) + ("" if width is None else " ±" + fmt(width))))
    return out


def cost_text(results: Sequence[TaskResult], role: str | None = None) -> str:
    """What the items of ``results`` cost together, as ``usage.short`` says it ("1,234 tokens (1,000 in, 234 out),
    12 calls, 3.4 s, 363 tok/s, 5 cached, $0.0012"): the models under test's, or with ``role`` ("judge") what the
    items' models of that role cost; "" when none carries usage."""
    from pytest_lmbench.core.usage import Usage, short

    found = [r.usage for r in results if r.usage and not r.aggregate]
    if role is not None:
        found = [u["roles"][role] for u in found if role in (u.get("roles") or {})]
    if not found:
        return ""
    total = Usage()
    for u in found:
        total.merge(u)
    return short(total.to_dict())


def cost_roles(results: Sequence[TaskResult]) -> list[str]:
    """The roles of the other models the items called (a judge), in name order."""
    return sorted({role for r in results if r.usage and not r.aggregate for role in r.usage.get("roles") or {}})


def probabilities(log_probs: Sequence[float]) -> list[float]:
    """The options' probabilities: softmax of their log-probs (rounded: they are read, not recomputed)."""
    finite = [lp for lp in log_probs if isinstance(lp, (int, float)) and math.isfinite(lp)]
    if not finite:
        return [0.0 for _ in log_probs]
    top = max(finite)
    weights = [math.exp(lp - top) if isinstance(lp, (int, float)) and math.isfinite(lp) else 0.0 for lp in log_probs]
    total = sum(weights)
    return [round(w / total, 4) for w in weights]
