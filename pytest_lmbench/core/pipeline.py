"""The steps every task format's scoring path shares, below both ``evaluate.py`` and ``tasks/``: calling the backend
(its exceptions wrapped as BackendErrors, its answers counted, a model that does not meter itself timed) and
finishing a result (per-example scores, BIG-bench's normalized score, stated-confidence calibration, error bars).
JSON tasks, recorded test functions, lm-eval configs and BIG-bench programmatic tasks all end here, so the
foreign formats use them without importing the evaluator.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Mapping, Sequence
from typing import Any

from pytest_lmbench.core import gcpause
from pytest_lmbench.core.errors import BackendError
from pytest_lmbench.core.models.base import metered
from pytest_lmbench.core.results import ExampleResult, TaskResult
from pytest_lmbench.core.scoring import metrics as M
from pytest_lmbench.core.uncertainty import attach_errors


def call_backend(fn, requests: Sequence, what: str, expected: int, model: object = None) -> list:
    """Call the backend; anything it raises becomes a BackendError, and a wrong answer count is caught.
    ``model``: the model ``fn`` calls; one that does not meter itself (``meters_usage``) is timed here, its tokens
    marked unknown (``base.metered``)."""
    try:
        with gcpause.resumed(), metered(model, expected) if model is not None else contextlib.nullcontext():
            out = list(fn(list(requests)))
    except BackendError:
        raise
    except Exception as exc:
        raise BackendError(f"the model's {what}() raised {type(exc).__name__}: {exc}") from exc
    if len(out) != expected:
        raise BackendError(f"the model's {what}() returned {len(out)} answers for {expected} requests")
    return out


def finish_result(*, task: str, model: str, shots: int, examples: list[ExampleResult], scores: Mapping[str, float],
                  per_example: Mapping[str, Mapping[int, float]], preferred: str, low: float, high: float,
                  path: str | None, parent: str | None = None, keywords: Sequence[str] = (),
                  reliability: Sequence[dict[str, Any]] = (), confidence: Mapping[str, Any] | None = None,
                  notes: Sequence[str] = (), started: float, memo: dict[str, Any] | None = None,
                  repeats: dict[str, Any] | None = None) -> TaskResult:
    """The end of the one scoring pipeline, shared by JSON tasks (above) and recorded test-function tasks
    (``recorder.py``): per-example scores (``per_example``: metric -> {example index: value}, sparse where a
    function task mixed kinds of records) and the preferred score onto the examples, BIG-bench's
    ``normalized_aggregate_score``, the stated-confidence calibration, then every score's error bars (the
    reducers of ``repeats`` with the samples of an example as one cluster)."""
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
                        notes=list(notes), repeats=repeats)
    attach_errors(result, memo=memo)
    result.eval_seconds = time.perf_counter() - started
    return result
