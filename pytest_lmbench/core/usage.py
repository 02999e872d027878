"""What an evaluation cost: tokens, model calls, model seconds, answers from the cache, money.

The evaluation (or a test function's ``lm``) opens a meter with ``metering(usage)``; backends add what they
did to ``current()`` (a context variable, so items in different threads meter apart). A backend that hands
requests to a thread pool takes ``current()`` in the calling thread first and adds to it from the pool.

- ``prompt_tokens``: every prompt as the model's tokenizer splits it (context and continuation for a
  log-likelihood), counted whether or not the backend reused a cached prefix; for ``openai:`` the server's
  ``usage.prompt_tokens``;
- ``generated_tokens``: tokens the model generated (the server's ``usage.completion_tokens``);
- ``model_calls``: requests the model answered; ``model_seconds``: the time the backend spent on them;
- ``cache_hits``: requests answered from the response cache (no model time, no tokens, no cost);
- ``cost``: for ``openai:`` with ``price_in``/``price_out`` (per million tokens), else None.

A leaf: imports nothing of the package.
"""

from __future__ import annotations

import contextlib
import contextvars
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, TypedDict

#: The role of the model an item evaluates; the others an item calls (a judge, ...) are metered apart.
CANDIDATE = "candidate"


class _Roles(TypedDict, total=False):
    roles: dict[str, UsageDict]


class UsageDict(_Roles):
    """A Usage as results carry it (builtin types only); ``roles`` only when other models worked."""

    prompt_tokens: int
    generated_tokens: int
    model_calls: int
    model_seconds: float
    cache_hits: int
    tokens_per_second: float | None
    cost: float | None
    tokens_counted: bool


@dataclass
class Usage:
    prompt_tokens: int = 0
    generated_tokens: int = 0
    model_calls: int = 0
    model_seconds: float = 0.0
    cache_hits: int = 0
    cost: float | None = None
    #: whether every model call counted its tokens (a third-party backend may not)
    tokens_counted: bool = True
    #: what the item's other models cost, by role ("judge", ...): metered apart from the model under test
    roles: dict[str, Usage] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def role(self, name: str) -> Usage:
        """The meter of the item's ``name`` model: this one for the model under test (``CANDIDATE``)."""
        if name == CANDIDATE:
            return self
        with self._lock:
            return self.roles.setdefault(name, Usage())

    def add_tokens(self, prompt: int = 0, generated: int = 0) -> None:
        with self._lock:
            self.prompt_tokens += int(prompt)
            self.generated_tokens += int(generated)

    def add_calls(self, calls: int, seconds: float) -> None:
        with self._lock:
            self.model_calls += int(calls)
            self.model_seconds += float(seconds)

    def add_cost(self, cost: float) -> None:
        with self._lock:
            self.cost = (self.cost or 0.0) + float(cost)

    def add_hits(self, hits: int) -> None:
        with self._lock:
            self.cache_hits += int(hits)

    def merge(self, other: Usage | UsageDict | dict[str, Any]) -> None:
        data = other.to_dict() if isinstance(other, Usage) else other
        with self._lock:
            self.prompt_tokens += int(data.get("prompt_tokens", 0) or 0)
            self.generated_tokens += int(data.get("generated_tokens", 0) or 0)
            self.model_calls += int(data.get("model_calls", 0) or 0)
            self.model_seconds += float(data.get("model_seconds", 0.0) or 0.0)
            self.cache_hits += int(data.get("cache_hits", 0) or 0)
            if data.get("cost") is not None:
                self.cost = (self.cost or 0.0) + float(data["cost"])  # type: ignore[arg-type]
            self.tokens_counted = self.tokens_counted and bool(data.get("tokens_counted", True))
        for name, theirs in dict(data.get("roles") or {}).items():
            self.role(name).merge(theirs)

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.generated_tokens

    @property
    def tokens_per_second(self) -> float | None:
        """Prompt and generated tokens per second of model time (None before any model time)."""
        return self.tokens / self.model_seconds if self.model_seconds > 0 else None

    def to_dict(self) -> UsageDict:
        """The candidate's usage; the other roles', when there were any, under ``roles``."""
        tps = self.tokens_per_second
        out = UsageDict(prompt_tokens=int(self.prompt_tokens), generated_tokens=int(self.generated_tokens),
                        model_calls=int(self.model_calls), model_seconds=float(self.model_seconds),
                        cache_hits=int(self.cache_hits), tokens_per_second=None if tps is None else float(tps),
                        cost=None if self.cost is None else float(self.cost),
                        tokens_counted=bool(self.tokens_counted))
        if self.roles:
            out["roles"] = {name: meter.to_dict() for name, meter in sorted(self.roles.items())}
        return out


_CURRENT: contextvars.ContextVar[Usage | None] = contextvars.ContextVar("lmbench_usage", default=None)
_ROLE: contextvars.ContextVar[str] = contextvars.ContextVar("lmbench_usage_role", default=CANDIDATE)


def current() -> Usage | None:
    """The meter of the model working now in this thread: the evaluation's own for the model under test, its
    ``role`` meter while another model (a judge) works (None outside an evaluation)."""
    meter = _CURRENT.get()
    if meter is None:
        return None
    role = _ROLE.get()
    return meter if role == CANDIDATE else meter.role(role)


@contextlib.contextmanager
def acting_as(role: str) -> Iterator[None]:
    """Inside the block the models called work as ``role`` (``"judge"``): their calls, tokens and cost go to the
    item's meter for that role, never to the candidate's. Backends need not know: they add to ``current()``."""
    token = _ROLE.set(role)
    try:
        yield
    finally:
        _ROLE.reset(token)


@contextlib.contextmanager
def metering(usage: Usage) -> Iterator[Usage]:
    """Meter what the models do inside the block into ``usage`` (the model under test's; other roles' apart)."""
    token, role = _CURRENT.set(usage), _ROLE.set(CANDIDATE)
    try:
        yield usage
    finally:
        _ROLE.reset(role)
        _CURRENT.reset(token)


@contextlib.contextmanager
def model_call(requests: int, meter: Usage | None = None) -> Iterator[Usage | None]:
    """Time a backend's call answering ``requests`` requests into ``meter`` (default: the current one)."""
    meter = current() if meter is None else meter
    start = time.perf_counter()
    try:
        yield meter
    finally:
        if meter is not None:
            meter.add_calls(requests, time.perf_counter() - start)


def short(usage: UsageDict | dict[str, Any] | None) -> str:
    """"1,234 tokens (1,000 in, 234 out), 12 calls, 3.4 s, 363 tok/s, $0.0012": the summary's usage text."""
    if not usage:
        return ""
    parts = []
    if usage.get("tokens_counted", True):
        p, g = int(usage.get("prompt_tokens", 0)), int(usage.get("generated_tokens", 0))
        parts.append(f"{p + g:,} tokens ({p:,} in, {g:,} out)")
    parts.append(f"{int(usage.get('model_calls', 0)):,} calls, {float(usage.get('model_seconds', 0.0)):.1f} s")
    tps = usage.get("tokens_per_second")
    if tps and usage.get("tokens_counted", True):
        parts.append(f"{float(tps):,.0f} tok/s")
    if usage.get("cache_hits"):
        parts.append(f"{int(usage['cache_hits']):,} cached")
    cost = usage.get("cost")
    if cost is not None:
        parts.append(f"${float(cost):.4f}")
    return ", ".join(parts)
