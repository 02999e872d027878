"""The end-of-run summary table, rendered with rich into pytest's terminal writer.

Cell text is passed as ``rich.text.Text`` (never parsed as markup: ``[smollm2-0shot]`` stays literal), and
colour follows pytest's own decision (``--color``, ``NO_COLOR``, a tty or not).
"""

from __future__ import annotations

import io
import math
import os
import textwrap

from rich import box
from rich.console import Console, JustifyMethod
from rich.table import Table
from rich.text import Text

from pytest_lmbench.core.models.spec import shortened
from pytest_lmbench.core.results import ComparisonDict, TaskResult
from pytest_lmbench.report.format import (
    SHORT_METRIC,
    baseline_comparison,
    cost_roles,
    cost_text,
    fmt,
    group_plus_minus,
    model_order,
    outcome_counts,
    plus_minus,
    reducer_cells,
    row_order,
    threshold_text,
)

OUTCOME_STYLE = {"error": "bold magenta", "failed": "bold red", "regressed": "bold red", "inconclusive": "yellow",
                 "skipped": "yellow", "passed": "green", "scored": "cyan"}
VERDICT_STYLE = {"regressed": "bold red", "no regression": "green", "not compared": "yellow", "worse": "red",
                 "better": "green", "no difference": ""}


def render_summary(results: list[TaskResult], *, width: int = 100, color: bool = False, verbose: int = 0,
                   models: list[str] | None = None) -> str:
    """The end-of-run summary: per model a table of tasks (and aggregates), the outcome counts, comparisons,
    and why items are regressed or inconclusive. -q keeps what needs attention, -qq the counts, -v adds notes
    and wrong examples."""
    buffer = io.StringIO()
    console = Console(file=buffer, width=max(40, width), force_terminal=color, no_color=not color,
                      color_system="standard" if color else None, highlight=False, emoji=False)
    models = model_order(results, models or [])
    quiet = verbose < 0
    if verbose > -2:
        for model in models:
            _print_model(console, [r for r in results if r.model == model], model, width, color, verbose)
    console.print(Text("items: " + ", ".join(f"{n} {k}" for k, n in outcome_counts(results))))
    if verbose <= -2:
        return buffer.getvalue()
    _print_comparisons(console, results, width, color, quiet)
    regressed = [r.message for r in results if r.message and any(c["verdict"] == "regressed" for c in r.comparisons)]
    if regressed:
        console.print(Text("\nregressed: significantly worse than the baseline on the same examples (paired test, "
                           "Holm-corrected over every compared item); this fails the run:",
                           style="bold red" if color else ""))
        for message in regressed:
            console.print(Text("\n".join("  " + line for line in message.splitlines())))
    unsure = [r.message for r in results if r.outcome == "inconclusive" and r.message]
    if unsure:
        legend = "inconcl. = inconclusive" if width < 100 else "inconclusive"
        console.print(Text(legend + ": the score clears its threshold but its one-sided 95% bound does not, so "
                           "noise alone could explain the pass (--lm-strict fails these; --lm-gate=point ignores "
                           "the bound):", style="yellow" if color else ""))
        for message in unsure:
            console.print(Text("  " + message))
    if verbose > 0:
        for r in results:
            for note in r.notes:
                console.print(Text(f"note: {r.task} [{r.model}]: {note}"))
        _print_wrong_examples(console, results, verbose)
    return buffer.getvalue()


def summary_lines(results: list[TaskResult], *, cache_path: str | None, budget: bool,
                  stopped: str | None, width: int = 0) -> list[tuple[str, dict[str, bool]]]:
    """The lines under the summary's tables, each with its markup (the terminal writer's keywords: ``red``,
    ``bold``, ``yellow``): the answer cache's hits and misses (``cache_path``: where it is), what the run cost,
    why a budget stopped it (``stopped``), a warning when a budget was set (``budget``) but a model's tokens are
    not counted, and how models ran off their backend's default path. ``width``: other models' cost lines are
    wrapped to it (0: not wrapped)."""
    lines: list[tuple[str, dict[str, bool]]] = []
    counted = [r.cache for r in results if r.cache is not None]
    if counted:
        hits, misses = sum(c["hits"] for c in counted), sum(c["misses"] for c in counted)
        where = cache_path or "-"
        if not os.path.relpath(where).startswith(".."):
            where = os.path.relpath(where)
        lines.append((f"lmbench cache: {hits} answers from the cache, {misses} from the model ({where})", {}))
    spent = cost_text(results)
    if spent:
        lines.append((f"lmbench cost: {spent}", {}))
    for role in cost_roles(results):  # other models' work, apart from the models under test's
        text = f"lmbench {role} cost: {cost_text(results, role)}"
        wrapped = textwrap.wrap(text, width, subsequent_indent="  ") if width and len(text) > width else [text]
        lines += [(line, {}) for line in wrapped]
    if stopped:
        lines.append((stopped, {"red": True, "bold": True}))
    uncounted = sorted({r.model for r in results if r.usage and not r.usage.get("tokens_counted", True)})
    if uncounted and budget:
        lines.append((f"lmbench budget: the tokens of {', '.join(uncounted)} are not known (a backend that does not "
                      "count them): the budget could not see them", {"yellow": True}))
    lines += [(line, {}) for line in model_info_lines(results)]
    return lines


