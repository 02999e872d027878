"""Reference models for testing tasks and the harness itself.

``dummy:oracle`` answers every example correctly (the best-scored choice, the first target): a task that
does not score 1.0 with it is mis-specified. ``dummy:random?seed=N`` gives seeded, order-independent
random answers. Neither needs any dependency.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

from pytest_lmbench.core import usage
from pytest_lmbench.core.errors import ConfigError
from pytest_lmbench.core.models.base import Answer, BaseModel, cut_at_stop
from pytest_lmbench.core.models.spec import Backend, ModelSpec


class AnswerKey:
    """What the oracle knows: the expected text per prompt and the score per (prompt, option)."""

    def __init__(self) -> None:
        self.generations: dict[str, str] = {}
        self.scores: dict[tuple[str, str], float] = {}
        self.best: dict[str, float] = {}

    def add_generation(self, prompt: str, target: str) -> None:
        self.generations.setdefault(prompt, target)

    def add_choices(self, prompt: str, scores: dict[str, float]) -> None:
        for choice, score in scores.items():
            self.scores[(prompt, choice)] = score
        self.best[prompt] = max(scores.values())


class OracleModel(BaseModel):
    """Knows the answers the harness shows it through :meth:`set_answer_key`."""

    meters_usage = True

    supports_sampling = True  # every sample is the right answer

    def __init__(self) -> None:
        self.key = AnswerKey()

    def set_answer_key(self, answers: Sequence[Answer]) -> None:
        """The ``sees_answers`` capability (``models.base.BaseModel``)."""
        key = AnswerKey()
        for prompt, target_scores, target in answers:
            if target_scores is not None:
                key.add_choices(prompt, dict(target_scores))
            if target is not None:
                key.add_generation(prompt, target)
        self.key = key

    def loglikelihood(self, requests: Sequence[tuple[str, str]]) -> list[float]:
        _meter_words([c + " " + t for c, t in requests], [])
        out = []
        for context, continuation in requests:
            score = self.key.scores.get((context, continuation))
            if score is None:  # a generative target scored for log_likelihood: certain
                out.append(0.0 if self.key.generations.get(context) == continuation else -20.0)
            else:
                out.append(0.0 if score == self.key.best[context] else -20.0)
        return out

    def generate(self, prompts: Sequence[str], *, max_tokens: int, stop: Sequence[str] | None = None,
                 temperature: float = 0.0, seed: int = 0) -> list[str]:
        out = [cut_at_stop(self.key.generations.get(p, ""), stop) for p in prompts]
        _meter_words(prompts, out)
        return out

    def loglikelihood_greedy(self, requests: Sequence[tuple[str, str]]) -> list[tuple[float, bool]]:
        return [(v, v == 0.0) for v in self.loglikelihood(requests)]  # the right answer is the greedy one

    def loglikelihood_rolling(self, texts: Sequence[str]) -> list[float]:
        return [0.0 for _ in texts]  # certain of every text


class RandomModel(BaseModel):
    """Seeded random answers; each request's answer depends only on the seed and the request."""

    supports_sampling = True
    meters_usage = True

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed

    def _rng(self, *parts: str) -> np.random.Generator:
        digest = hashlib.sha256("\x00".join((str(self.seed),) + parts).encode()).digest()
        return np.random.default_rng(int.from_bytes(digest[:8], "little"))

    def loglikelihood(self, requests: Sequence[tuple[str, str]]) -> list[float]:
        _meter_words([c + " " + t for c, t in requests], [])
        return [float(-self._rng(c, t).exponential(2.0) * max(1, len(t.split()))) for c, t in requests]

    def loglikelihood_greedy(self, requests: Sequence[tuple[str, str]]) -> list[tuple[float, bool]]:
        return [(v, bool(self._rng(c, t, "greedy").random() < 0.5))
                for v, (c, t) in zip(self.loglikelihood(requests), requests)]

    def loglikelihood_rolling(self, texts: Sequence[str]) -> list[float]:
        return [float(-self._rng(t, "rolling").exponential(2.0) * max(1, len(t.split()))) for t in texts]

    def generate(self, prompts: Sequence[str], *, max_tokens: int, stop: Sequence[str] | None = None,
                 temperature: float = 0.0, seed: int = 0) -> list[str]:
        out = []
        for p in prompts:
            words = p.split() or ["?"]
            rng = self._rng(p) if temperature == 0 else self._rng(p, f"sample {seed}")
            text = " ".join(words[int(i)] for i in rng.integers(0, len(words), size=max(1, min(3, max_tokens))))
            out.append(cut_at_stop(text, stop))
        _meter_words(prompts, out)
        return out


def _meter_words(prompts: Sequence[str], generated: Sequence[str]) -> None:
    """Dummy models meter one call per request and count words as tokens (whitespace-split): enough to test
    budgets and reports without a tokenizer."""
    meter = usage.current()
    if meter is not None:
        meter.add_calls(len(prompts), 0.0)
        meter.add_tokens(prompt=sum(len(p.split()) for p in prompts), generated=sum(len(g.split()) for g in generated))


def make_dummy(spec: ModelSpec) -> BaseModel:
    if spec.target == "oracle":
        return OracleModel()
    if spec.target == "random":
        try:
            return RandomModel(seed=int(spec.options.get("seed", "0")))
        except ValueError:
            raise ConfigError(f"--lm-model {spec.raw!r}: seed must be an integer") from None
    raise ConfigError(f"--lm-model {spec.raw!r}: the dummy backend has 'dummy:oracle' and 'dummy:random?seed=N'")


#: Reference models: cheap, so never cached; options are read by ``make_dummy`` itself.
DUMMY = Backend(name="dummy", factory=make_dummy)
