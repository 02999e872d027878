"""Thresholds: where they come from, and turning a result into pass/fail with a readable message."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pytest_lmbench.core.errors import ConfigError

if TYPE_CHECKING:  # imported where used: the plugin parses thresholds in runs that never score anything
    from pytest_lmbench.core.results import ExampleResult, Outcome, TaskResult

MAX_FAILING_EXAMPLES = 3
MAX_SAMPLES_SHOWN = 8


@dataclass(frozen=True)
class ThresholdRule:
    """``[TASK_GLOB:]METRIC=VALUE`` from the command line or ini."""

    pattern: str
    metric: str
    value: float
    source: str
    #: the text before ``=``: a metric may hold colons itself (a programmatic task's ``SUBTASK:metric``)
    text: str = ""

    def matches(self, task_name: str) -> bool:
        return fnmatch.fnmatchcase(task_name, self.pattern)

    def metric_for(self, task_name: str, produced: set[str]) -> str | None:
        """The metric this rule sets on a task that computes ``produced``, or None. ``TASK_GLOB:METRIC`` is split
        at its last colon; where that names no metric of the task, at each earlier colon, then not at all (a
        ``SUBTASK:metric`` of every task)."""
        if self.metric in produced and self.matches(task_name):
            return self.metric
        text = self.text or (f"{self.pattern}:{self.metric}" if self.pattern != "*" else self.metric)
        cuts = [i for i, c in enumerate(text) if c == ":"][::-1]
        for pattern, metric in [(text[:i], text[i + 1:]) for i in cuts] + [("*", text)]:
            if metric.strip() in produced and fnmatch.fnmatchcase(task_name, pattern):
                return metric.strip()
        return None


def parse_threshold(text: str, source: str = "--lm-threshold") -> ThresholdRule:
    left, eq, value = text.strip().rpartition("=")
    if not eq or not left:
        raise ConfigError(f"{source} {text!r}: the form is [TASK_GLOB:]METRIC=VALUE, "
                          "e.g. multiple_choice_grade=0.5 or 'arith*:exact_str_match=0.8'")
    pattern, colon, metric = left.rpartition(":")
    try:
        number = float(value)
    except ValueError:
        raise ConfigError(f"{source} {text!r}: {value!r} is not a number") from None
    return ThresholdRule(pattern=pattern if colon else "*", metric=metric.strip(), value=number, source=source,
                         text=left.strip())


def resolve_thresholds(task_name: str, produced: set[str], from_file: dict[str, float],
                       rules: list[ThresholdRule]) -> dict[str, float]:
    """Thresholds for one task: ini rules, then the task file's block, then command-line rules (later wins).

    Rules for metrics the task does not compute are ignored, so one global rule can serve mixed suites.
    """
    out: dict[str, float] = {}
    ini = [r for r in rules if r.source != "--lm-threshold"]
    cli = [r for r in rules if r.source == "--lm-threshold"]
    for rule in ini:
        if (metric := rule.metric_for(task_name, produced)) is not None:
            out[metric] = rule.value
    out.update(from_file)
    for rule in cli:
        if (metric := rule.metric_for(task_name, produced)) is not None:
            out[metric] = rule.value
    return out


def meets(metric: str, value: float, threshold: float) -> bool:
    from pytest_lmbench.core.tasks.model import LOWER_IS_BETTER

    return value <= threshold if metric in LOWER_IS_BETTER else value >= threshold


#: --lm-gate: ``point`` compares the score, ``lower`` its one-sided 95% bound (see ``judge``)
GATES = ("point", "lower")


def judge(result: TaskResult, thresholds: dict[str, float], gate: str = "point") -> tuple[Outcome, str | None]:
    """("passed" | "failed" | "inconclusive" | "scored", message).

    ``gate="point"`` compares the score itself. ``gate="lower"`` also asks the one-sided 95% bound of the score
    to clear the threshold; a score that clears it when its bound does not is *inconclusive*: noise could have
    put it there, and the message says about how many examples would settle it.
    """
    from pytest_lmbench.core.tasks.model import LOWER_IS_BETTER
    from pytest_lmbench.core.uncertainty import examples_to_settle, one_sided_bound

    if not thresholds:
        return "scored", None
    misses, unsure = [], []
    for metric, threshold in thresholds.items():
        value = result.scores.get(metric)
        lower_better = metric in LOWER_IS_BETTER
        if value is None or not meets(metric, value, threshold):
            op = ">" if lower_better else "<"
            shown = "missing" if value is None else f"{value:.4g}"
            misses.append(f"{metric} = {shown} {op} threshold {threshold:g}")
        elif gate == "lower" and result.score_data is None:  # a programmatic task's scores have no interval
            bound = one_sided_bound(result, metric, lower_better)
            if bound is None or not meets(metric, bound, threshold):
                side = "upper" if lower_better else "lower"
                shown = "none (n < 2)" if bound is None else f"{bound:.4g}"
                need = examples_to_settle(result, metric, threshold, lower_better)
                settle = f"; about {need} examples would settle it" if need else ""
                unsure.append(f"{metric} = {value:.4g} clears {threshold:g} but its 95% {side} bound "
                              f"{shown} does not{settle}")
    head = f"{result.task} [{result.model}, {result.shots}-shot, n={result.n_examples}]: "
    if not misses and not unsure:
        return "passed", None
    if not misses:
        return "inconclusive", head + "; ".join(unsure)
    lines = [head + "; ".join(misses)]
    failing = [e for e in result.examples if example_failed(e, result)]
    if failing:
        k = len(failing[0].samples or [])
        wrong = f"wrong in some of their {k} samples" if k else \
            "judged below the best" if failing[0].judge is not None else "wrong"
        lines.append(f"{len(failing)} of {len(result.examples)} examples {wrong}; the first "
                     f"{min(len(failing), MAX_FAILING_EXAMPLES)}:")
        for ex in failing[:MAX_FAILING_EXAMPLES]:
            lines.append(describe_example(ex))
    return "failed", "\n".join(lines)


def example_failed(ex: ExampleResult, result: TaskResult) -> bool:
    """Wrong: a multiple-choice pick below the best option, or a per-example score below the task's best."""
    if ex.picked_best is not None:
        return not ex.picked_best
    if ex.score is None:
        return False
    high = result.high_score
    return ex.score < high