def model_info_lines(results: list[TaskResult]) -> list[str]:
    """One line per model that runs differently from its backend's default here (llama.cpp weight repacking
    off, or forced on over AMX), so that a CI log says which code path produced its numbers."""
    lines = []
    for model, info in dict((r.model, r.model_info) for r in results if r.model_info).items():
        if info.get("repack") == "off" or info.get("cpu_amx", "none") != "none":
            lines.append(f"lmbench model {model}: llama.cpp weight repacking {info['repack']} "
                         f"({info.get('repack_reason', '')})")
    return lines


SPARK = "▁▂▃▄▅▆▇█"


def sparkline(bins: list[dict]) -> str:
    """Accuracy in each fifth of confidence (0-0.2, ..., 0.8-1) from BIG-bench's 15 ECE bins, as block
    characters; "·" where no example fell. A calibrated model climbs from left to right."""
    out = []
    for fifth in range(5):
        members = [b for b in bins if int(b["bin"]) // 3 == fifth]
        count = sum(int(b["count"]) for b in members)
        if not count:
            out.append("·")
            continue
        acc = sum(float(b["accuracy"]) * int(b["count"]) for b in members) / count
        out.append(SPARK[min(len(SPARK) - 1, int(acc * len(SPARK)))])
    return "".join(out)


def _print_model(console: Console, rows: list[TaskResult], model: str, width: int, color: bool, verbose: int) -> None:
    """One model's table. Columns join as the terminal widens: norm and delta vs baseline from 100 columns,
    ECE from 110, the reliability sparkline from 125; at any width, a calibration block under it (ECE and
    Brier score with 95% intervals) for the items that have one. -q keeps only rows that need attention."""
    if verbose < 0:
        rows = [r for r in rows if r.outcome not in ("passed", "scored")]
        if not rows:
            return
    show_threshold = any(r.threshold for r in rows)
    show_delta = width >= 100 and any(baseline_comparison(r) for r in rows)
    show_ece = width >= 110 and any("expected_calibration_error" in r.scores for r in rows)
    show_spark = width >= 125 and any(r.reliability for r in rows)
    title = "invalid task files" if model == "-" else f"model {model}"
    spec = rows[0].model_spec
    if spec and shortened(model):  # a label that shows an option as a hash: the spec says what it is, on a line
        console.print(Text(f"{title} = {spec}", style="bold" if color else ""))  # of its own (wider than the table)
        title = ""
    table = Table(title=Text(title, style="bold" if color else "") if title else None, title_justify="left",
                  box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, header_style="bold" if color else "")
    longest = max(len(r.task) + (12 if r.aggregate else 0) for r in rows)
    table.add_column("task", overflow="fold", min_width=min(longest, max(12, width - 62)))
    # a shots column from 100 columns; narrower, a few-shot row says its shots after the task's name
    show_shots = any(r.shots for r in rows) and width >= 100
    inline_shots = any(r.shots for r in rows) and not show_shots
    columns: list[tuple[str, JustifyMethod]] = [("shots", "right")] if show_shots else []
    columns += [("n", "right"), ("metric", "left"), ("score", "right"), ("±95%", "left")]
    columns += [("norm", "right")] if width >= 100 else []
    columns += [("Δ base", "right")] if show_delta else []
    columns += [("ece", "right")] if show_ece else []
    columns += [("calib", "left")] if show_spark else []
    columns += [("outcome", "left")]
    columns += [("threshold", "left")] if show_threshold else []  # last: what gives way when narrow
    for name, justify in columns:
        wraps = name == "threshold"  # the least important cell gives way when space is short
        table.add_column(name, justify=justify, no_wrap=not wraps, overflow="fold", min_width=len(name))
    rows.sort(key=row_order)
    for r in rows:
        task = r.task + (" (aggregate)" if r.aggregate else "") + (" (partial)" if not r.complete else "")
        task += f" ({r.shots}-shot)" if inline_shots and r.shots else ""
        cells = [Text(task)] + ([Text(str(r.shots))] if show_shots else []) + [
            Text(str(r.n_examples)), Text(_metric_cell(r.preferred_score)),
            Text(fmt(r.preferred_value)), Text(plus_minus(r))]
        if width >= 100:
            cells.append(Text(fmt(r.normalized_preferred_score) if r.preferred_value is not None else "-"))
        if show_delta:
            comp = baseline_comparison(r)
            cells.append(Text(_signed(comp.get("delta")) if comp else "-"))
        if show_ece:
            cells.append(Text(fmt(r.scores.get("expected_calibration_error"))))
        if show_spark:
            cells.append(Text(sparkline(r.reliability) if r.reliability else ""))
        shown = "inconcl." if r.outcome == "inconclusive" and width < 100 else r.outcome
        cells.append(Text(shown, style=OUTCOME_STYLE.get(r.outcome, "") if color else ""))
        if show_threshold:
            cells.append(Text(threshold_text(r)))
        table.add_row(*cells)
    console.print(table)
    formats = sorted({r.prompt_format for r in rows if r.model != "-" and r.prompt_format != "raw"})
    if formats:  # a chat model: which template framed its prompts (the JSON report has each rendered prompt)
        console.print(Text("prompts: " + "; ".join(formats), style="dim" if color else ""))
    if show_spark:
        console.print(Text("calib: accuracy in each fifth of confidence, 0-0.2 to 0.8-1 (· none); calibrated "
                           "climbs to the right"))
    if verbose >= 0:
        _print_aggregates(console, rows, verbose, color)
    _print_calibration(console, rows, color)  # -q: of the rows kept above; -qq prints no model table at all
    _print_repeats(console, rows, color)
    cost = cost_text(rows)
    if cost:
        console.print(Text(f"cost: {cost}", style="dim" if color else ""))
    console.print()


REPEATS_LEGEND = ("mean@K: mean over samples; maj@K: majority answer (ties: first given); pass@k: P(one of k "
                  "right), pass^k: P(all k right), Chen et al.'s unbiased estimators; ±95%, examples as clusters")


def _print_repeats(console: Console, rows: list[TaskResult], color: bool) -> None:
    """Under a model's table: per item run with repeats, one line per reducer with its 95% interval (a column
    per reducer would not fit 80 columns)."""
    found = [r for r in sorted(rows, key=row_order) if r.repeats and not r.aggregate]
    if not found:
        return
    table = Table(box=None, show_header=True, show_edge=False, pad_edge=False, header_style="bold" if color else "")
    table.add_column("repeats", overflow="fold")
    for name, justify in (("K", "right"), ("T", "right"), ("score", "left"), ("value", "right"), ("±95%", "left")):
        table.add_column(name, justify=justify, no_wrap=True)  # type: ignore[arg-type]
    for r in found:
        info = r.repeats or {}
        for i, (name, value) in enumerate(reducer_cells(r)):
            number, _, interval = value.partition(" ")
            first = i == 0
            table.add_row(Text(r.task + (f" ({r.shots}-shot)" if r.shots else "") if first else ""),
                          Text(str(info.get("k")) if first else ""),
                          Text(f"{float(info.get('temperature', 0.0)):g}" if first else ""),
                          Text(name), Text(number), Text(interval))
    console.print()
    console.print(table)
    console.print(Text(REPEATS_LEGEND, style="dim" if color else ""))


def _print_wrong_examples(console: Console, results: list[TaskResult], verbose: int) -> None:
    """-v: the first 5 wrong examples of every item; -vv: all of them."""
    from pytest_lmbench.core.gates import describe_example, example_failed

    limit = None if verbose >= 2 else 5
    for r in results:
        if r.aggregate:
            continue
        wrong = [e for e in r.examples if example_failed(e, r)]
        if not wrong:
            continue
        shown = wrong if limit is None else wrong[:limit]
        console.print(Text(f"wrong examples of {r.task} [{r.model}, {r.shots}-shot]: {len(wrong)} of "
                           f"{r.n_examples}"
                           + ("" if len(shown) == len(wrong) else f", the first {len(shown)} (-vv: all)")))
        for ex in shown:
            console.print(Text(describe_example(ex)))


def _print_aggregates(console: Console, rows: list[TaskResult], verbose: int, color: bool) -> None:
    """Mean normalized score over the model's tasks (all, and per BIG-bench keyword shared by 2+ tasks; every
    keyword with -v), per shot count."""
    from pytest_lmbench.core.aggregates import ALL, model_aggregates

    groups = model_aggregates(rows)
    if all(g.n_tasks < 2 for g in groups if g.group == ALL):
        return  # one task: its own row says it all
    groups = [g for g in groups if g.group == ALL or g.n_tasks >= 2 or verbose > 0]
    table = Table(box=None, show_header=True, show_edge=False, pad_edge=False, header_style="bold" if color else "")
    shots = len({g.shots for g in groups}) > 1
    table.add_column("mean normalized score", overflow="fold")
    if shots:
        table.add_column("shots", justify="right")
    for name in ("tasks", "norm", "±95%"):
        table.add_column(name, justify="right" if name != "±95%" else "left", no_wrap=True)
    for g in groups:
        label = g.group if g.group != ALL else "all tasks"
        pm = group_plus_minus(g.stderr, g.normalized_score, g.ci95)
        table.add_row(*([Text(label)] + ([Text(str(g.shots))] if shots else [])
                        + [Text(str(g.n_tasks)), Text(fmt(g.normalized_score)), Text(pm)]))
    console.print()
    console.print(table)


#: The calibration block's kinds: (label, ECE metric, Brier metric).
CALIBRATION_KINDS = (("log-prob", "expected_calibration_error", "calibration_multiple_choice_brier_score"),
                     ("stated", "confidence_ece", "confidence_brier_score"))
CALIBRATION_LEGEND = "ECE, Brier: lower is better (0 = calibrated); 95% CI: bootstrap over examples"


def calibration_rows(result: TaskResult) -> list[tuple[str, int | None, str, str]]:
    """(kind, n, ECE metric, Brier metric) for each calibration an item has: "log-prob" (the option
    probabilities of a multiple-choice task) and "stated" (the confidence the model put into words). n is the
    number of examples each is computed over (None when the result carries no examples to count)."""
    if result.aggregate:
        return []
    out = []
    for kind, ece, brier in CALIBRATION_KINDS:
        if ece not in result.scores and brier not in result.scores:
            continue
        if not result.examples:
            n = None if kind == "stated" else result.n_examples
        elif kind == "stated":
            n = sum(1 for e in result.examples if "confidence" in e.scores)
        else:
            n = sum(1 for e in result.examples if e.choices is not None)
        out.append((kind, n, ece, brier))
    return out


def _calib_value(value: float | None) -> str:
    return "-" if value is None or math.isnan(value) else f"{value:.2f}"


def _calib_ci(result: TaskResult, metric: str, n: int | None) -> str:
    """The metric's 95% interval; "n<2" where there are too few examples for one, "-" where none was computed."""
    ci = (result.errors.get(metric) or {}).get("ci95")
    if ci and len(ci) == 2 and None not in ci:
        return f"[{_calib_value(ci[0])}, {_calib_value(ci[1])}]"
    return "n<2" if n is not None and n <= 1 else "-"


def _print_calibration(console: Console, rows: list[TaskResult], color: bool) -> None:
    """Under a model's table, at any width: per item, the ECE and Brier score of its multiple-choice
    probabilities ("log-prob") and of its stated confidence ("stated"), each with its 95% interval. Narrow
    enough for 80 columns (CI logs), where the table has no room for an ece or calib column."""
    found = [(r, calib) for r in sorted(rows, key=row_order) for calib in calibration_rows(r)]
    if not found:
        return
    table = Table(box=None, show_header=True, show_edge=False, pad_edge=False, header_style="bold" if color else "")
    shots = any(r.shots for r, _ in found)
    tasks = [r.task + (f" ({r.shots}-shot)" if shots else "") for r, _ in found]  # items only: never partial
    table.add_column("calibration", overflow="fold", min_width=min(len("calibration"), max(map(len, tasks))))
    for name in ("n", "kind", "ECE", "95% CI", "Brier", "95% CI"):  # intervals wrap at their space when narrow
        table.add_column(name, justify="right" if name in ("n", "ECE", "Brier") else "left",
                         no_wrap=name != "95% CI", overflow="fold")
    for task, (r, (kind, n, ece, brier)) in zip(tasks, found):
        table.add_row(Text(task), Text("-" if n is None else str(n)), Text(kind),
                      Text(_calib_value(r.scores.get(ece))), Text(_calib_ci(r, ece, n)),
                      Text(_calib_value(r.scores.get(brier))), Text(_calib_ci(r, brier, n)))
    console.print()
    console.print(table)
    console.print(Text(CALIBRATION_LEGEND, style="dim" if color else ""))


def _signed(value: float | None) -> str:
    return "-" if value is None else ("+" if value >= 0 else "-") + fmt(abs(value))


def _p(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.2g}" if value >= 0.001 else "<0.001"


def _metric_cell(metric: str) -> str:
    """The metric's short name; an lm-eval or Inspect name longer than 16 characters on two lines at its comma or
    slash ("exact_match," / "first-number", "includes/" / "accuracy"), so that the table still fits 80 columns."""
    name = SHORT_METRIC.get(metric, metric) or "-"
    for mark in (",", "/"):
        if len(name) > 16 and mark in name:
            head, _, tail = name.partition(mark)
            return f"{head}{mark}\n{tail}"
    return name


def _print_comparisons(console: Console, results: list[TaskResult], width: int, color: bool,
                       quiet: bool = False) -> None:
    """One table per model and baseline (an earlier report, or another model of this run): delta with its 95%
    interval, the one-sided p-value of "worse" after Holm's correction, and the verdict; then what could not
    be compared as it should."""
    groups: dict[tuple[str, bool], list[ComparisonDict]] = {}
    for r in results:
        for comp in r.comparisons:
            groups.setdefault((comp["model"], comp.get("gating", True)), []).append(comp)
    if quiet:  # -q: only what needs attention
        groups = {k: [c for c in v if c["verdict"] in ("regressed", "worse") or c.get("message")]
                  for k, v in groups.items()}
        groups = {k: v for k, v in groups.items() if v}
    for (model, gating), comps in groups.items():
        # what the rows were compared with (rows that found nothing to compare name only the report)
        against = next((c["against"] for c in comps if c["n_matched"]), comps[0]["against"])
        title = f"model {model} vs {against}" + ("" if gating else " (informative: does not gate)")
        table = Table(title=Text(title, style="bold" if color else ""), title_justify="left", box=box.SIMPLE_HEAD,
                      show_edge=False, pad_edge=False, header_style="bold" if color else "")
        table.add_column("task", overflow="fold", min_width=min(12, max(len(c["task"]) for c in comps)))
        for name in ("n", "base", "cand", "delta", "95% CI", "p", "verdict"):
            table.add_column(name, justify="left" if name in ("95% CI", "verdict") else "right", no_wrap=True)
        comps.sort(key=lambda c: (c["verdict"] != "regressed", c["task"], c["shots"]))
        for c in comps:
            ci95 = c.get("ci95")
            ci = f"[{_signed(ci95[0])}, {_signed(ci95[1])}]" if ci95 else "-"
            verdict = SHORT_VERDICT.get(c["verdict"], c["verdict"]) + ("*" if c.get("message") else "")
            task = c["task"] + (f" ({c['shots']}-shot)" if c["shots"] else "")
            table.add_row(Text(task), Text(str(c["n_matched"])), Text(fmt(c.get("baseline"))),
                          Text(fmt(c.get("candidate"))), Text(_signed(c.get("delta"))), Text(ci),
                          Text(_p(c.get("p_adjusted"))),
                          Text(verdict, style=VERDICT_STYLE.get(c["verdict"], "") if color else ""))
        console.print(table)
        for c in comps:
            if c.get("message"):
                console.print(Text(f"* {c['task']}: {c['message']}"))
        console.print()
    kinds = {gating for _model, gating in groups}
    if True in kinds:
        console.print(Text("vs a baseline report, p is the one-sided p-value that the candidate is worse"
                           + (" by more than the allowed drop" if any(c.get("margin") for cs in groups.values()
                                                                       for c in cs) else "")
                           + ", Holm-adjusted over every compared item; regressed items fail the run."))
    if False in kinds:
        console.print(Text("vs another model of this run, p is the two-sided p-value of a difference, "
                           "Holm-adjusted; informative only."))


def render_comparisons(results: list[TaskResult], *, width: int = 100, color: bool = False) -> str:
    """The comparison tables of ``results`` alone (what ``python -m pytest_lmbench diff`` prints)."""
    buffer = io.StringIO()
    console = Console(file=buffer, width=max(40, width), force_terminal=color, no_color=not color,
                      color_system="standard" if color else None, highlight=False, emoji=False)
    _print_comparisons(console, results, width, color)
    return buffer.getvalue()


SHORT_VERDICT = {"no regression": "ok", "not compared": "n/a", "no difference": "same"}
