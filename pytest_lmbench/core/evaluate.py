"""One task x one model x one shot count -> TaskResult. The pure core: no pytest here.

Follows BIG-bench's ``evaluate_fixed_shot``: multiple-choice options are scored with the model's
log-likelihoods (normalised across options), generative metrics see the post-processed generation,
and ``log_likelihood`` sees log P(target | prompt).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from pytest_lmbench.core import gcpause
from pytest_lmbench.core.errors import BackendError
from pytest_lmbench.core.models.base import DEFAULT_MAX_TOKENS, Model, Progress, SeesAnswers, progress_kwargs
from pytest_lmbench.core.results import ExampleResult, TaskResult
from pytest_lmbench.core.scoring import metrics as M
from pytest_lmbench.core.scoring.confidence import confidence_calibration, parse_confidence
from pytest_lmbench.core.scoring.postprocess import postprocess
from pytest_lmbench.core.tasks.model import Task, VerbalizedConfidence
from pytest_lmbench.core.tasks.prompts import BIGBENCH_SEED, Query, build_queries
from pytest_lmbench.core.uncertainty import aggregate_errors, attach_errors


class LiveProgress(Protocol):
    """Told how many model requests an evaluation will make and how many are done (a live display)."""

    def start(self, total: int) -> None: ...

    def advance(self, n: int = 1) -> None: ...

    def finish(self) -> None: ...


def evaluate(task: Task, model: Model, *, shots: int = 0, max_examples: int | None = None,
             max_tokens: int = DEFAULT_MAX_TOKENS, seed: int = BIGBENCH_SEED, model_name: str | None = None,
             progress: LiveProgress | None = None, scorers: Mapping[str, M.Scorer] | None = None) -> TaskResult:
    """Score a leaf task on a model, as BIG-bench does for ``shots`` shots. ``progress`` hears of every
    finished request (backends with the ``reports_progress`` capability are told it as a parameter; the answer
    cache counts the others a call at a time). ``scorers``: extra generative
    scorers by metric name (bleurt), e.g. the plugin's from the ``pytest_lmbench_metrics`` hook."""
    if task.is_parent:
        raise ValueError(f"{task.name} is a parent task: evaluate its subtasks and aggregate them")
    with gcpause.paused():  # model calls run with the collector as usual (_call)
        queries = build_queries(task, shots, max_examples, seed)
        if progress is None:
            return _evaluate(task, model, queries, shots, max_tokens, model_name, scorers, None)
        progress.start(_request_count(task, queries))
        try:
            return _evaluate(task, model, queries, shots, max_tokens, model_name, scorers, progress.advance)
        finally:
            progress.finish()


def _request_count(task: Task, queries: list[Query]) -> int:
    count = sum(len(q.choices or ()) for q in queries) if task.multiple_choice_metrics else 0
    count += len(queries) if task.generative_metrics else 0
    count += sum(len(q.targets) for q in queries) if task.scoring_metrics else 0
    return count + (len(queries) if task.verbalized_confidence is not None else 0)


