"""The model as task authors see it: ``generate``, ``loglikelihood`` and ``choose``, single or batched.

A thin layer over a backend (the :class:`~pytest_lmbench.core.models.base.Model` protocol) that accepts one request
or a list, and picks multiple-choice options exactly as BIG-bench grades them (log-probs normalised over the
options, ties broken by BIG-bench's hashed argmax), so a test-function task scores what its JSON twin scores.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast, overload

import numpy as np

from pytest_lmbench.core.errors import BackendError, ConfigError
from pytest_lmbench.core.models.base import DEFAULT_MAX_TOKENS
from pytest_lmbench.core.scoring.metrics import hashed_argmax, normalize_log_probs


@dataclass
class Choice:
    """The model's pick among ``options`` for ``prompt``."""

    prompt: str
    options: list[str]
    index: int  # of the picked option
    log_probs: list[float]  # log P(option | prompt), as the model gives them
    probs: list[float]  # normalised over the options (sum to 1)

    @property
    def option(self) -> str:
        return self.options[self.index]

    @property
    def confidence(self) -> float:
        """The normalised probability of the picked option."""
        return self.probs[self.index]


class LM:
    """A loaded model under a label (what node ids and reports show)."""

    def __init__(self, model: Any, label: str, *, max_tokens: int = DEFAULT_MAX_TOKENS) -> None:
        self.model = model
        self.label = label
        self.max_tokens = max_tokens

    def __repr__(self) -> str:
        return f"LM({self.label!r})"

    # -- generation -----------------------------------------------------------------------------
    @overload
    def generate(  # type: ignore[overload-overlap]  # str is a Sequence[str]; the str overload is listed first
            self, prompt: str, *, max_tokens: int | None = ..., stop: Sequence[str] | None = ...,
            temperature: float = ..., n: None = ..., seed: int = ...) -> str: ...

    @overload
    def generate(self, prompt: Sequence[str], *, max_tokens: int | None = ..., stop: Sequence[str] | None = ...,
                 temperature: float = ..., n: None = ..., seed: int = ...) -> list[str]: ...

    @overload
    def generate(self, prompt: str, *, max_tokens: int | None = ..., stop: Sequence[str] | None = ...,
                 temperature: float = ..., n: int = ..., seed: int = ...) -> list[str]: ...

    def generate(self, prompt, *, max_tokens=None, stop=None, temperature=0.0, n=None, seed=0):
        """Continue ``prompt`` (or each of a list of prompts), cut before any ``stop`` string.

        ``temperature=0`` is greedy. With ``temperature > 0`` the backend samples; ``n=K`` returns K samples
        per prompt, sample ``i`` drawn with seed ``seed + i`` so reruns give the same samples.
        """
        single = isinstance(prompt, str)
        prompts = [prompt] if single else list(prompt)
        budget = self.max_tokens if max_tokens is None else int(max_tokens)
        stop = [stop] if isinstance(stop, str) else (list(stop) if stop else None)
        if temperature < 0:
            raise ConfigError(f"generate(): temperature must be >= 0, not {temperature}")
        samples = 1 if n is None else int(n)
        if samples < 1:
            raise ConfigError(f"generate(): n must be at least 1, not {n}")
        if temperature == 0:
            texts = self._checked(self.model.generate(prompts, max_tokens=budget, stop=stop), len(prompts), "generate")
            per_prompt = [[t] * samples for t in texts]
        else:
            if not getattr(self.model, "supports_sampling", False):
                raise ConfigError(f"model {self.label!r} cannot sample (temperature > 0); its backend does "
                                  "greedy generation only")
            columns = [self._checked(self.model.generate(prompts, max_tokens=budget, stop=stop,
                                                         temperature=float(temperature), seed=seed + i),
                                     len(prompts), "generate") for i in range(samples)]
            per_prompt = [[col[j] for col in columns] for j in range(len(prompts))]
        if n is None:
            out = [p[0] for p in per_prompt]
            return out[0] if single else out
        return per_prompt[0] if single else per_prompt

    # -- scoring --------------------------------------------------------------------------------
    def loglikelihood(self, context: str | Sequence[tuple[str, str]], continuation: str | None = None):
        """``loglikelihood(context, continuation) -> float`` or ``loglikelihood([(c, t), ...]) -> [float]``."""
        if isinstance(context, str):
            if continuation is None:
                raise ConfigError("loglikelihood(context, continuation): the continuation is missing")
            return self._checked(self.model.loglikelihood([(context, continuation)]), 1, "loglikelihood")[0]
        requests = [(str(c), str(t)) for c, t in context]
        return self._checked(self.model.loglikelihood(requests), len(requests), "loglikelihood")

    def choose(self, prompt: str | Sequence[str], options: Sequence[str] | Sequence[Sequence[str]]):
        """The most likely option after ``prompt`` -> :class:`Choice`; with a list of prompts and a list of
        option lists -> a list of choices (scored in one batch)."""
        single = isinstance(prompt, str)
        prompts: list[str] = [prompt] if isinstance(prompt, str) else list(prompt)
        given: list[list[Any]] = [list(options)] if single else [list(o) for o in options]
        if len(given) != len(prompts):
            raise ConfigError(f"choose(): {len(prompts)} prompts but {len(given)} option lists")
        for opts in given:
            if not opts or not all(isinstance(o, str) for o in opts):
                raise ConfigError(f"choose(): options must be a non-empty list of strings, not {opts!r}")
        option_lists = cast(list[list[str]], given)  # each a non-empty list of str: checked just above
        requests = [(p, o) for p, opts in zip(prompts, option_lists) for o in opts]
        flat = self._checked(self.model.loglikelihood(requests), len(requests), "loglikelihood")
        absolutes, pos = [], 0
        for opts in option_lists:
            absolutes.append([float(x) for x in flat[pos:pos + len(opts)]])
            pos += len(opts)
        out = []  # normalised across each prompt's options as JSON tasks are (one normaliser, metrics.py)
        for p, opts, absolute, normalized in zip(prompts, option_lists, absolutes, normalize_log_probs(absolutes)):
            probs = [float(x) for x in np.exp(np.asarray(normalized, dtype=np.float64))]
            out.append(Choice(prompt=p, options=opts, index=hashed_argmax(normalized), log_probs=absolute,
                              probs=probs))
        return out[0] if single else out

    def _checked(self, values: Any, expected: int, what: str) -> list:
        values = list(values)
        if len(values) != expected:
            raise BackendError(f"model {self.label!r}: {what}() returned {len(values)} results for {expected} "
                               "requests")
        return values
