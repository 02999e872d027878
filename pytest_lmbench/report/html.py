"""``--lm-html PATH``: one self-contained HTML file (inline CSS, SVG and script, nothing fetched) for people who
would rather look than read a log.

It holds, per model, the table of tasks (score with its 95% interval, threshold, outcome, delta against the
baseline); the mean normalized score over tasks and keywords; a score-by-model bar chart with error bars when
several models ran; a score-vs-model line per task (BIG-bench's scaling picture) when several models ran;
and a reliability diagram for every multiple-choice result (accuracy against confidence, the diagonal being
perfect calibration), plus one for stated confidence where the task asked for it.

Below those, the examples of every item (``examples_html.py``): a closed section per task and shot count that,
opened, lists the prompts, targets and each model's answers and scores side by side, wrong ones first (with
``baseline``: the examples whose correctness flipped against it before them), with a text filter and a
right/wrong/flipped select. Everything above the examples is static HTML; only the examples need the script
(their data is embedded as JSON and rendered on demand, so that a run of tens of thousands of examples still
opens at once).
"""

from __future__ import annotations

import datetime as _dt
import html
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, cast

from pytest_lmbench.core.aggregates import ALL, GroupScore
from pytest_lmbench.core.results import TaskResult
from pytest_lmbench.report import examples_html
from pytest_lmbench.report.format import (
    SHORT_METRIC,
    baseline_comparison,
    cost_text,
    explained,
    fmt,
    model_order,
    outcome_counts,
    reducer_cells,
    row_order,
    threshold_text,
)

if TYPE_CHECKING:
    from pytest_lmbench.core.compare import BaselineIndex

PALETTE = ["#4269d0", "#efb118", "#ff725c", "#6cc5b0", "#3ca951", "#ff8ab7", "#a463f2", "#97bbf5"]
OUTCOME_COLOR = {"passed": "#2e7d32", "failed": "#c62828", "regressed": "#c62828", "error": "#8e24aa",
                 "inconclusive": "#b26a00", "skipped": "#757575", "scored": "#00838f"}

CSS = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 2em auto; max-width: 1100px;
       color: #222; padding: 0 1em; }
