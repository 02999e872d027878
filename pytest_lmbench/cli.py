"""``python -m pytest_lmbench show|diff|merge``: reports read back (``core.results.Report``) and worked on without
pytest and without a model.

- ``show REPORT [TASK] [--model M] [--wrong]``: the examples of a report in the terminal, so nobody needs jq;
- ``diff BASE NEW``: the --lm-baseline gate decided again on stored reports (the same paired tests, Holm's
  correction and --lm-max-regression), with the flipped examples; exit 1 when it would fail;
- ``merge A.json B.json ... -o OUT.json``: the reports of a split run (``--lm-shard``, pytest-split, ``-k``, one
  job per model) as the report one process would have written (``core/merge.py``).

Exit codes: 0 fine; 1 the gate fails (diff: a regression; merge: as pytest would have exited, an item failed,
errored or regressed); 2 bad input (a report that cannot be read, reports that cannot be merged, two reports
diff cannot pair a single item of), with one line that names the file and what to do.
"""

from __future__ import annotations

import argparse
import fnmatch
import os
import shutil
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from pytest_lmbench.core.results import Report, ReportError, TaskResult

if TYPE_CHECKING:
    from pytest_lmbench.core.aggregates import GroupScore
    from pytest_lmbench.core.compare import BaselineIndex

EXIT_OK, EXIT_GATE, EXIT_INPUT = 0, 1, 2


def _color(choice: str) -> bool:
    """--color yes/no/auto, as pytest decides it: auto is a terminal without NO_COLOR (FORCE_COLOR forces)."""
    if choice != "auto":
        return choice == "yes"
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    return sys.stdout.isatty() and os.environ.get("TERM") != "dumb"


def _width() -> int:
    return shutil.get_terminal_size((100, 24)).columns


def _gate_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--max-regression", type=float, default=0.0, metavar="FRACTION",
                        help="as --lm-max-regression: the drop allowed, as a fraction of the metric's range")
    parser.add_argument("--alpha", type=float, default=0.05, help="as --lm-alpha: the gate's significance level")
    parser.add_argument("--metric", default=None, help="as --lm-baseline-metric: compare on this score")
    parser.add_argument("--baseline-model", default=None,
                        help="as --lm-baseline-model: the baseline report's model to compare with")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m pytest_lmbench",
                                     description="Work with pytest-lmbench's JSON reports (--lm-report).")
    sub = parser.add_subparsers(dest="command", required=True)
    show = sub.add_parser("show", help="print a report's examples")
    show.add_argument("report")
    show.add_argument("task", nargs="?", default=None, help="a task name or glob (default: every item)")
    show.add_argument("--model", action="append", default=[], help="only this model's items (repeatable)")
    show.add_argument("--wrong", action="store_true", help="only the examples the model got wrong")
    show.add_argument("--limit", type=int, default=None, metavar="N", help="at most N examples per item")
    show.add_argument("--full", action="store_true", help="whole prompts and answers (default: their last 600 chars)")
    show.add_argument("--color", choices=("yes", "no", "auto"), default="auto")
    diff = sub.add_parser("diff", help="decide the baseline gate again on two stored reports")
    diff.add_argument("base", help="the baseline report (what --lm-baseline would be given)")
    diff.add_argument("new", help="the candidate report")
    _gate_options(diff)
    diff.add_argument("--limit", type=int, default=10, metavar="N", help="flipped examples shown per item (default 10)")
    diff.add_argument("--color", choices=("yes", "no", "auto"), default="auto")
    merge = sub.add_parser("merge", help="merge the reports of a split run into one")
    merge.add_argument("reports", nargs="+")
    merge.add_argument("-o", "--output", required=True, help="the merged JSON report")
    merge.add_argument("--html", default=None, help="also write the merged HTML report here")
    merge.add_argument("--baseline", default=None, help="as --lm-baseline: gate the merged results on this report")
    merge.add_argument("--compare", default=None, metavar="MODEL", help="as --lm-compare")
    merge.add_argument("--eval-include", action="append", default=[], metavar="DIR",
                       help="as --lm-eval-include: where lm-eval group configs are (for their aggregates)")
    _gate_options(merge)
    merge.add_argument("--color", choices=("yes", "no", "auto"), default="auto")
    return parser


def _baseline(path: str, model: str | None) -> BaselineIndex:
    from pytest_lmbench.core.compare import BaselineIndex

    try:
        return BaselineIndex(Report.load(path).results, path, model)
    except ValueError as exc:  # no such model in it
        raise ReportError(str(exc)) from None


