"""The model protocol every backend implements, in the spirit of lm-evaluation-harness's model API.

Requests come as lists so a backend can batch, reorder and cache them; answers come back in request order.
Post-processing of generated text (stop string, output regex) is the harness's job, not the backend's.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Protocol, runtime_checkable


@runtime_checkable
class Model(Protocol):
    """What the harness needs from a language model."""

    def loglikelihood(self, requests: Sequence[tuple[str, str]]) -> list[float]:
        """log P(continuation | context) for each (context, continuation), summed over continuation tokens.

        Context and continuation are given exactly as BIG-bench splits them ("...A: " and "Paris"); backends
        tokenize them separately, as BIG-bench does, rather than tokenizing the joined string.
        """
        ...

    def generate(self, prompts: Sequence[str], *, max_tokens: int, stop: Sequence[str] | None = None) -> list[str]:
        """Greedy continuation of each prompt, at most ``max_tokens`` tokens, cut before any ``stop`` string."""
        ...


class BaseModel:
    """Convenience base: subclasses implement the two methods; ``close`` releases resources."""

    #: Short readable name for node ids and reports; set by the registry from the spec.
    name: str = "model"
    #: Set by the harness while it waits on a call: told how many requests are done as they finish, for the
    #: live progress line of long items. Backends call ``_advance``; it costs nothing when unset.
    progress: Callable[[int], None] | None = None

    def _advance(self, n: int = 1) -> None:
        if self.progress is not None:
            self.progress(n)

    def loglikelihood(self, requests: Sequence[tuple[str, str]]) -> list[float]:  # pragma: no cover
        raise NotImplementedError

    def generate(self, prompts: Sequence[str], *, max_tokens: int,
                 stop: Sequence[str] | None = None) -> list[str]:  # pragma: no cover
        raise NotImplementedError

    def close(self) -> None:
        """Release the model (memory, sockets). Called once per process at the end of the run."""


def cut_at_stop(text: str, stop: Sequence[str] | None) -> str:
    """Cut ``text`` before the earliest stop string (what ``stop`` means in the protocol)."""
    if not stop:
        return text
    cut = len(text)
    for s in stop:
        if s:
            i = text.find(s)
            if 0 <= i < cut:
                cut = i
    return text[:cut]


def default_threads() -> int:
    """Cores divided among xdist workers, so parallel workers do not oversubscribe the CPU."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1") or 1)
    return max(1, cores // max(1, workers))
