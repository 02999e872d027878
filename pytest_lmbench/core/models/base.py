"""The model protocol every backend implements, in the spirit of lm-evaluation-harness's model API.

Requests come as lists so a backend can batch, reorder and cache them; answers come back in request order.
Post-processing of generated text (stop string, output regex) is the harness's job, not the backend's.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from pytest_lmbench.core.errors import ConfigError
from pytest_lmbench.core.models.framing import RAW, Conversation, PromptFormat, readable

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

#: A capability that a method's presence declares: a ``BaseModel`` subclass (or an outside object, through
#: ``declared``) that defines the method has it, unless it sets the flag itself.
METHOD_CAPABILITIES: dict[str, str] = {
    "chat": "supports_chat",
    "loglikelihood_greedy": "checks_greedy",
    "loglikelihood_rolling": "scores_rolling",
    "set_answer_key": "sees_answers",
}
#: Every capability flag, with its default on ``BaseModel`` (False: a model written to the two-method protocol).
CAPABILITIES: tuple[str, ...] = ("reports_progress", "meters_usage", "supports_sampling", "supports_chat",
                                 "checks_greedy", "scores_rolling", "sees_answers", "batches")


class Unsupported(ConfigError):
    """A model asked for something its backend does not declare (the message says which backends can)."""


class BaseModel:
    """What the harness talks to: the two methods every backend implements, and every optional capability
    declared here with its default (as lm-eval's ``LM`` and Inspect's ``ModelAPI`` declare theirs), so callers
    ask ``model.checks_greedy`` instead of probing for methods. Backends subclass it; an object written to the
    two-method protocol that does not is wrapped by ``declared`` where it enters the harness."""

    #: Short readable name for node ids and reports; set by the registry from the spec.
    name: str = "model"
    #: Capability: the request methods take ``progress=`` and call it as requests finish. A parameter of each
    #: call rather than an attribute, so that one model shared by threads reports to the right item.
    reports_progress: bool = False
    #: Capability: calls, seconds and tokens are metered into ``core.usage.current()``; the harness times the
    #: others' calls itself and marks their token counts unknown.
    meters_usage: bool = False
    #: Capability: ``generate``/``chat`` take ``temperature`` and ``seed`` (repeats, lm-eval's sampling tasks).
    supports_sampling: bool = False
    #: Capability: ``chat(conversations)`` answers conversations (a template of its own, or a server's chat API).
    supports_chat: bool = False
    #: Capability: ``loglikelihood_greedy`` says whether each continuation is the greedy one (lm-eval's ``acc``
    #: of loglikelihood tasks).
    checks_greedy: bool = False
    #: Capability: ``loglikelihood_rolling`` scores whole texts (lm-eval's perplexity tasks).
    scores_rolling: bool = False
    #: Capability of test doubles (``dummy:oracle``): ``set_answer_key`` shows it each task's answers before its
    #: requests. Real models never have it; the harness asks by capability, not by backend name.
    sees_answers: bool = False
    #: Capability: a list of requests is answered together (in-process batches, concurrent HTTP requests), so
    #: requests that arrive one by one (concurrent samples) are worth gathering into one call.
    batches: bool = False
    #: How the model's prompts are framed (``chat=1``, ``mc=letters``, ...): raw unless a spec says otherwise.
    prompt_format: PromptFormat = RAW
    #: The model's own chat template (``chat.ChatTemplate``) that ``render`` applies; None: ``render`` only shows
    #: the turns as text.
    template: Any = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for method, flag in METHOD_CAPABILITIES.items():
            if method in cls.__dict__ and flag not in cls.__dict__:
                setattr(cls, flag, True)

    def loglikelihood(self, requests: Sequence[tuple[str, str]]) -> list[float]:  # pragma: no cover
        """log P(continuation | context) for each (context, continuation), summed over continuation tokens.

        Context and continuation are given exactly as BIG-bench splits them ("...A: " and "Paris"); backends
        tokenize them separately, as BIG-bench does, rather than tokenizing the joined string."""
        raise NotImplementedError

    def generate(self, prompts: Sequence[str], *, max_tokens: int,
                 stop: Sequence[str] | None = None) -> list[str]:  # pragma: no cover
        """Greedy continuation of each prompt, at most ``max_tokens`` tokens, cut before any ``stop`` string."""
        raise NotImplementedError

    def loglikelihood_greedy(self, requests: Sequence[tuple[str, str]]) -> list[tuple[float, bool]]:
        """``loglikelihood`` with whether the continuation is the greedy one (``checks_greedy``)."""
        raise Unsupported(f"{self.name}: its backend does not say whether a continuation is the greedy one "
                          "(llama.cpp and dummy do)")

    def loglikelihood_rolling(self, texts: Sequence[str]) -> list[float]:
        """log P(text) over all its tokens (``scores_rolling``)."""
        raise Unsupported(f"{self.name}: its backend cannot score whole texts (llama.cpp and dummy can)")

    def chat(self, conversations: Sequence[Conversation], *, max_tokens: int, stop: Sequence[str] | None = None,
             temperature: float = 0.0, seed: int | None = None, progress: Progress | None = None) -> list[str]:
        """The assistant's reply to each conversation (``supports_chat``); ``temperature``/``seed`` with
        ``supports_sampling``."""
        raise Unsupported(f"{self.name}: chat() needs the model run with chat=1 (e.g. --lm-model 'smollm2?chat=1')")

    def chat_loglikelihood(self, requests: Sequence[tuple[Conversation, str]], *,
                           progress: Progress | None = None) -> list[float]:
        """log P(continuation | conversation) with the continuation as the start of the assistant's reply."""
        raise Unsupported(f"{self.name}: scoring options after a conversation needs chat=1 on a backend with a "
                          "template of its own (smollm2, llamacpp:, hf:)")

    def render(self, messages: Conversation) -> str:
        """The text the model sees for a conversation; without a template of its own, the turns as text."""
        return readable(messages)

    def set_answer_key(self, answers: Sequence[Answer]) -> None:
        """Shown each task's answers before its requests (``sees_answers``); real models ignore it."""

    def close(self) -> None:
        """Release the model (memory, sockets). Called once per process at the end of the run."""