def _evaluate(task: Task, model: Model, queries: list[Query], shots: int, max_tokens: int,
              model_name: str | None, scorers: Mapping[str, M.Scorer] | None, advance: Progress | None) -> TaskResult:
    start = time.perf_counter()
    reporting = progress_kwargs(model, advance)
    if isinstance(model, SeesAnswers):
        _show_answers(model, queries)
    examples = [ExampleResult(id=q.example.uid, index=q.example.index, prompt=q.prompt, targets=q.targets,
                              target_scores=q.example.target_scores, choices=q.choices) for q in queries]
    values = M.MetricValues()
    notes: list[str] = list(task.notes)

    mc_metrics = task.multiple_choice_metrics
    if mc_metrics:
        requests = [(q.prompt, c) for q in queries for c in q.choices or ()]
        flat = _call(lambda r: model.loglikelihood(r, **reporting), requests, "loglikelihood", len(requests))
        absolute, pos = [], 0
        for q in queries:
            k = len(q.choices or ())
            absolute.append([float(x) for x in flat[pos:pos + k]])
            pos += k
        normalized = M.normalize_log_probs(absolute)
        used = absolute if task.absolute_normalization else normalized
        for ex, lp in zip(examples, used):
            ex.log_probs = [float(x) for x in lp]
        # (multiple-choice queries all have choices and target scores; `or` only tells the type checker)
        _merge(values, M.multiple_choice([q.choices or [] for q in queries],
                                         [q.example.target_scores or {} for q in queries], used, absolute, mc_metrics))

    gen_metrics = task.generative_metrics
    if gen_metrics:
        raw = _call(lambda p: model.generate(p, max_tokens=max_tokens, stop=None, **reporting),
                    [q.prompt for q in queries], "generate", len(queries))
        responses = [postprocess(str(r), stop_string=task.stop_string, output_regex=task.output_regex)
                     for r in raw]
        for ex, r, resp in zip(examples, raw, responses):
            ex.raw_response, ex.response = str(r), resp
        try:
            _merge(values, M.generative([q.targets for q in queries], responses, gen_metrics, scorers))
        except M.MetricUnavailable as exc:
            if task.preferred_score == "bleurt":
                raise
            notes.append(f"bleurt not computed: {exc}")
            _merge(values, M.generative([q.targets for q in queries], responses,
                                        [m for m in gen_metrics if m != "bleurt"]))

    if task.scoring_metrics:
        requests = [(q.prompt, t) for q in queries for t in q.targets]
        flat = _call(lambda r: model.loglikelihood(r, **reporting), requests, "loglikelihood", len(requests))
        per_query, pos = [], 0
        for q, ex in zip(queries, examples):
            per_query.append([float(x) for x in flat[pos:pos + len(q.targets)]])
            ex.target_log_probs = per_query[-1]
            pos += len(q.targets)
        _merge(values, M.log_likelihood(per_query, [q.targets for q in queries]))

    confidence: dict[str, Any] | None = None
    if task.verbalized_confidence is not None:
        for i, ex in enumerate(examples):  # what ask_confidence judges right and wrong by
            ex.scores = {m: float(v[i]) for m, v in values.per_example.items()}
        confidence = ask_confidence(task.verbalized_confidence, model, examples, task.preferred_score, advance)
        notes.append(confidence["note"])
    if task.n_duplicates:
        notes.append(f"{task.n_duplicates} duplicate example(s) ignored, as BIG-bench does")
    return finish_result(
        task=task.name, model=str(model_name or getattr(model, "name", type(model).__name__)), shots=shots,
        examples=examples, scores=values.scores,
        per_example={m: dict(enumerate(v)) for m, v in values.per_example.items()},
        preferred=task.preferred_score, low=task.low_score, high=task.high_score, path=task.path,
        parent=task.parent, keywords=task.keywords, reliability=values.extra.get("reliability", []),
        confidence=confidence, notes=notes, started=start,
        # the calibration parts of the log-probs the examples carry, computed once for the scores and their errors
        memo={"mc_parts": values.extra["mc_parts"]} if "mc_parts" in values.extra else None)


def finish_result(*, task: str, model: str, shots: int, examples: list[ExampleResult], scores: Mapping[str, float],
                  per_example: Mapping[str, Mapping[int, float]], preferred: str, low: float, high: float,
                  path: str | None, parent: str | None = None, keywords: Sequence[str] = (),
                  reliability: Sequence[dict[str, Any]] = (), confidence: Mapping[str, Any] | None = None,
                  notes: Sequence[str] = (), started: float, memo: dict[str, Any] | None = None) -> TaskResult:
    """The end of the one scoring pipeline, shared by JSON tasks (above) and recorded test-function tasks
    (``recorder.py``): per-example scores (``per_example``: metric -> {example index: value}, sparse where a
    function task mixed kinds of records) and the preferred score onto the examples, BIG-bench's
    ``normalized_aggregate_score``, the stated-confidence calibration, then every score's error bars."""
    scores = dict(scores)
    if confidence is not None:
        scores.update(confidence["scores"])
    scores["normalized_aggregate_score"] = M.normalized_score(scores[preferred], low, high)
    for i, ex in enumerate(examples):
        ex.scores.update({m: float(v[i]) for m, v in per_example.items() if i in v})
        ex.score = ex.scores.get(preferred)
    result = TaskResult(task=task, model=model, shots=shots, n_examples=len(examples), scores=scores,
                        preferred_score=preferred, low_score=low, high_score=high, path=path, parent=parent,
                        keywords=list(keywords), examples=examples, reliability=list(reliability),
                        confidence_reliability=list(confidence["reliability"]) if confidence is not None else [],
                        notes=list(notes))
    attach_errors(result, memo=memo)
    result.eval_seconds = time.perf_counter() - started
    return result