def cmd_show(args: argparse.Namespace) -> int:
    from pytest_lmbench.report.examples_text import render_examples

    report = Report.load(args.report)
    chosen = [r for r in report.results if not r.aggregate
              and (args.task is None or fnmatch.fnmatchcase(r.task, args.task) or r.task == args.task)
              and (not args.model or r.model in args.model)]
    if not chosen:
        known = sorted({r.task for r in report.results if not r.aggregate})
        what = f"task {args.task!r}" if args.task else "item"
        models = f" of model {', '.join(args.model)}" if args.model else ""
        print(f"{args.report}: no {what}{models} (its tasks: {', '.join(known[:20]) or 'none'})", file=sys.stderr)
        return EXIT_INPUT
    sys.stdout.write(render_examples(chosen, width=_width(), color=_color(args.color), wrong=args.wrong,
                                     limit=args.limit, full=args.full))
    return EXIT_OK


def _regated(results: Sequence[TaskResult], args: argparse.Namespace, baseline: BaselineIndex) -> list[TaskResult]:
    from pytest_lmbench.core.compare import ungated
    from pytest_lmbench.core.run import final_results

    return final_results([ungated(r) for r in results if not r.aggregate], baseline=baseline,
                         max_regression=args.max_regression, alpha=args.alpha, baseline_metric=args.metric)


def cmd_diff(args: argparse.Namespace) -> int:
    from pytest_lmbench.report.examples_text import render_flips
    from pytest_lmbench.report.terminal import render_comparisons

    index = _baseline(args.base, args.baseline_model)
    new = Report.load(args.new)
    results = _regated(new.results, args, index)
    color, width = _color(args.color), _width()
    sys.stdout.write(render_comparisons(results, width=width, color=color))
    flipped = []
    for r in results:
        if r.aggregate or not r.comparisons:
            continue
        base, changed, _ = index.flipped(r)
        if base is not None:
            flipped.append((r, base, changed))
    text = render_flips(flipped, width=width, color=color, limit=args.limit)
    if text.strip():
        sys.stdout.write("\nflipped examples\n\n" + text)
    verdicts = [c["verdict"] for r in results for c in r.comparisons]
    regressed = verdicts.count("regressed")
    compared = sum(1 for v in verdicts if v != "not compared")
    if not compared:  # a gate that compared nothing must not pass silently
        print(f"error: nothing compared: no item of {args.new} could be paired with {args.base} (the same task, "
              "shots and examples); are they reports of the same suite?", file=sys.stderr)
        return EXIT_INPUT
    print(f"{regressed} regressed of {compared} compared item(s)"
          + ("" if new.complete else f"; {args.new} is from an incomplete run"))
    return EXIT_GATE if regressed else EXIT_OK


def cmd_merge(args: argparse.Namespace) -> int:
    from pytest_lmbench.core.merge import merge_reports

    reports = [(path, Report.load(path)) for path in args.reports]
    baseline = _baseline(args.baseline, args.baseline_model) if args.baseline else None
    merged = merge_reports(reports, baseline=baseline, max_regression=args.max_regression,
                           alpha=args.alpha, baseline_metric=args.metric, compare_to=args.compare,
                           lmeval_include=args.eval_include)
    merged.save(args.output)
    # the models in the order the reports give them (a multi-model run's: the order of its --lm-model options)
    models = list(dict.fromkeys(r.model for _, report in reports for r in report.results if r.model != "-"))
    if args.html:
        from pytest_lmbench.core.results import write_text_atomic
        from pytest_lmbench.report.html import render_html

        aggregates = _group_scores(merged)
        write_text_atomic(args.html, render_html(merged.results, aggregates, models=models,
                                                 meta={"complete": merged.complete}, baseline=baseline))
    from pytest_lmbench.report.terminal import render_summary

    items = [r for r in merged.results if not r.aggregate]
    sys.stdout.write(render_summary(merged.results, width=_width(), color=_color(args.color), models=models))
    regressed = [r for r in items if any(c["verdict"] == "regressed" for c in r.comparisons if c["gating"])]
    failing = [r for r in items if r.outcome in ("failed", "error", "regressed")]
    print(f"merged {len(args.reports)} report(s): {len(items)} item result(s) -> {args.output}"
          + (f", {args.html}" if args.html else "") + ("" if merged.complete else " (incomplete)"))
    for note in merged.extra.get("merged", {}).get("notes", []):
        print(f"  note: {note}")
    if regressed:
        print(f"{len(regressed)} item(s) regressed against {args.baseline}")
    return EXIT_GATE if failing else EXIT_OK


def _group_scores(report: Report) -> list[GroupScore]:
    from pytest_lmbench.core.aggregates import GroupScore

    return [GroupScore(**g) for g in report.aggregates]


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return {"show": cmd_show, "diff": cmd_diff, "merge": cmd_merge}[args.command](args)
    except ReportError as exc:  # MergeError too: one line that names the file and what to do
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INPUT
