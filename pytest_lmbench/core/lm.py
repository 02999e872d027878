"""The model as task authors see it: ``generate``, ``loglikelihood`` and ``choose``, single or batched.

A thin layer over a backend (the :class:`~pytest_lmbench.core.models.base.Model` protocol) that accepts one request
or a list, and picks multiple-choice options exactly as BIG-bench grades them (log-probs normalised over the
options, ties broken by BIG-bench's hashed argmax), so a test-function task scores what its JSON twin scores.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast, overload

import numpy as np

from pytest_lmbench.core.errors import BackendError, ConfigError
from pytest_lmbench.core.models.base import DEFAULT_MAX_TOKENS, declared, metered
from pytest_lmbench.core.models.chat import Message, after_thinking, user_turn
from pytest_lmbench.core.repeats import option_sample
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


#: In repeat i of a task run with repeats, a seed the task's body passes to ``generate``/``chat`` itself becomes
#: seed + i * REPEAT_SEED_STRIDE, so each repeat draws new samples (a body's n=5 samples use seeds seed..seed+4).
REPEAT_SEED_STRIDE = 1_000_003


class LM:
    """A loaded model under a label (what node ids and reports show)."""

    def __init__(self, model: Any, label: str, *, max_tokens: int = DEFAULT_MAX_TOKENS) -> None:
        self.model = declared(model)
        self.label = label
        self.max_tokens = max_tokens
        #: (temperature, seed) of the repeat running now, set by the plugin for tasks run with repeats: what
        #: ``generate``/``chat`` sample with when not told, and ``choose`` draws its pick with
        self.sampling: tuple[float, int] | None = None
        self.repeat = 0  # which repeat runs now: a seed the body passes itself is shifted by it
        self.repeats_k = 1  # of how many

    def __repr__(self) -> str:
        return f"LM({self.label!r})"

    # -- generation -----------------------------------------------------------------------------
    @overload
    def generate(  # type: ignore[overload-overlap]  # str is a Sequence[str]; the str overload is listed first
            self, prompt: str, *, max_tokens: int | None = ..., stop: Sequence[str] | None = ...,
            temperature: float | None = ..., n: None = ..., seed: int | None = ...) -> str: ...

    @overload
    def generate(self, prompt: Sequence[str], *, max_tokens: int | None = ..., stop: Sequence[str] | None = ...,
                 temperature: float | None = ..., n: None = ..., seed: int | None = ...) -> list[str]: ...

    @overload
    def generate(self, prompt: str, *, max_tokens: int | None = ..., stop: Sequence[str] | None = ...,
                 temperature: float | None = ..., n: int = ..., seed: int | None = ...) -> list[str]: ...

    def generate(self, prompt, *, max_tokens=None, stop=None, temperature=None, n=None, seed=None):
        """Continue ``prompt`` (or each of a list of prompts), cut before any ``stop`` string.

        ``temperature=0`` is greedy. With ``temperature > 0`` the backend samples; ``n=K`` returns K samples
        per prompt, sample ``i`` drawn with seed ``seed + i`` so reruns give the same samples. Left out, the
        temperature is 0 and the seed 0, except in a task run with repeats, where repeat i samples at the
        repeats' temperature with their seed + i (``sampling``; with ``n``, sample j gets seed + i + j * K); a
        seed given in repeat i is shifted by ``i * REPEAT_SEED_STRIDE``: every repeat draws new samples.
        """
        single = isinstance(prompt, str)
        prompts = [prompt] if single else list(prompt)
        fmt = self.model.prompt_format
        if fmt.chat:  # each prompt as the user's turn in the model's own chat template
            return self._sampled([user_turn(fmt, p) for p in prompts], single, max_tokens, stop, temperature, n,
                                 seed, "generate")
        return self._sampled(prompts, single, max_tokens, stop, temperature, n, seed, "generate")

    def chat(self, messages: Sequence[Mapping[str, str]] | Sequence[Sequence[Mapping[str, str]]], *,
             max_tokens: int | None = None, stop: str | Sequence[str] | None = None, temperature: float | None = None,
             n: int | None = None, seed: int | None = None) -> Any:
        """The assistant's reply to a conversation (a list of ``{"role", "content"}`` dicts), or to each of a
        list of conversations (batched like ``generate``), in the model's own chat template; the model must run
        with ``chat=1``. ``n``, ``temperature`` and ``seed`` as in ``generate``."""
        fmt = self.model.prompt_format
        if not fmt.chat:
            raise ConfigError(f"chat(): model {self.label!r} runs without a chat template; run it with chat=1 "
                              f"(e.g. --lm-model '{self.label}?chat=1')")
        single = bool(messages) and isinstance(messages[0], Mapping)
        convs = [messages] if single else list(messages)
        checked: list[list[Message]] = []
        for conv in convs:
            if not isinstance(conv, Sequence) or isinstance(conv, str) or not all(
                    isinstance(m, Mapping) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str)
                    for m in conv):
                raise ConfigError("chat(): a conversation is a list of {'role': ..., 'content': ...} dicts of "
                                  f"strings, not {conv!r}")
            checked.append([{"role": str(m["role"]), "content": str(m["content"])}  # type: ignore[call-overload]
                            for m in conv])
        return self._sampled(checked, single, max_tokens, stop, temperature, n, seed, "chat")

    def _sampled(self, asked: list[Any], single: bool, max_tokens: int | None, stop: str | Sequence[str] | None,
                 temperature: float | None, n: int | None, seed: int | None, what: str) -> Any:
        """Text prompts (``generate``) or conversations (``chat``), greedy or sampled, thinking removed."""
        if temperature is None:
            temperature = self.sampling[0] if self.sampling is not None else 0.0
        step = 1  # sample i of n: seed + i * step
        if seed is None:
            seed = self.sampling[1] if self.sampling is not None else 0
            if self.sampling is not None:  # repeat r of K: seed + r + i * K, apart from every other repeat's
                step = self.repeats_k
        elif self.repeat:  # the body's own seeds: fresh draws in every repeat, repeat 0's as without repeats
            seed = int(seed) + self.repeat * REPEAT_SEED_STRIDE
        budget = self.max_tokens if max_tokens is None else int(max_tokens)
        stop = [stop] if isinstance(stop, str) else (list(stop) if stop else None)
        if temperature < 0:
            raise ConfigError(f"{what}(): temperature must be >= 0, not {temperature}")
        samples = 1 if n is None else int(n)
        if samples < 1:
            raise ConfigError(f"{what}(): n must be at least 1, not {n}")
        fmt = self.model.prompt_format
        method = self.model.chat if asked and not isinstance(asked[0], str) else self.model.generate

        def call(*args: Any, **kwargs: Any) -> Any:
            with metered(self.model, len(asked)):
                return method(*args, **kwargs)

        if temperature == 0:
            texts = self._checked(call(asked, max_tokens=budget, stop=stop), len(asked), what)
            per_prompt = [[t] * samples for t in texts]
        else:
            if not self.model.supports_sampling:
                raise ConfigError(f"model {self.label!r} cannot sample (temperature > 0); its backend does "
                                  "greedy generation only")
            columns = [self._checked(call(asked, max_tokens=budget, stop=stop, temperature=float(temperature),
                                          seed=seed + i * step), len(asked), what) for i in range(samples)]
            per_prompt = [[col[j] for col in columns] for j in range(len(asked))]
        if fmt.think_end:  # a reasoning model's answer: what follows its thinking ("" when it never ended)
            per_prompt = [[after_thinking(str(t), fmt.think_end)[0] for t in texts] for texts in per_prompt]
        if n is None:
            out = [p[0] for p in per_prompt]
            return out[0] if single else out
        return per_prompt[0] if single else per_prompt

    def render(self, messages: Sequence[Mapping[str, str]]) -> str:
        """A conversation as the text the model sees: its chat template applied, with the generation prompt
        (chat=1 with a template of its own; a server's template is not known here)."""
        if self.model.template is None:
            raise ConfigError(f"render(): model {self.label!r} has no chat template here (chat=1 on smollm2, "
                              "llamacpp: or hf:)")
        return str(self.model.render([{"role": m["role"], "content": m["content"]} for m in messages]))

    # -- scoring --------------------------------------------------------------------------------
    def loglikelihood(self, context: str | Sequence[tuple[str, str]], continuation: str | None = None):
        """``loglikelihood(context, continuation) -> float`` or ``loglikelihood([(c, t), ...]) -> [float]``. The
        context is text as the model sees it, also for a chat model (then, e.g., ``lm.render(messages)``)."""
        if isinstance(context, str):
            if continuation is None:
                raise ConfigError("loglikelihood(context, continuation): the continuation is missing")
            with metered(self.model, 1):
                return self._checked(self.model.loglikelihood([(context, continuation)]), 1, "loglikelihood")[0]
        requests = [(str(c), str(t)) for c, t in context]
        with metered(self.model, len(requests)):
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
        fmt = self.model.prompt_format
        if fmt.chat:  # each option as the start of the assistant's reply to the prompt as the user's turn
            turns = [(user_turn(fmt, p), o) for p, opts in zip(prompts, option_lists) for o in opts]
            with metered(self.model, len(turns)):
                flat = self._checked(self.model.chat_loglikelihood(turns), len(turns), "loglikelihood")
        else:
            requests = [(p, o) for p, opts in zip(prompts, option_lists) for o in opts]
            with metered(self.model, len(requests)):
                flat = self._checked(self.model.loglikelihood(requests), len(requests), "loglikelihood")
        absolutes, pos = [], 0
        for opts in option_lists:
            absolutes.append([float(x) for x in flat[pos:pos + len(opts)]])
            pos += len(opts)
        out = []  # normalised across each prompt's options as JSON tasks are (one normaliser, metrics.py)
        for p, opts, absolute, normalized in zip(prompts, option_lists, absolutes, normalize_log_probs(absolutes)):
            probs = [float(x) for x in np.exp(np.asarray(normalized, dtype=np.float64))]
            if self.sampling is None:
                index = hashed_argmax(normalized)
            else:  # a repeat: the pick drawn from the option probabilities, as JSON tasks' repeats draw it
                index = option_sample(normalized, self.sampling[0], self.sampling[1], "\x00".join([p, *opts]))
            out.append(Choice(prompt=p, options=opts, index=index, log_probs=absolute, probs=probs))
        return out[0] if single else out

    def _checked(self, values: Any, expected: int, what: str) -> list:
        values = list(values)
        if len(values) != expected:
            raise BackendError(f"model {self.label!r}: {what}() returned {len(values)} results for {expected} "
                               "requests")
        return values