def ask_confidence(settings: VerbalizedConfidence, model: Model, examples: list[ExampleResult], preferred: str,
                   advance: Progress | None = None) -> dict:
    """Verbalized confidence: after each answer, ask the model how sure it is (prompt + answer + the
    follow-up), read the number or word, and score the stated confidences against right/wrong."""
    answers = [ex.chosen if ex.choices is not None else ex.response for ex in examples]
    follow_ups = [ex.prompt + str(answer or "") + settings.prompt for ex, answer in zip(examples, answers)]
    reporting = progress_kwargs(model, advance)
    texts = _call(lambda p: model.generate(p, max_tokens=settings.max_tokens, stop=["\n"], **reporting),
                  follow_ups, "generate", len(follow_ups))
    stated, right = [], []
    for ex, text in zip(examples, texts):
        ex.confidence_text = str(text)
        correct = float(ex.picked_best if ex.picked_best is not None else ex.scores.get(preferred, 0.0))
        ex.scores["correct"] = correct
        confidence = parse_confidence(str(text), settings.words)
        if confidence is not None:
            ex.scores["confidence"] = confidence
            stated.append(confidence)
            right.append(correct)
    calib = confidence_calibration(stated, right)
    calib["note"] = f"stated a confidence on {len(stated)} of {len(examples)} examples"
    if len(stated) < len(examples):
        missing = next(ex for ex in examples if "confidence" not in ex.scores)
        calib["note"] += f" (unreadable, e.g. #{missing.index}: {_short(missing.confidence_text)!r})"
    return calib


def _short(text: str | None, width: int = 40) -> str:
    text = text or ""
    return text if len(text) <= width else text[:width - 3] + "..."


def _merge(into: M.MetricValues, other: M.MetricValues) -> None:
    into.scores.update(other.scores)
    into.per_example.update(other.per_example)
    into.extra.update(other.extra)


def _call(fn, requests: Sequence, what: str, expected: int) -> list:
    """Call the backend; anything it raises becomes a BackendError, and a wrong answer count is caught."""
    try:
        with gcpause.resumed():
            out = list(fn(list(requests)))
    except BackendError:
        raise
    except Exception as exc:
        raise BackendError(f"the model's {what}() raised {type(exc).__name__}: {exc}") from exc
    if len(out) != expected:
        raise BackendError(f"the model's {what}() returned {len(out)} answers for {expected} requests")
    return out


def _show_answers(model: SeesAnswers, queries: list[Query]) -> None:
    model.set_answer_key([(q.prompt, q.example.target_scores, q.targets[0] if q.targets else None)
                          for q in queries])


def split_max_examples(task: Task, max_examples: int | None) -> int | None:
    """BIG-bench's per-subtask limit: a parent's ``max_examples`` split evenly (floor) over its subtasks."""
    return per_subtask(max_examples, len(task.subtasks), task.name)


def per_subtask(max_examples: int | None, subtasks: int, name: str) -> int | None:
    """``max_examples`` for each of ``subtasks`` subtasks (0: a leaf task, which keeps it all)."""
    if max_examples is None or not subtasks:
        return max_examples
    per = max_examples // subtasks
    if per < 1:
        raise ValueError(f"max_examples ({max_examples}) must be at least the number of subtasks "
                         f"({subtasks}) of {name}")
    return per


def evaluate_all(task: Task, model: Model, *, shots: Sequence[int] = (0,), max_examples: int | None = None,
                 **kwargs) -> list[TaskResult]:
    """Every leaf of ``task`` for every shot count, then the parent's aggregates (as BIG-bench orders them)."""
    from pytest_lmbench.core.results import aggregate

    per_leaf = split_max_examples(task, max_examples)
    results = [evaluate(leaf, model, shots=s, max_examples=per_leaf, **kwargs)
               for leaf in task.leaves() for s in shots]
    if task.is_parent:
        names = [leaf.name for leaf in task.leaves()]
        for s in shots:
            subs = [r for r in results if r.shots == s]
            results.append(aggregate_errors(aggregate(task.name, subs, names), subs))
    return results