h1 { font-size: 1.5em; margin-bottom: .2em; } h2 { margin-top: 2em; border-bottom: 1px solid #ddd; }
.meta { color: #666; }
table { border-collapse: collapse; margin: .8em 0; }
th, td { padding: .25em .7em; border-bottom: 1px solid #eee; text-align: left; vertical-align: top; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
.outcome { font-weight: 600; }
.plots { display: flex; flex-wrap: wrap; gap: 1.2em; }
figure.plot { margin: 0; } figure.plot figcaption { font-size: .9em; color: #444; max-width: 320px; }
pre { background: #f6f8fa; padding: .8em; overflow-x: auto; font-size: .85em; }
"""


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _interval(result: TaskResult) -> tuple[float, float] | None:
    entry = result.errors.get(result.preferred_score) if result.errors else None
    ci = entry.get("ci95") if entry else None
    if not ci:
        return None
    return float(ci[0]), float(ci[1])


def _normalized_interval(result: TaskResult) -> tuple[float, float] | None:
    ci = _interval(result)
    span = result.high_score - result.low_score
    if ci is None or not span:
        return None
    lo, hi = (100.0 * (v - result.low_score) / span for v in ci)
    return lo, hi


# ------------------------------------------------------------------------------------------------ svg

def reliability_svg(bins: Sequence[dict[str, Any]], title: str, size: int = 240) -> str:
    """Accuracy against mean confidence per bin (bars at the bin's place, width by bin range), the diagonal of
    perfect calibration, and each bin's count."""
    pad = 34
    inner = size - 2 * pad

    def x(v: float) -> float:
        return pad + v * inner

    def y(v: float) -> float:
        return size - pad - v * inner

    parts = [f'<svg class="reliability" xmlns="http://www.w3.org/2000/svg" width="{size}" height="{size}" '
             f'viewBox="0 0 {size} {size}" role="img" aria-label="{_e(title)}">',
             f'<rect x="{pad}" y="{pad}" width="{inner}" height="{inner}" fill="#fafafa" stroke="#ccc"/>',
             f'<line x1="{x(0)}" y1="{y(0)}" x2="{x(1)}" y2="{y(1)}" stroke="#999" stroke-dasharray="4 3"/>']
    for b in bins:
        lo, hi = float(b["lower"]), float(b["upper"])
        acc, conf = float(b["accuracy"]), float(b["mean_confidence"])
        parts.append(f'<rect class="bin" x="{x(lo) + 1:.1f}" y="{y(acc):.1f}" '
                     f'width="{max(1.0, x(hi) - x(lo) - 2):.1f}" '
                     f'height="{y(0) - y(acc):.1f}" fill="{PALETTE[0]}" fill-opacity="0.75">'
                     f'<title>confidence {conf:.2f}, accuracy {acc:.2f}, {b["count"]} examples</title></rect>')
        parts.append(f'<circle cx="{x(conf):.1f}" cy="{y(acc):.1f}" r="2.5" fill="#222"/>')
        parts.append(f'<text x="{(x(lo) + x(hi)) / 2:.1f}" y="{y(0) + 12}" font-size="8" text-anchor="middle" '
                     f'fill="#555">{b["count"]}</text>')
    for t in (0, 0.5, 1):
        parts.append(f'<text x="{x(t):.1f}" y="{size - 8}" font-size="10" text-anchor="middle">{t:g}</text>')
        parts.append(f'<text x="{pad - 6}" y="{y(t) + 3:.1f}" font-size="10" text-anchor="end">{t:g}</text>')
    parts.append(f'<text x="{size / 2}" y="{pad - 10}" font-size="11" text-anchor="middle">confidence → accuracy'
                 '</text></svg>')
    return "".join(parts)


def bars_svg(rows: Sequence[tuple[str, list[tuple[str, float, tuple[float, float] | None]]]], models: list[str],
             width: int = 1000) -> str:
    """Grouped bars: per task, one bar per model (normalized score, 0-100) with its 95% interval as a whisker."""
    bar, gap, pad_left, pad_top = 14, 18, 230, 24
    height = pad_top + sum(len(vals) * bar + gap for _task, vals in rows) + 30
    inner = width - pad_left - 20
    low, high = -25.0, 110.0  # below 0 is below chance

    def x(v: float) -> float:
        return pad_left + (max(low, min(high, v)) - low) / (high - low) * inner

    parts = [f'<svg class="bars" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img" aria-label="normalized score by task and model">']
    for t in (0, 25, 50, 75, 100):
        parts.append(f'<line x1="{x(t):.1f}" y1="{pad_top - 6}" x2="{x(t):.1f}" y2="{height - 24}" stroke="#e4e4e4"/>'
                     f'<text x="{x(t):.1f}" y="{height - 10}" font-size="10" text-anchor="middle">{t}</text>')
    top = pad_top
    for task, vals in rows:
        parts.append(f'<text x="{pad_left - 8}" y="{top + len(vals) * bar / 2 + 4:.1f}" font-size="11" '
                     f'text-anchor="end">{_e(task[:34])}</text>')
        for model, value, ci in sorted(vals, key=lambda v: models.index(v[0])):
            color = PALETTE[models.index(model) % len(PALETTE)]
            left, right = sorted((x(0), x(value)))
            parts.append(f'<rect class="bar" x="{left:.1f}" y="{top + 1}" width="{max(1.0, right - left):.1f}" '
                         f'height="{bar - 2}" fill="{color}"><title>{_e(model)}: {value:.1f}</title></rect>')
            if ci is not None:
                cy = top + bar / 2
                parts.append(f'<line x1="{x(ci[0]):.1f}" y1="{cy}" x2="{x(ci[1]):.1f}" y2="{cy}" stroke="#222"/>'
                             f'<line x1="{x(ci[0]):.1f}" y1="{cy - 4}" x2="{x(ci[0]):.1f}" y2="{cy + 4}" '
                             'stroke="#222"/>'
                             f'<line x1="{x(ci[1]):.1f}" y1="{cy - 4}" x2="{x(ci[1]):.1f}" y2="{cy + 4}" '
                             'stroke="#222"/>')
            top += bar
        top += gap
    parts.append("</svg>")
    return "".join(parts)


def scaling_svg(task: str, points: list[tuple[str, float, tuple[float, float] | None]], size: int = 240) -> str:
    """Normalized score against model (in the order given on the command line), with 95% intervals."""
    pad = 34
    inner = size - 2 * pad
    n = len(points)

    def x(i: int) -> float:
        return pad + (i + 0.5) * inner / n

    def y(v: float) -> float:
        return size - pad - max(-10.0, min(110.0, v)) / 100 * inner

    parts = [f'<svg class="scaling" xmlns="http://www.w3.org/2000/svg" width="{size}" height="{size}" '
             f'viewBox="0 0 {size} {size}" role="img" aria-label="{_e(task)}: score by model">',
             f'<rect x="{pad}" y="{pad}" width="{inner}" height="{inner}" fill="#fafafa" stroke="#ccc"/>',
             f'<line x1="{pad}" y1="{y(0)}" x2="{pad + inner}" y2="{y(0)}" stroke="#bbb" stroke-dasharray="3 3"/>']
    path = " ".join(f"{'M' if i == 0 else 'L'}{x(i):.1f},{y(v):.1f}" for i, (_m, v, _c) in enumerate(points))
    parts.append(f'<path d="{path}" fill="none" stroke="{PALETTE[0]}" stroke-width="2"/>')
    for i, (model, value, ci) in enumerate(points):
        if ci is not None:
            parts.append(f'<line x1="{x(i):.1f}" y1="{y(ci[0]):.1f}" x2="{x(i):.1f}" y2="{y(ci[1]):.1f}" '
                         'stroke="#222"/>')
        parts.append(f'<circle class="point" cx="{x(i):.1f}" cy="{y(value):.1f}" r="3.5" fill="{PALETTE[0]}">'
                     f'<title>{_e(model)}: {value:.1f}</title></circle>'
                     f'<text x="{x(i):.1f}" y="{size - 14}" font-size="9" text-anchor="middle">{_e(model[:12])}</text>')
    for t in (0, 50, 100):
        parts.append(f'<text x="{pad - 6}" y="{y(t) + 3:.1f}" font-size="10" text-anchor="end">{t}</text>')
    parts.append(f'<text x="{size / 2}" y="{pad - 10}" font-size="11" text-anchor="middle">normalized score</text>'
                 '</svg>')
    return "".join(parts)


# ----------------------------------------------------------------------------------------------- page

def _prompt_format(rows: list[TaskResult]) -> str:
    """How the model's prompts were framed, and one prompt as the model saw it (chat models: its template
    rendered), so that a reader can check the framing."""
    formats = sorted({r.prompt_format for r in rows if r.model != "-"})
    if not formats or formats == ["raw"]:
        return ""
    example = next((ex for r in rows for ex in r.examples if ex.prompt), None)
    shown = (f"<details><summary>an example prompt, as the model saw it</summary><pre>{_e(example.prompt)}</pre>"
             "</details>") if example is not None else ""
    return f'<p class="meta">prompts: {_e("; ".join(formats))}</p>{shown}'


#: Model requests shown per programmatic task (the JSON report has them all).
SHOWN_CALLS = 20


def _programmatic(results: list[TaskResult]) -> str:
    """BIG-bench programmatic tasks: every ScoreData the task returned, and what the model was asked. Their
    scores have no interval: the task computes them from examples it does not expose."""
    runs = [r for r in results if r.score_data]
    if not runs:
        return ""
    out = ["<h2>BIG-bench programmatic tasks</h2><p>Scores as each task's own <code>evaluate_model</code> returned "
           "them (one row per ScoreData). No 95% intervals: the task computes its scores from examples it does not "
           "expose.</p>"]
    for r in runs:
        rows = "".join(
            f"<tr><td>{_e(sd.get('subtask_description') or '-')}</td><td>{_e(sd.get('preferred_score'))}</td>"
            f'<td class="num">{fmt(_float(sd.get("score_dict", {}).get(sd.get("preferred_score"))))}</td>'
            f'<td class="num">{_e(sd.get("number_of_shots"))}</td><td class="num">{fmt(_float(sd.get("low_score")))}'
            f'</td><td class="num">{fmt(_float(sd.get("high_score")))}</td></tr>' for sd in r.score_data or [])
        calls = "\n\n".join(_call_text(ex) for ex in r.examples[:SHOWN_CALLS])
        more = f" (the first {SHOWN_CALLS}; all are in the JSON report)" if len(r.examples) > SHOWN_CALLS else ""
        out.append(f"<h3><code>{_e(r.task)}</code> · {_e(r.model)}</h3><table><thead><tr><th>subtask</th>"
                   '<th>preferred</th><th class="num">score</th><th class="num">shots</th><th class="num">low</th>'
                   f'<th class="num">high</th></tr></thead><tbody>{rows}</tbody></table>'
                   f"<details><summary>{len(r.examples)} model requests{more}</summary><pre>{_e(calls)}</pre>"
                   "</details>")
    return "".join(out)


def _float(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _call_text(ex: Any) -> str:
    """One recorded request: the prompt, then the reply, or each target with its log-probability."""
    if ex.choices is not None and ex.log_probs is not None:
        answer = "  ".join(f"{c!r}: {lp:.3f}" for c, lp in zip(ex.choices, ex.log_probs))
        return f"#{ex.index} cond_log_prob\n{ex.prompt}\n→ {answer}"
    return f"#{ex.index} generate_text\n{ex.prompt}\n→ {ex.response!r}" + (
        f" (raw {ex.raw_response!r})" if ex.raw_response is not None and ex.raw_response != ex.response else "")


def _table(rows: list[TaskResult]) -> str:
    baseline = any(r.comparisons for r in rows)
    head = ["task", "shots", "n", "metric", "score", "95% CI", "norm", "ECE", "outcome", "threshold"]
    head += ["Δ baseline", "p"] if baseline else []
    out = ["<table><thead><tr>" + "".join(
        f'<th class="{"num" if h in ("shots", "n", "score", "norm", "ECE", "Δ baseline", "p") else ""}">{_e(h)}</th>'
        for h in head) + "</tr></thead><tbody>"]
    for r in rows:
        ci = _interval(r)
        ece = r.scores.get("expected_calibration_error")
        cells = [f"<td><code>{_e(r.task)}</code>{' (aggregate)' if r.aggregate else ''}</td>",
                 f'<td class="num">{r.shots}</td>', f'<td class="num">{r.n_examples}</td>',
                 f"<td>{_e(SHORT_METRIC.get(r.preferred_score, r.preferred_score) or '-')}</td>",
                 f'<td class="num">{fmt(r.preferred_value)}</td>',
                 f"<td>{'-' if ci is None else f'{fmt(ci[0])} – {fmt(ci[1])}'}</td>",
                 f'<td class="num">{fmt(r.normalized_preferred_score) if r.preferred_value is not None else "-"}</td>',
                 f'<td class="num">{fmt(ece)}</td>',
                 f'<td class="outcome" style="color:{OUTCOME_COLOR.get(r.outcome, "#222")}">{_e(r.outcome)}</td>',
                 f"<td>{_e(threshold_text(r))}</td>"]
        if baseline:
            comp = baseline_comparison(r)
            delta = comp.get("delta") if comp else None
            p_adj = comp.get("p_adjusted") if comp else None
            cells += [f'<td class="num">{"-" if delta is None else format(delta, "+.3f")}</td>',
                      f'<td class="num">{"-" if p_adj is None else format(p_adj, ".3g")}</td>']
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def _repeats_table(rows: list[TaskResult]) -> str:
    """Items run with repeats: K, the temperature and each reducer with its 95% interval."""
    found = [r for r in rows if r.repeats and not r.aggregate]
    if not found:
        return ""
    names = list(dict.fromkeys(name for r in found for name, _ in reducer_cells(r)))
    out = ['<table class="repeats"><thead><tr><th>repeats</th><th class="num">K</th><th class="num">T</th>'
           + "".join(f'<th class="num">{_e(n)}</th>' for n in names) + "</tr></thead><tbody>"]
    for r in found:
        cells = dict(reducer_cells(r))
        info = r.repeats or {}
        out.append(f"<tr><td><code>{_e(r.task)}</code></td><td class='num'>{_e(info.get('k'))}</td>"
                   f"<td class='num'>{float(info.get('temperature', 0.0)):g}</td>"
                   + "".join(f"<td class='num'>{_e(cells.get(n, '-'))}</td>" for n in names) + "</tr>")
    out.append("</tbody></table><p class=\"meta\">mean@K: mean over samples; maj@K: the majority answer's score "
               "(ties: the answer given first); pass@k / pass^k: chance that one / all of k samples are right "
               "(unbiased estimators); ± 95% intervals with each example's samples as a cluster.</p>")
    return "".join(out)


def _aggregates_table(groups: list[GroupScore]) -> str:
    out = ['<table class="aggregates"><thead><tr><th>mean normalized score</th><th class="num">shots</th>'
           '<th class="num">tasks</th><th class="num">score</th><th>95% CI</th></tr></thead><tbody>']
    for g in groups:
        ci = "-" if g.ci95 is None else f"{fmt(g.ci95[0])} – {fmt(g.ci95[1])}"
        out.append(f"<tr><td>{_e(g.group)}</td><td class='num'>{g.shots}</td><td class='num'>{g.n_tasks}</td>"
                   f"<td class='num'>{fmt(g.normalized_score)}</td><td>{ci}</td></tr>")
    out.append("</tbody></table>")
    return "".join(out)


def render_html(results: list[TaskResult], aggregates: list[GroupScore], *, title: str = "lmbench report",
                models: Sequence[str] = (), meta: dict[str, Any] | None = None,
                baseline: BaselineIndex | None = None) -> str:
    """The whole page as one string. ``models``: the order of the x axis of the score-against-model plots and
    of the examples' columns (default: as the results come). ``baseline`` (``--lm-baseline``): the examples
    whose correctness flipped against it are listed first, with what it answered."""
    models = [m for m in model_order(results, models) if m != "-"]
    ordered = outcome_counts(results)
    when = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    body = [f"<h1>{_e(title)}</h1>",
            f'<p class="meta">{_e(when)} · models: {_e(", ".join(models) or "-")} · items: '
            + ", ".join(f'<span style="color:{OUTCOME_COLOR.get(k, "#222")}">{n} {_e(k)}</span>' for k, n in ordered)
            + (" · incomplete run" if meta and meta.get("complete") is False else "") + "</p>"]
    for model in models + (["-"] if any(r.model == "-" for r in results) else []):
        rows = sorted((r for r in results if r.model == model),
                      key=row_order)
        body.append(f"<h2>{'invalid task files' if model == '-' else 'model ' + _e(model)}</h2>"
                    + _prompt_format(rows) + _table(rows))
        groups = [g for g in aggregates if g.model == model]
        if any(g.group == ALL and g.n_tasks >= 2 for g in groups):
            body.append(_aggregates_table(groups))
        body.append(_repeats_table(rows))
        cost = cost_text(rows)
        if cost:
            body.append(f'<p class="meta">cost: {_e(cost)}</p>')
    scored = [r for r in results if r.preferred_value is not None and r.model != "-"]
    if len(models) > 1:
        tasks = list(dict.fromkeys((r.task, r.shots) for r in scored))
        bar_rows: list[tuple[str, list[tuple[str, float, tuple[float, float] | None]]]] = []
        for task, shots in tasks:
            # scored keeps results with a preferred value, so each has a normalized one too
            vals = [(r.model, float(cast(float, r.normalized_preferred_score)), _normalized_interval(r))
                    for r in scored if (r.task, r.shots) == (task, shots)]
            bar_rows.append((f"{task} ({shots}-shot)" if shots else task, vals))
        legend = " ".join(f'<span style="color:{PALETTE[i % len(PALETTE)]}">■</span> {_e(m)}'
                          for i, m in enumerate(models))
        body.append(f"<h2>Normalized score by task and model</h2><p>{legend} · whiskers: 95% intervals · "
                    f"0 = chance or the task's low score, 100 = its high score</p>"
                    f'<figure class="plot">{bars_svg(bar_rows, models)}</figure>')
        body.append("<h2>Score against model</h2><p>Models in the order they were given (BIG-bench's scaling "
                    'picture when that order is by size).</p><div class="plots">')
        for label, vals in bar_rows:  # one per (task, shots) of tasks
            if len(vals) > 1:
                order = sorted(vals, key=lambda v: models.index(v[0]))
                body.append(f'<figure class="plot">{scaling_svg(label, order)}<figcaption><code>{_e(label)}</code>'
                            "</figcaption></figure>")
        body.append("</div>")
    diagrams = [(r, r.reliability, "log-probability") for r in scored if r.reliability]
    diagrams += [(r, r.confidence_reliability, "stated confidence") for r in scored if r.confidence_reliability]
    if diagrams:
        body.append('<h2>Reliability diagrams</h2><p>Per confidence bin: accuracy (bar) and mean confidence (dot); '
                    'count under each bin; the dashed diagonal is perfect calibration.</p><div class="plots">')
        for r, bins, kind in diagrams:
            metric = "expected_calibration_error" if kind == "log-probability" else "confidence_ece"
            caption = (f"<code>{_e(r.task)}</code> · {_e(r.model)} · {kind}"
                       + (f" · ECE {fmt(r.scores[metric])}" if metric in r.scores else ""))
            body.append(f'<figure class="plot">{reliability_svg(bins, f"{r.task} {r.model} {kind}")}'
                        f"<figcaption>{caption}</figcaption></figure>")
        body.append("</div>")
    body.append(_programmatic(results))
    reasons = explained(results)
    if reasons:
        # explained keeps only results with a message: the filter below drops none
        body.append("<h2>Why</h2><pre>" + _e("\n\n".join(r.message for r in reasons if r.message)) + "</pre>")
    body.append(examples_html.examples_section(results, models=models, baseline=baseline))
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{_e(title)}</title>'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<style>{CSS}{examples_html.CSS}</style></head>"
            f"<body>{''.join(body)}</body></html>\n")