class Declared(BaseModel):
    """An object written to the two-method protocol that is not a ``BaseModel`` (a ``py:`` class, a plugin's
    factory): its declarations read once, here, the one place the harness looks at an outside object's
    attributes. A capability flag it sets counts, and so does a method it has (``METHOD_CAPABILITIES``); its
    methods are called as they are; anything else (counters, its own attributes) is the object's."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.name = str(getattr(model, "name", type(model).__name__))
        for flag in CAPABILITIES:
            setattr(self, flag, bool(getattr(model, flag, False)))
        for method, flag in METHOD_CAPABILITIES.items():
            if callable(getattr(model, method, None)):
                setattr(self, flag, True)
        fmt = getattr(model, "prompt_format", None)
        if isinstance(fmt, PromptFormat):
            self.prompt_format = fmt
        self.template = getattr(model, "template", None) if callable(getattr(model, "render", None)) else None

    def loglikelihood(self, requests: Sequence[tuple[str, str]], **kw: Any) -> list[float]:
        return list(self.model.loglikelihood(requests, **kw))

    def generate(self, prompts: Sequence[str], *, max_tokens: int, stop: Sequence[str] | None = None,
                 **kw: Any) -> list[str]:
        return list(self.model.generate(prompts, max_tokens=max_tokens, stop=stop, **kw))

    def loglikelihood_greedy(self, requests: Sequence[tuple[str, str]]) -> list[tuple[float, bool]]:
        return list(self.model.loglikelihood_greedy(requests)) if self.checks_greedy \
            else super().loglikelihood_greedy(requests)

    def loglikelihood_rolling(self, texts: Sequence[str]) -> list[float]:
        return list(self.model.loglikelihood_rolling(texts)) if self.scores_rolling \
            else super().loglikelihood_rolling(texts)

    def chat(self, conversations: Sequence[Conversation], *, max_tokens: int, stop: Sequence[str] | None = None,
             progress: Progress | None = None, **sampling: Any) -> list[str]:
        if not self.supports_chat:
            return super().chat(conversations, max_tokens=max_tokens, stop=stop)
        return list(self.model.chat(conversations, max_tokens=max_tokens, stop=stop, **sampling,
                                    **progress_kwargs(self, progress)))

    def chat_loglikelihood(self, requests: Sequence[tuple[Conversation, str]], *,
                           progress: Progress | None = None) -> list[float]:
        if not callable(getattr(self.model, "chat_loglikelihood", None)):
            return super().chat_loglikelihood(requests)
        return list(self.model.chat_loglikelihood(requests, **progress_kwargs(self, progress)))

    def render(self, messages: Conversation) -> str:
        return str(self.model.render(messages)) if self.template is not None else readable(messages)

    def set_answer_key(self, answers: Sequence[Answer]) -> None:
        if self.sees_answers:
            self.model.set_answer_key(answers)

    def close(self) -> None:
        close = getattr(self.model, "close", None)
        if callable(close):
            close()

    def __getattr__(self, name: str) -> Any:  # the object's own attributes (counters, settings)
        if name == "model":
            raise AttributeError(name)
        return getattr(self.model, name)


def declared(model: object) -> BaseModel:
    """``model`` as the harness talks to it: a ``BaseModel`` as it is, anything else behind ``Declared``. Called
    where models enter the core (the registry, ``evaluate``, ``LM``, the foreign task formats)."""
    return model if isinstance(model, BaseModel) else Declared(model)


@contextlib.contextmanager
def metered(model: BaseModel, requests: int) -> Iterator[None]:
    """Around a call of ``model`` answering ``requests`` requests: nothing for a backend that meters itself
    (``meters_usage``); for the others the call is timed into the current meter, whose token counts are then
    marked unknown."""
    if model.meters_usage:
        yield
        return
    from pytest_lmbench.core.usage import model_call

    with model_call(requests) as meter:
        yield
    if meter is not None:
        meter.tokens_counted = False


def progress_kwargs(model: BaseModel, progress: Progress | None) -> dict[str, Any]:
    """``{"progress": progress}`` for a model that reports progress, else nothing: third-party backends written
    to the two-method protocol keep working."""
    return {"progress": progress} if progress is not None and model.reports_progress else {}


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
