"""Asking a judge model to grade answers (``scoring/judge.py`` has the prompt, the verdict reading and the
scores). The judge is called through ``pipeline.ModelCalls`` as the ``judge`` role: its calls go through the same
answer cache (keyed by the judge's identity and the whole prompt, so its rubric and template), retries and
errors as the candidate's, and its tokens and cost are metered apart from the candidate's.

A chat judge (``chat=1``) gets the prompt as its one user turn; a raw judge gets it as text followed by a blank
line. With ``verdict: "prefill"`` the judge's turn is made to start with ``GRADE: `` and the grade is the most
likely number on the scale (ties: the lower); the weighted grade is the expected number under the judge's
probabilities, after its own text up to its last ``GRADE:`` for text verdicts, or right after the prefill.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from pytest_lmbench.core import stats as S
from pytest_lmbench.core.errors import TaskFormatError
from pytest_lmbench.core.models.base import BaseModel
from pytest_lmbench.core.models.framing import Message
from pytest_lmbench.core.pipeline import LiveProgress, ModelCalls, finish_result
from pytest_lmbench.core.repeats import option_sample
from pytest_lmbench.core.results import ErrorBar, ExampleResult, TaskResult
from pytest_lmbench.core.scoring.judge import (
    GRADE_PREFIX,
    VERDICT_PREFIX,
    VERDICTS,
    Comparison,
    JudgeSpec,
    Verdict,
    alpha_from_coincidences,
    coincidences,
    expected_grade,
    judge_prompt,
    pairwise_prompt,
    quadratic_kappa,
    read_grade,
    read_verdict,
    unread_problem,
)
from pytest_lmbench.core.tasks.data import load_examples

#: What separates a raw judge's prompt from its answer.
RAW_SEPARATOR = "\n\n"


def scores_continuations(model: BaseModel) -> bool:
    """Whether ``model`` gives log-probabilities of a continuation after a judge prompt: any raw model, or a chat
    model rendered by its own template (a server's chat API gives none)."""
    return not model.prompt_format.chat or model.template is not None


def judge_answers(judge: BaseModel, spec: JudgeSpec, items: Sequence[tuple[str, str, str | None]], *,
                  progress: LiveProgress | None = None, samples: Sequence[int | None] = (None,),
                  seed: int = 0) -> list[list[Verdict]]:
    """Verdicts on each (question, answer, reference) of ``items``, one list per sample of ``samples``: None the
    judge's greedy verdict, s its verdict sample s (``judge_samples``) drawn at ``spec.temperature`` from seed
    ``seed + s``. A prefilled grade is drawn from the judge's probabilities of the grades (scored once for all
    samples) by a generator seeded by the seed and the prompt, so a rerun draws the same."""
    calls = ModelCalls(judge, progress, role="judge", what_for=f"the judge {judge.name}")
    model = calls.model
    prompts = [judge_prompt(spec, q, a, r) for q, a, r in items]
    chat = model.prompt_format.chat
    convs: list[list[Message]] = [[{"role": "user", "content": p}] for p in prompts]
    shown = [model.render(c) for c in convs] if chat else [p + RAW_SEPARATOR for p in prompts]
    weighted = spec.weighted if spec.weighted is not None else scores_continuations(model)

    def grade_log_probs(prefixes: dict[int, str]) -> dict[int, list[float]]:
        """log P(prefix + grade) for every grade of the scale, after each item's prompt."""
        order = sorted(prefixes)
        grades = [str(g) for g in spec.grades()]
        if chat:
            flat = calls.chat_loglikelihood([(convs[i], prefixes[i] + g) for i in order for g in grades])
        else:
            flat = calls.loglikelihood([(shown[i], prefixes[i] + g) for i in order for g in grades])
        k = len(grades)
        return {i: flat[j * k:(j + 1) * k] for j, i in enumerate(order)}

    out = []
    if spec.verdict == "prefill":
        calls.start(len(items) * len(spec.grades()))
        scored = grade_log_probs(dict.fromkeys(range(len(items)), GRADE_PREFIX))
        for sample in samples:
            sampling = _sampling(spec, sample, seed)
            verdicts = [Verdict(prompt=text) for text in shown]
            for i, lps in scored.items():
                verdicts[i].grade = spec.grades()[_pick(lps, sampling, shown[i])]
                verdicts[i].text = GRADE_PREFIX + str(verdicts[i].grade)
                verdicts[i].weighted = expected_grade(lps, spec) if weighted else None
            out.append(verdicts)
        calls.finish()
        return out
    calls.start(len(items) * len(samples))
    for sample in samples:
        sampling = _sampling(spec, sample, seed)
        verdicts = [Verdict(prompt=text) for text in shown]
        texts = calls.chat(convs, max_tokens=spec.max_tokens, **sampling) if chat else \
            calls.generate(shown, max_tokens=spec.max_tokens, **sampling)
        read: dict[int, str] = {}
        for i, (verdict, text) in enumerate(zip(verdicts, texts)):
            verdict.text = text
            verdict.grade, at = read_grade(text, spec)
            if verdict.grade is not None and at is not None:
                read[i] = text[:at]
        if weighted and read:
            for i, lps in grade_log_probs(read).items():
                verdicts[i].weighted = expected_grade(lps, spec)
        out.append(verdicts)
    calls.finish()
    return out


def _sampling(spec: JudgeSpec, sample: int | None, seed: int) -> dict[str, Any]:
    """The sampling settings of verdict sample ``sample`` (none: the judge's greedy verdict)."""
    return {} if sample is None else {"temperature": spec.temperature, "seed": seed + sample}


def _pick(log_probs: Sequence[float], sampling: dict[str, Any], prompt: str) -> int:
    """A prefilled verdict: the most likely (ties: the first), or one drawn from the probabilities."""
    if not sampling:
        return max(range(len(log_probs)), key=lambda j: (log_probs[j], -j))
    return option_sample(list(log_probs), sampling["temperature"], sampling["seed"], prompt)


def compare_answers(judge: BaseModel, spec: JudgeSpec, items: Sequence[tuple[str, str, str, str | None]], *,
                    progress: LiveProgress | None = None, samples: Sequence[int | None] = (None,),
                    seed: int = 0) -> list[list[Comparison]]:
    """Comparisons of each (question, answer, other answer, reference) of ``items``, one list per sample of
    ``samples`` (as for ``judge_answers``): the judge asked with the answer as A and the other as B, then the
    other way round (the judge's position bias measured, not kept)."""
    calls = ModelCalls(judge, progress, role="judge", what_for=f"the judge {judge.name}")
    model = calls.model
    chat = model.prompt_format.chat
    prompts = [pairwise_prompt(spec, q, a, o, r) for q, a, o, r in items] + \
        [pairwise_prompt(spec, q, o, a, r) for q, a, o, r in items]
    convs: list[list[Message]] = [[{"role": "user", "content": p}] for p in prompts]
    shown = [model.render(c) for c in convs] if chat else [p + RAW_SEPARATOR for p in prompts]
    n = len(items)
    out = []
    if spec.verdict == "prefill":  # the most likely of A, B, TIE after "VERDICT: " (or one drawn)
        requests = [(i, VERDICT_PREFIX + v) for i in range(len(prompts)) for v in VERDICTS]
        calls.start(len(requests))
        flat = calls.chat_loglikelihood([(convs[i], c) for i, c in requests]) if chat else \
            calls.loglikelihood([(shown[i], c) for i, c in requests])
    else:
        calls.start(len(prompts) * len(samples))
    for sample in samples:
        sampling = _sampling(spec, sample, seed)
        verdicts = [Verdict(prompt=text) for text in shown]
        read: list[str | None] = []
        if spec.verdict == "prefill":
            for i, verdict in enumerate(verdicts):
                lps = flat[i * len(VERDICTS):(i + 1) * len(VERDICTS)]
                best = VERDICTS[_pick(lps, sampling, shown[i])]
                verdict.text = VERDICT_PREFIX + best
                read.append(best)
        else:
            texts = calls.chat(convs, max_tokens=spec.max_tokens, **sampling) if chat else \
                calls.generate(shown, max_tokens=spec.max_tokens, **sampling)
            for verdict, text in zip(verdicts, texts):
                verdict.text = text
                read.append(read_verdict(text))
        out.append([Comparison(first=verdicts[i], second=verdicts[n + i], first_verdict=read[i],
                               second_verdict=read[n + i], answer=items[i][1], other=items[i][2])
                    for i in range(n)])
    calls.finish()
    return out


def validation_rows(path: str, spec: JudgeSpec) -> list[tuple[str, str, int]]:
    """(input, answer, human_score) of a judge's validation file (``spec.validation``, resolved to ``path``),
    checked: a TaskFormatError naming the file, the row and the field."""
    rows = load_examples(path, required=("answer", "human_score"))
    out = []
    for i, row in enumerate(rows):
        score = row["human_score"]
        try:
            grade = int(score)
            if grade != float(score):
                raise ValueError
        except (TypeError, ValueError):
            raise TaskFormatError(path, f"row {i}: human_score", f"must be a whole number, not {score!r}") from None
        if not spec.low <= grade <= spec.high:
            raise TaskFormatError(path, f"row {i}: human_score", f"{grade} is off the judge's scale "
                                  f"[{spec.low}, {spec.high}]", "grade on the task's judge.scale")
        out.append((str(row.get("input", "")), str(row["answer"]), grade))
    if not out:
        raise TaskFormatError(path, None, "has no rows", "add graded answers: {\"input\", \"answer\", \"human_score\"}")
    return out


def validate_judge(judge: BaseModel, spec: JudgeSpec, rows: Sequence[tuple[str, str, int]], *, task: str,
                   model: str, path: str | None = None) -> TaskResult:
    """The judge grades answers people graded (``rows``: input, answer, human score): ``judge_human_kappa``
    (quadratic-weighted Cohen's kappa over the scale, unread verdicts left out, with a bootstrap interval),
    ``judge_human_agreement`` (the fraction of exact matches) and ``judge_unparsed``. ``task`` is the item's name
    (``TASK:judge``), ``model`` the judge's label."""
    started = time.perf_counter()
    [verdicts] = judge_answers(judge, spec, [(q, a, None) for q, a, _ in rows])
    examples = []
    read: list[int] = []
    for i, ((question, answer, human), verdict) in enumerate(zip(rows, verdicts)):
        ex = ExampleResult(id=f"{i}", index=i, prompt=question, targets=[str(human)], response=answer,
                           judge=verdict.to_dict())
        examples.append(ex)
        if verdict.grade is not None:
            read.append(i)
    humans = [rows[i][2] for i in read]
    grades = [int(verdicts[i].grade or 0) for i in read]
    per_example: dict[str, dict[int, float]] = {
        "judge_unparsed": {i: float(verdicts[i].grade is None) for i in range(len(rows))},
        "judge_human_agreement": {i: float(h == g) for i, h, g in zip(read, humans, grades)}}
    scores = {"judge_unparsed": sum(per_example["judge_unparsed"].values()) / len(rows)}
    notes = [f"the judge {model} graded {len(rows)} answers people graded; {len(read)} verdicts read"]
    problem = unread_problem(model, len(rows) - len(read), len(rows), spec, "graded answers")
    if problem is not None:
        raise ValueError(problem)
    if read:
        scores["judge_human_kappa"] = quadratic_kappa(humans, grades, spec.grades())
        scores["judge_human_agreement"] = sum(per_example["judge_human_agreement"].values()) / len(read)
    else:
        raise ValueError(f"the judge {model} gave no readable verdict on any of the {len(rows)} graded answers")
    if math.isnan(scores["judge_human_kappa"]):
        notes.append("kappa is undefined: the judge and the people each used one and the same grade")
    errors: dict[str, ErrorBar] = {}
    if len(read) >= 2 and not math.isnan(scores["judge_human_kappa"]):
        h, g = np.asarray(humans), np.asarray(grades)
        entry = _bootstrapped(lambda idx: quadratic_kappa(list(h[idx]), list(g[idx]), spec.grades()), len(read))
        if entry is not None:
            errors["judge_human_kappa"] = entry
    return finish_result(task=task, model=model, shots=0, examples=examples, scores=scores, per_example=per_example,
                         preferred="judge_human_kappa", low=0.0, high=1.0, path=path, notes=notes, started=started,
                         errors=errors)


def _bootstrapped(statistic: Callable[[np.ndarray], float], n: int) -> ErrorBar | None:
    """The bootstrap interval entry of an agreement statistic (bounded by [-1, 1]) over ``n`` units, resamples
    where it is undefined left out; None when it cannot be had (fewer than two units, mostly undefined)."""
    boot = S.bootstrap(statistic, n, drop_undefined=True)
    if boot is None or not all(math.isfinite(x) for x in boot):
        return None
    return {"stderr": boot[0], "ci95": [boot[1], boot[2]], "method": "bootstrap", "bounds": [-1.0, 1.0]}


def panel_agreement(ratings: Sequence[Sequence[float | None]], domain: Sequence[float],
                    clusters: Sequence[int] | None = None) -> tuple[float, ErrorBar | None]:
    """How well a panel's judges agree: Krippendorff's alpha (ordinal) of ``ratings[judge][unit]`` (None:
    unread; a unit is one answer, or one verdict sample of it) over the ordered values ``domain``, with a
    bootstrap interval over the examples (``clusters``: each unit's example; None: each unit its own)."""
    units = np.asarray(coincidences(ratings, domain), dtype=np.float64)
    alpha = alpha_from_coincidences(units)
    if math.isnan(alpha):
        return alpha, None
    if clusters is not None and len(units):  # an example's units resampled together: their matrices summed
        order = list(dict.fromkeys(clusters))
        where = {c: k for k, c in enumerate(order)}
        summed = np.zeros((len(order), *units.shape[1:]))
        np.add.at(summed, [where[c] for c in clusters], units)
        units = summed
    return alpha, _bootstrapped(lambda idx: alpha_from_coincidences(units[idx]), len(units))