def _tail(text: str, width: int = 70) -> str:
    return text if len(text) <= width else "..." + text[-(width - 3):]


def describe_example(ex: ExampleResult) -> str:
    if ex.choices is not None and ex.target_scores:
        best = max(ex.target_scores.values())
        expected = " | ".join(c for c, s in ex.target_scores.items() if s == best)
        got = ex.chosen
    else:
        expected = " | ".join(ex.targets)
        got = ex.response
    if ex.samples:  # repeats: the majority answer, then every sample's
        from pytest_lmbench.core.repeats import majority, vote

        votes = [vote(s) for s in ex.samples]
        top = ex.samples[majority(votes)]
        got = top["picked"] if "picked" in top else top.get("response")
    text = f"  #{ex.index} prompt: {_tail(ex.prompt)!r}\n      expected: {expected!r}\n      got:      {got!r}"
    if ex.samples:
        right = sum(1 for s in ex.samples if s.get("correct"))
        answers = [s.get("picked", s.get("response")) for s in ex.samples]
        shown = ", ".join(repr(_tail(str(a), 20)) for a in answers[:MAX_SAMPLES_SHOWN])
        more = ", ..." if len(answers) > MAX_SAMPLES_SHOWN else ""
        text += f" (the majority answer)\n      samples:  {shown}{more} (right in {right} of {len(answers)})"
    if ex.judge is not None:
        text += "\n      judged:   " + judged_line(ex.judge)
    return text


def judged_line(judge: dict[str, Any]) -> str:
    """What the judge (each judge of a panel) said of an example, in one line: its grade or pairwise verdicts,
    and the end of its text."""
    if "panel" in judge:
        return "; ".join(f"{v.get('judge')}: {judged_line(v)}" for v in judge["panel"])
    if judge.get("mode") == "pairwise":
        verdicts = " then ".join(str(v) for v in judge.get("verdicts") or [])
        return f"verdicts {verdicts} (the answer as A, then as B), outcome {judge.get('outcome')}"
    grade = judge.get("grade")
    said = _tail(" ".join(str(judge.get("text") or "").split()), 40)
    return f"{'unread' if grade is None else f'grade {grade}'} ({said!r})"
