"""The examples of a report as text for a terminal: what ``python -m pytest_lmbench show`` prints (every example
of the chosen items: prompt, expected, the answer, its scores, the judge's verdict, coloured by right or wrong)
and the flipped examples ``diff`` lists under its comparisons.

Text from tasks and models goes into ``rich.text.Text`` and is never read as markup (``[smollm2]`` stays as
written); colour only when asked for (``--color``, a terminal, ``NO_COLOR``).
"""

from __future__ import annotations

import io
from collections.abc import Sequence

from rich.console import Console
from rich.text import Text

from pytest_lmbench.core.compare import Flip
from pytest_lmbench.core.gates import example_failed, judged_line
from pytest_lmbench.core.results import ExampleResult, TaskResult
from pytest_lmbench.report.format import fmt, plus_minus, probabilities

#: characters of a prompt shown without --full (its end: where the question is)
PROMPT_CHARS = 600


def console_for(width: int, color: bool) -> tuple[Console, io.StringIO]:
    buffer = io.StringIO()
    return Console(file=buffer, width=max(40, width), force_terminal=color, no_color=not color,
                   color_system="standard" if color else None, highlight=False, emoji=False, soft_wrap=False), buffer


def _clip(text: str, full: bool, chars: int = PROMPT_CHARS) -> str:
    return text if full or len(text) <= chars else "..." + text[-chars:]


def _field(label: str, text: str, style: str = "", dim: str = "") -> list[Text]:
    """``label: text`` on one line; a text of several lines under its label, each indented."""
    if "\n" not in text.strip("\n"):
        return [Text(f"  {label + ':':<9} ", style=dim) + Text(text.strip("\n"), style=style)]
    return [Text(f"  {label}:", style=dim)] + [Text("    | ", style=dim) + Text(line, style=style)
                                               for line in text.strip("\n").split("\n")]


def example_lines(ex: ExampleResult, result: TaskResult, *, full: bool = False, color: bool = False,
                  label: str = "") -> list[Text]:
    """One example as lines of text: a header (index, id, right or wrong), the prompt or conversation, what was
    expected, what the model answered, its scores, the judge's and a scorer's say."""
    wrong = example_failed(ex, result)
    style = ("red" if wrong else "green") if color else ""
    dim = "dim" if color else ""
    out = [Text(f"#{ex.index} {'WRONG' if wrong else 'right'}{label}", style=f"bold {style}".strip()),
           Text(f"  id {ex.id}", style=dim)]
    if ex.messages:
        for m in ex.messages:
            out += _field(str(m.get("role", "?")), _clip(str(m.get("content", "")), full), dim=dim)
    else:
        out += _field("prompt", _clip(ex.prompt, full), dim=dim)
    if ex.choices is not None:
        probs = probabilities(ex.log_probs) if ex.log_probs and len(ex.log_probs) == len(ex.choices) else None
        chosen = ex.chosen
        for i, choice in enumerate(ex.choices):
            score = (ex.target_scores or {}).get(choice)
            mark = ">" if choice == chosen else " "
            p = f" p={probs[i]:.3f}" if probs is not None else ""
            out.append(Text(f"  {mark} option: ", style=dim) + Text(choice)
                       + Text(f"  (target score {fmt(score)}{p})", style=dim))
    else:
        out += _field("expected", " | ".join(ex.targets), dim=dim)
    if ex.response is not None:
        out += _field("answer", _clip(ex.response, full), style=style, dim=dim)
    if ex.raw_response is not None and ex.raw_response != ex.response:
        out += _field("raw", _clip(ex.raw_response, full), dim=dim)
    if ex.choices is not None and ex.response is None and ex.log_probs is None:  # picked by letter
        out += _field("picked", str(ex.chosen), style=style, dim=dim)
    if ex.samples:
        answers = [str(s.get("picked", s.get("response"))) for s in ex.samples]
        right = sum(1 for s in ex.samples if s.get("correct"))
        out.append(Text(f"  samples ({right} of {len(answers)} right): ", style=dim) + Text(" | ".join(answers)))
    if ex.confidence_text is not None:
        out.append(Text("  stated confidence: ", style=dim) + Text(ex.confidence_text))
    if ex.scores:
        shown = ", ".join(f"{k} {fmt(v) if isinstance(v, (int, float)) else v}" for k, v in ex.scores.items())
        out.append(Text("  scores:   ", style=dim) + Text(shown))
    if ex.judge is not None:
        out.append(Text("  judged:   ", style=dim) + Text(judged_line(ex.judge)))
    for name, verdict in (ex.scorer or {}).items():
        said = f"{verdict.get('value')}"
        if verdict.get("explanation"):
            said += f" ({_clip(' '.join(str(verdict['explanation']).split()), full, 200)})"
        out.append(Text(f"  {name}: ", style=dim) + Text(said))
    return out


def item_header(result: TaskResult, color: bool = False) -> Text:
    shots = f", {result.shots}-shot" if result.shots else ""
    score = (f" · {result.preferred_score} {fmt(result.preferred_value)}{plus_minus(result)}"
             if result.preferred_value is not None else "")
    return Text(f"{result.task} [{result.model}{shots}] · {result.outcome}{score} · {len(result.examples)} examples",
                style="bold" if color else "")


def render_examples(results: Sequence[TaskResult], *, width: int = 100, color: bool = False, wrong: bool = False,
                    limit: int | None = None, full: bool = False) -> str:
    """The examples of ``results``, wrong ones first, each item under a header; ``wrong``: only wrong ones;
    ``limit``: at most that many per item (how many more there are is said)."""
    console, buffer = console_for(width, color)
    for result in results:
        console.print(item_header(result, color))
        if result.score_data is not None:
            console.print(Text("  a BIG-bench programmatic task: its examples are the model's requests; its scores "
                               "are the task's own (score_data)"))
        examples = sorted(result.examples, key=lambda e: (not example_failed(e, result), e.index))
        if wrong:
            examples = [e for e in examples if example_failed(e, result)]
        shown = examples if limit is None else examples[:limit]
        for ex in shown:
            for line in example_lines(ex, result, full=full, color=color):
                console.print(line)
        if len(shown) < len(examples):
            console.print(Text(f"  ... {len(examples) - len(shown)} more (--limit)", style="dim" if color else ""))
        if not examples:
            console.print(Text("  no wrong examples" if wrong else "  no examples"))
        console.print()
    return buffer.getvalue()


def render_flips(flipped: Sequence[tuple[TaskResult, TaskResult, list[Flip]]], *, width: int = 100,
                 color: bool = False, limit: int | None = 10, full: bool = False) -> str:
    """Per compared item, (candidate, baseline, flips): the examples that became wrong, then those that became
    right, each with what the baseline answered."""
    console, buffer = console_for(width, color)
    for candidate, baseline, flips in flipped:
        if not flips:
            continue
        failing = sum(1 for f in flips if f.direction == "newly failing")
        console.print(Text(f"{candidate.task} [{candidate.model}"
                           + (f", {candidate.shots}-shot" if candidate.shots else "")
                           + f"]: {failing} newly failing, {len(flips) - failing} newly passing",
                           style="bold" if color else ""))
        shown = flips if limit is None else flips[:limit]
        for flip in shown:
            for line in example_lines(flip.candidate, candidate, full=full, color=color, label=f" ({flip.direction})"):
                console.print(line)
            for line in _field(f"baseline ({baseline.model})", str(flip.baseline.answer), dim="dim" if color else ""):
                console.print(line)
        if len(shown) < len(flips):
            console.print(Text(f"  ... {len(flips) - len(shown)} more flipped (--limit)"))
        console.print()
    return buffer.getvalue()
