"""The steps every task format's scoring path shares, below both ``evaluate.py`` and ``tasks/``: calling the backend
(its exceptions wrapped as BackendErrors, its answers counted, a model that does not meter itself timed) and
finishing a result (per-example scores, BIG-bench's normalized score, stated-confidence calibration, error bars).
JSON tasks, recorded test functions, lm-eval configs and BIG-bench programmatic tasks all end here, so the
foreign formats use them without importing the evaluator.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from pytest_lmbench.core import gcpause, usage
from pytest_lmbench.core.errors import BackendError, ConfigError
from pytest_lmbench.core.models.base import BaseModel, Progress, declared, metered, progress_kwargs
from pytest_lmbench.core.models.framing import Conversation
from pytest_lmbench.core.results import ErrorBar, ExampleResult, TaskResult
from pytest_lmbench.core.scoring import metrics as M
from pytest_lmbench.core.uncertainty import attach_errors


def call_backend(fn, requests: Sequence, what: str, expected: int, model: BaseModel | None = None) -> list:
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


def run_metered(meter: usage.Usage | None, run: Callable[[], TaskResult]) -> TaskResult:
    """``run()`` (one format's evaluation) with the models it calls metered into ``meter`` (a new one if None);
    the result carries it as ``usage``. The caller that passes its own meter keeps what a failed run cost."""
    meter = usage.Usage() if meter is None else meter
    with usage.metering(meter):
        result = run()
    result.usage = dict(meter.to_dict())
    return result


class LiveProgress(Protocol):
    """Told how many model requests an evaluation will make and how many are done (a live display)."""

    def start(self, total: int) -> None: ...

    def advance(self, n: int = 1) -> None: ...

    def finish(self) -> None: ...


class ModelCalls:
    """One item's requests to one model from a task format that is not ours (lm-eval's ``LM``, BIG-bench's model
    API, Inspect's model provider): each through ``call_backend`` (errors wrapped, answers counted, a model that
    does not meter itself timed), progress told as requests finish, the first failure kept (``failure``) so that
    task code that catches it cannot hide it, and a capability the model lacks a ConfigError before any call.
    ``role``: whose meter the calls go to (``usage.acting_as``: a judge's apart from the model under test);
    ``what_for``: how the messages name the asker ("this task")."""

    def __init__(self, model: object, progress: LiveProgress | None = None, *, role: str = usage.CANDIDATE,
                 what_for: str = "this task") -> None:
        self.model: BaseModel = declared(model)
        self.role = role
        self.live = progress
        self.advance: Progress | None = progress.advance if progress is not None else None
        self.reporting = progress_kwargs(self.model, self.advance)
        self.failure: BackendError | None = None
        self.what_for = what_for

    def start(self, total: int) -> None:
        """A new batch of ``total`` requests (the live line restarts: a foreign format sends one kind at a time)."""
        if self.live is not None:
            self.live.start(total)

    def finish(self) -> None:
        if self.live is not None:
            self.live.finish()

    def _ask(self, fn: Any, requests: Sequence[Any], what: str, *, reports: bool = True) -> list[Any]:
        """``fn(requests)`` through ``call_backend``; ``reports``: the call passes ``progress=`` on (else the
        requests are counted done when it returns)."""
        if not requests:
            return []
        try:
            with usage.acting_as(self.role):
                out = call_backend(fn, requests, what, len(requests), self.model)
        except BackendError as exc:
            if self.role != usage.CANDIDATE:  # a judge's or a compared model's failure says whose it is
                exc = BackendError(f"{self.what_for}: {exc}")
            self.failure = self.failure or exc
            raise exc from exc.__cause__
        if self.advance is not None and not (reports and self.reporting):
            self.advance(len(requests))
        return out

    def loglikelihood(self, pairs: Sequence[tuple[str, str]]) -> list[float]:
        return [float(v) for v in self._ask(lambda r: self.model.loglikelihood(r, **self.reporting), pairs,
                                            "loglikelihood")]

    def chat_loglikelihood(self, requests: Sequence[tuple[Conversation, str]]) -> list[float]:
        """log P(continuation | conversation), the continuation as the start of the assistant's reply."""
        return [float(v) for v in self._ask(lambda r: self.model.chat_loglikelihood(r, **self.reporting), requests,
                                            "loglikelihood")]

    def loglikelihood_greedy(self, pairs: Sequence[tuple[str, str]]) -> list[tuple[float, bool]]:
        if not self.model.checks_greedy:
            raise ConfigError(f"{self.what_for}'s loglikelihood requests need to know whether the continuation is "
                              "the greedy one; the model's backend does not say (llama.cpp and dummy do)")
        return [(float(v), bool(g)) for v, g in self._ask(self.model.loglikelihood_greedy, pairs, "loglikelihood",
                                                           reports=False)]

    def loglikelihood_rolling(self, texts: Sequence[str]) -> list[float]:
        if not self.model.scores_rolling:
            raise ConfigError(f"{self.what_for} scores whole texts (loglikelihood_rolling); the model's backend "
                              "cannot (llama.cpp and dummy can)")
        return [float(v) for v in self._ask(self.model.loglikelihood_rolling, texts, "loglikelihood_rolling",
                                            reports=False)]

    def generate(self, prompts: Sequence[str], *, max_tokens: int, stop: Sequence[str] | None = None,
                 **sampling: Any) -> list[str]:
        """Greedy continuations, or samples with ``temperature``/``seed`` (a ConfigError for a backend that
        cannot sample)."""
        self._check_sampling(sampling)
        return [str(t) for t in self._ask(lambda p: self.model.generate(p, max_tokens=max_tokens, stop=stop,
                                                                         **sampling, **self.reporting),
                                          prompts, "generate")]

    def chat(self, conversations: Sequence[Conversation], *, max_tokens: int, stop: Sequence[str] | None = None,
             **sampling: Any) -> list[str]:
        self._check_sampling(sampling)
        return [str(t) for t in self._ask(lambda c: self.model.chat(c, max_tokens=max_tokens, stop=stop,
                                                                     **sampling, **self.reporting),
                                          conversations, "generate")]

    def _check_sampling(self, sampling: dict[str, Any]) -> None:
        if sampling.get("temperature") and not self.model.supports_sampling:
            raise ConfigError(f"{self.what_for} samples (temperature > 0); the model's backend generates greedily "
                              "only")


def finish_result(*, task: str, model: str, shots: int, examples: list[ExampleResult], scores: Mapping[str, float],
                  per_example: Mapping[str, Mapping[int, float]], preferred: str, low: float, high: float,
                  path: str | None, parent: str | None = None, keywords: Sequence[str] = (),
                  reliability: Sequence[dict[str, Any]] = (), confidence: Mapping[str, Any] | None = None,
                  notes: Sequence[str] = (), started: float, memo: dict[str, Any] | None = None,
                  repeats: dict[str, Any] | None = None,
                  errors: Mapping[str, ErrorBar] | None = None) -> TaskResult:
    """The end of the one scoring pipeline, shared by JSON tasks (above) and recorded test-function tasks
    (``recorder.py``): per-example scores (``per_example``: metric -> {example index: value}, sparse where a
    function task mixed kinds of records) and the preferred score onto the examples, BIG-bench's
    ``normalized_aggregate_score``, the stated-confidence calibration, then every score's error bars (the
    reducers of ``repeats`` with the samples of an example as one cluster). ``errors``: intervals the caller
    computed, of statistics of the whole set this pipeline cannot resample (a judge's kappa, a panel's alpha)."""
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
    result.errors.update(errors or {})
    result.eval_seconds = time.perf_counter() - started
    return result
