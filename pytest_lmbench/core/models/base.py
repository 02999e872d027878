"""The model protocol every backend implements, in the spirit of lm-evaluation-harness's model API.

Requests come as lists so a backend can batch, reorder and cache them; answers come back in request order.
Post-processing of generated text (stop string, output regex) is the harness's job, not the backend's.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, ClassVar, Protocol, runtime_checkable

#: Told how many requests just finished (the live progress line of long items).
Progress = Callable[[int], None]

#: Tokens a generation may take when neither the task nor the command line says (BIG-bench's default for
#: its JSON tasks is larger; 64 covers every answer in the shared tasks and keeps CPU runs short).
DEFAULT_MAX_TOKENS = 64


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


#: One example's answers as the harness shows them: (prompt, target_scores or None, first target or None).
Answer = tuple[str, "Mapping[str, float] | None", "str | None"]


@runtime_checkable
class SeesAnswers(Protocol):
    """Capability of test doubles (``dummy:oracle``): shown each task's answers before its requests, so that it
    can answer right. Real models never implement it; the harness asks by capability, not by backend name."""

    def set_answer_key(self, answers: Sequence[Answer]) -> None: ...


def reports_progress(model: object) -> bool:
    """Whether ``model``'s ``loglikelihood``/``generate`` take ``progress=`` (the ``reports_progress``
    capability). Models without it are still counted, a whole call at a time, by the cache in front of them."""
    return bool(getattr(model, "reports_progress", False))


def meters_usage(model: object) -> bool:
    """Whether ``model`` meters its own calls, seconds and tokens into ``core.usage.current()`` (the
    ``meters_usage`` capability: the built-in backends). The harness times the others' calls itself and marks
    their token counts as unknown."""
    return bool(getattr(model, "meters_usage", False))


@contextlib.contextmanager
def metered(model: object, requests: int) -> Iterator[None]:
    """Around a call of ``model`` answering ``requests`` requests: nothing for a backend that meters itself
    (``meters_usage``); for the others the call is timed into the current meter, whose token counts are then
    marked unknown."""
    if meters_usage(model):
        yield
        return
    from pytest_lmbench.core.usage import model_call

    with model_call(requests) as meter:
        yield
    if meter is not None:
        meter.tokens_counted = False


def progress_kwargs(model: object, progress: Progress | None) -> dict[str, Any]:
    """``{"progress": progress}`` for a model that reports progress, else nothing: third-party backends written
    to the two-method protocol keep working."""
    return {"progress": progress} if progress is not None and reports_progress(model) else {}


class BaseModel:
    """Convenience base: subclasses implement the two methods; ``close`` releases resources."""

    #: Short readable name for node ids and reports; set by the registry from the spec.
    name: str = "model"
    #: Capability: the request methods take ``progress=`` and call it as requests finish. A parameter of each
    #: call rather than an attribute, so that one model shared by threads reports to the right item.
    reports_progress: ClassVar[bool] = False
    #: Capability: calls, seconds and tokens are metered into ``core.usage.current()`` (``meters_usage``).
    meters_usage: ClassVar[bool] = False

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
