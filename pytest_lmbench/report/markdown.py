"""A Markdown summary for CI pages: appended to ``$GITHUB_STEP_SUMMARY`` when GitHub Actions sets it.

The same story as the terminal summary, in tables a browser renders: per model, each task's score with its
95% interval, threshold and outcome; the mean normalized score over tasks and keywords; comparisons with a
baseline; why items are inconclusive or regressed.
"""

from __future__ import annotations

from pytest_lmbench.core.aggregates import ALL, GroupScore
from pytest_lmbench.core.results import TaskResult
from pytest_lmbench.report.format import (
    SHORT_METRIC,
    cost_text,
    explained,
    fmt,
    outcome_counts,
    plus_minus,
    reducer_cells,
    row_order,
    threshold_text,
)

ICON = {"passed": "✅", "failed": "❌", "regressed": "❌", "error": "💥", "inconclusive": "⚠️", "skipped": "⏭️",
        "scored": "📏"}


def _cell(text: object) -> str:
    """Table-cell text: pipes and newlines would break the row; backticks keep ids literal."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def render_markdown(results: list[TaskResult], aggregates: list[GroupScore]) -> str:
    lines = ["## lmbench summary", "", "items: " + ", ".join(f"{n} {k}" for k, n in outcome_counts(results)), ""]
    for model in dict.fromkeys(r.model for r in results):
        rows = sorted((r for r in results if r.model == model), key=row_order)
        lines += [f"### model `{_cell(model)}`", "",
                  "| task | shots | n | metric | score | ±95% | outcome | threshold |",
                  "|---|---:|---:|---|---:|---|---|---|"]
        for r in rows:
            task = r.task + (" (aggregate)" if r.aggregate else "")
            lines.append(f"| `{_cell(task)}` | {r.shots} | {r.n_examples} | "
                         f"{_cell(SHORT_METRIC.get(r.preferred_score, r.preferred_score) or '-')} | "
                         f"{fmt(r.preferred_value)} | {plus_minus(r)} | {ICON.get(r.outcome, '')} {r.outcome} | "
                         f"{_cell(threshold_text(r))} |")
        groups = [g for g in aggregates if g.model == model]
        if sum(1 for g in groups if g.group == ALL and g.n_tasks >= 2):
            lines += ["", "| mean normalized score | shots | tasks | score | 95% CI |", "|---|---:|---:|---:|---|"]
            for g in groups:
                ci = f"{fmt(g.ci95[0])} to {fmt(g.ci95[1])}" if g.ci95 else "-"
                lines.append(f"| {_cell(g.group)} | {g.shots} | {g.n_tasks} | {fmt(g.normalized_score)} | {ci} |")
        repeated = [r for r in rows if r.repeats and not r.aggregate]
        if repeated:
            names = list(dict.fromkeys(name for r in repeated for name, _ in reducer_cells(r)))
            lines += ["", "| repeats | K | T | " + " | ".join(names) + " |", "|---|---:|---:|" + "---:|" * len(names)]
            for r in repeated:
                cells = dict(reducer_cells(r))
                info = r.repeats or {}
                lines.append(f"| `{_cell(r.task)}` | {info.get('k')} | {float(info.get('temperature', 0.0)):g} | "
                             + " | ".join(cells.get(n, "-") for n in names) + " |")
        cost = cost_text(rows)
        if cost:
            lines += ["", f"cost: {cost}"]
        lines.append("")
    comps = [c for r in results for c in r.comparisons]
    if comps:
        lines += ["### comparisons", "", "| task | model | against | n | base | cand | delta | 95% CI | p | verdict |",
                  "|---|---|---|---:|---:|---:|---:|---|---:|---|"]
        for c in comps:
            ci95 = c.get("ci95")
            ci = f"{ci95[0]:+.3f} to {ci95[1]:+.3f}" if ci95 else "-"
            delta = f"{c['delta']:+.3f}" if c.get("delta") is not None else "-"
            p = f"{c['p_adjusted']:.3g}" if c.get("p_adjusted") is not None else "-"
            lines.append(f"| `{_cell(c['task'])}` | `{_cell(c['model'])}` | {_cell(c['against'])} | {c['n_matched']} "
                         f"| {fmt(c.get('baseline'))} | {fmt(c.get('candidate'))} | {delta} | {ci} | {p} | "
                         f"{c['verdict']}{' (' + _cell(c['message']) + ')' if c.get('message') else ''} |")
        lines.append("")
    reasons = explained(results)
    if reasons:
        lines += ["<details><summary>why items failed, regressed or are inconclusive</summary>", "", "```"]
        lines += [r.message for r in reasons if r.message]  # explained keeps only those with one: drops none
        lines += ["```", "", "</details>", ""]
    return "\n".join(lines)
