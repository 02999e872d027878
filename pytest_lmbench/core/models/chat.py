"""Chat models: how a model's prompts are framed (raw text or its own chat template), BIG-bench queries as
conversations, lettered multiple choice for endpoints without log-probs, and reasoning-model answers.

The harness never writes a chat format of its own: the text of a conversation comes from the model's own
template (a GGUF's ``tokenizer.chat_template`` rendered by llama-cpp-python's formatter, a Hugging Face
tokenizer's ``apply_chat_template``) or from the server (``openai:`` chat completions). What is ours is only
*which* conversation a BIG-bench example becomes, written down in docs/json-tasks.md:

- the BIG-bench prompt of an example, without the trailing output prefix that the template's assistant turn
  replaces and stripped of surrounding whitespace, is a user turn;
- ``fewshot=multiturn`` (default): each few-shot example is a user turn and its target the assistant's reply;
  ``fewshot=inline``: the BIG-bench prompt after the task prefix, shots included, is the one user turn;
- the system turn is ``system=TEXT`` (or ``--lm-system-prompt``) and the task prefix, joined by a blank line
  (lm-evaluation-harness's ``--apply_chat_template`` puts a task's ``description`` there too);
- the generation prompt is always added; multiple-choice options are scored as the start of the assistant's
  reply.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal, Protocol, TypedDict, runtime_checkable

from pytest_lmbench.core.errors import BackendError, ConfigError
from pytest_lmbench.core.models.spec import truthy


class Message(TypedDict):
    """One turn of a conversation, as chat templates and chat APIs take it."""

    role: str
    content: str


Conversation = Sequence[Message]

#: Prompt-format options that are the harness's alone (``chat`` is also handed to the backend: it tokenizes
#: templated text with the template's special tokens)
HARNESS_OPTIONS: Final = frozenset({"system", "fewshot", "mc", "think_end"})
FEWSHOT_MODES: Final = ("multiturn", "inline")
MC_MODES: Final = ("logprobs", "letters")
LETTERS: Final = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
#: The instruction after lettered options (docs/json-tasks.md).
LETTER_INSTRUCTION: Final = "Answer with the letter of the correct option."


@dataclass(frozen=True)
class PromptFormat:
    """How a model's prompts are framed; read from its spec (``?chat=1&system=...``)."""

    chat: bool = False
    system: str | None = None
    fewshot: Literal["multiturn", "inline"] = "multiturn"
    mc: Literal["logprobs", "letters"] = "logprobs"
    think_end: str | None = None
    #: where the template came from and its SHA-256 (set by the registry for templated backends)
    template: str | None = None

    @property
    def raw(self) -> bool:
        return self == RAW

    def describe(self) -> str:
        """One line for reports: "raw", or "chat (GGUF tokenizer.chat_template sha256:1a2b3c4d, few-shot
        multiturn, system prompt)"."""
        parts = []
        if self.chat:
            parts.append(self.template or "the server's template")
            parts.append(f"few-shot {self.fewshot}")
            if self.system:
                parts.append(f"system prompt {self.system[:40]!r}")
        if self.mc == "letters":
            parts.append("multiple choice by letter (no probabilities)")
        if self.think_end:
            parts.append(f"answers after {self.think_end!r}")
        head = "chat" if self.chat else "raw"
        return f"{head} ({', '.join(parts)})" if parts else head


RAW: Final = PromptFormat()


def prompt_format(options: Mapping[str, str], where: str, *, default_system: str | None = None) -> PromptFormat:
    """The prompt format of a spec's options; a bad value is a ConfigError naming ``where`` (the spec) and
    the allowed values. ``default_system`` (``--lm-system-prompt``) applies to chat models without their own."""
    chat = truthy(options.get("chat", "0"))
    fewshot = options.get("fewshot", "multiturn")
    if fewshot not in FEWSHOT_MODES:
        raise ConfigError(f"--lm-model {where!r}: fewshot must be one of {', '.join(FEWSHOT_MODES)}, not {fewshot!r}")
    mc = options.get("mc", "logprobs")
    if mc not in MC_MODES:
        raise ConfigError(f"--lm-model {where!r}: mc must be one of {', '.join(MC_MODES)}, not {mc!r}")
    system = options.get("system", default_system if chat else None)
    if system is not None and not chat:
        raise ConfigError(f"--lm-model {where!r}: system= needs chat=1 (a raw completion prompt has no system turn)")
    if "fewshot" in options and not chat:
        raise ConfigError(f"--lm-model {where!r}: fewshot= needs chat=1 (raw prompts keep BIG-bench's inline shots)")
    think_end = options.get("think_end") or None
    return PromptFormat(chat=chat, system=system or None, fewshot=fewshot,  # type: ignore[arg-type]
                        mc=mc, think_end=think_end)  # type: ignore[arg-type]


def format_of(model: object) -> PromptFormat:
    """A model's prompt format (``prompt_format`` attribute; raw for models that have none)."""
    fmt = getattr(model, "prompt_format", None)
    return fmt if isinstance(fmt, PromptFormat) else RAW


# ----------------------------------------------------------------------------------------- templates

@runtime_checkable
class ChatTemplate(Protocol):
    """A model's own chat template. ``source`` is its text (hashed into the cache identity); ``origin`` says
    where it was read; ``render`` applies it with the generation prompt added."""

    source: str
    origin: str

    def render(self, messages: Conversation) -> str: ...


def template_label(template: ChatTemplate) -> str:
    """"GGUF tokenizer.chat_template sha256:1a2b3c4d" (reports, the cache identity)."""
    return f"{template.origin} sha256:{template_sha(template)[:12]}"


def template_sha(template: ChatTemplate) -> str:
    return hashlib.sha256(template.source.encode("utf-8")).hexdigest()


class NoPromptLogprobs(BackendError):
    """A chat model that can only generate (a server's chat API) was asked for log-probabilities (a backend's
    limit: the item is an error with this message as it is)."""


class FramedModel:
    """A model with a prompt format other than raw: what the harness talks to. ``chat`` goes to the model's own
    chat (a server's chat API through the answer cache); text methods pass through unchanged; everything else
    (cache counters, ``close``) is the model's beneath."""

    reports_progress = True

    def __init__(self, model: Any, fmt: PromptFormat, *, name: str | None = None, spec: str | None = None) -> None:
        self.model, self.prompt_format = model, fmt
        self.name = name or getattr(model, "name", "model")  # the label, in messages
        self.spec = spec or self.name  # the spec as given, for the fixes messages suggest
        self.supports_sampling = bool(getattr(model, "supports_sampling", False))

    def _kw(self, progress: Any) -> dict[str, Any]:
        from pytest_lmbench.core.models.base import progress_kwargs

        return progress_kwargs(self.model, progress)

    def render(self, messages: Conversation) -> str:
        """The text the model sees for a conversation; a server's template is not known here, so reports show
        the turns (``readable``)."""
        return readable(messages)

    def chat(self, conversations: Sequence[Conversation], *, max_tokens: int, stop: Sequence[str] | None = None,
             progress: Any = None, **sampling: Any) -> list[str]:
        if not self.prompt_format.chat or not callable(getattr(self.model, "chat", None)):
            raise ConfigError(f"{self.name}: chat() needs the model run with chat=1 (e.g. --lm-model "
                              "'smollm2?chat=1')")
        return list(self.model.chat(conversations, max_tokens=max_tokens, stop=stop, **sampling,
                                    **self._kw(progress)))

    def chat_loglikelihood(self, requests: Sequence[tuple[Conversation, str]], *,
                           progress: Any = None) -> list[float]:
        raise NoPromptLogprobs(f"{self.name} runs chat=1 through a server's chat API, which returns no prompt "
                               "log-probabilities: score multiple choice by the answer's letter with mc=letters "
                               f"(--lm-model '{self.spec}&mc=letters'), or serve the model with a "
                               "completions API and drop chat=1")

    def loglikelihood(self, requests: Sequence[tuple[str, str]], *, progress: Any = None) -> list[float]:
        return list(self.model.loglikelihood(requests, **self._kw(progress)))

    def generate(self, prompts: Sequence[str], *, max_tokens: int, stop: Sequence[str] | None = None,
                 progress: Any = None, **sampling: Any) -> list[str]:
        return list(self.model.generate(prompts, max_tokens=max_tokens, stop=stop, **sampling,
                                        **self._kw(progress)))

    def __getattr__(self, name: str) -> Any:  # cache counters, identity, loaded, close of the model beneath
        if name == "model":
            raise AttributeError(name)
        return getattr(self.model, name)


class TemplateChat(FramedModel):
    """A text model behind its own chat template: ``chat`` and ``chat_loglikelihood`` render each conversation
    with the template (generation prompt added) and ask the text model, so the answer cache beneath keys on
    the exact text the model saw."""

    def __init__(self, model: Any, template: ChatTemplate, fmt: PromptFormat, *, name: str | None = None,
                 spec: str | None = None) -> None:
        super().__init__(model, fmt, name=name, spec=spec)
        self.template = template
        self._rendered: dict[str, str] = {}

    def render(self, messages: Conversation) -> str:
        key = repr([(m["role"], m["content"]) for m in messages])
        text = self._rendered.get(key)
        if text is None:
            try:
                text = self.template.render(messages)
            except Exception as exc:  # raise_exception() in the template, a Jinja error
                raise ConfigError(f"{self.name}: its chat template ({self.template.origin}) refused the "
                                  f"conversation: {exc}") from None
            if len(self._rendered) > 4096:
                self._rendered.clear()
            self._rendered[key] = text
        return text

    def chat(self, conversations: Sequence[Conversation], *, max_tokens: int, stop: Sequence[str] | None = None,
             progress: Any = None, **sampling: Any) -> list[str]:
        texts = [self.render(c) for c in conversations]
        return list(self.model.generate(texts, max_tokens=max_tokens, stop=stop, **sampling, **self._kw(progress)))

    def chat_loglikelihood(self, requests: Sequence[tuple[Conversation, str]], *,
                           progress: Any = None) -> list[float]:
        pairs = [(self.render(conv), continuation) for conv, continuation in requests]
        return list(self.model.loglikelihood(pairs, **self._kw(progress)))


# ----------------------------------------------------------------------------------------- conversations

def strip_output_prefix(text: str, output_prefix: str) -> str:
    """A BIG-bench prompt as a user turn's content: the trailing output prefix ("\\nA: ") removed (the
    assistant turn of the template stands for it), surrounding whitespace stripped."""
    if output_prefix and text.endswith(output_prefix):
        text = text[:-len(output_prefix)]
    return text.strip()


def conversation(fmt: PromptFormat, *, task_prefix: str, shots: Sequence[tuple[str, str]], query: str,
                 prompt: str, output_prefix: str) -> list[Message]:
    """The conversation a BIG-bench query becomes (module docstring). ``shots``: (formatted input, target) of
    each few-shot example in order; ``query``: the formatted input of the example asked; ``prompt``: BIG-bench's
    whole text prompt (task prefix, shots, query), whose part after the task prefix is the one user turn of
    ``fewshot=inline``."""
    messages: list[Message] = []
    system = join_system(fmt.system, task_prefix.strip())
    if system:
        messages.append({"role": "system", "content": system})
    if fmt.fewshot == "inline" or not shots:
        body = prompt[len(task_prefix):] if prompt.startswith(task_prefix) else prompt
        messages.append({"role": "user", "content": strip_output_prefix(body, output_prefix)})
        return messages
    for shot_input, target in shots:
        messages.append({"role": "user", "content": strip_output_prefix(shot_input, output_prefix)})
        messages.append({"role": "assistant", "content": target})
    messages.append({"role": "user", "content": strip_output_prefix(query, output_prefix)})
    return messages


def join_system(system: str | None, description: str) -> str:
    """The system turn: ``system=`` then the task's own preamble, joined by a blank line (lm-evaluation-harness
    joins its ``--system_instruction`` and a task's ``description`` the same way)."""
    if system and description:
        return system + ("" if system[-1].isspace() or description[0].isspace() else "\n\n") + description
    return system or description


def user_turn(fmt: PromptFormat, prompt: str) -> list[Message]:
    """A test function's prompt as a conversation: the system turn, if any, then the prompt as the user's."""
    head: list[Message] = [{"role": "system", "content": fmt.system}] if fmt.system else []
    return head + [{"role": "user", "content": prompt}]


def readable(messages: Conversation) -> str:
    """A conversation as text for reports, where no template renders it (a server's chat API)."""
    return "\n".join(f"[{m['role']}] {m['content']}" for m in messages)


# ----------------------------------------------------------------------------------------- lettered options

def lettered(options: Sequence[str]) -> str:
    """Options shown as "A. first\\nB. second" (at most 26)."""
    if len(options) > len(LETTERS):
        raise ValueError(f"mc=letters shows at most {len(LETTERS)} options, not {len(options)}")
    return "\n".join(f"{LETTERS[i]}. {o}" for i, o in enumerate(options))


_LETTER_PATTERNS = (
    r"^\s*\(?([A-Z])\)?\s*$",  # "B", "(B)"
    r"^\s*\(?([A-Z])[\).:]",  # "B.", "B) Paris", "(B)."
    r"(?i:answer|option|choice)\s*(?i:is|:)?\s*:?\s*\(?([A-Z])\b",  # "The answer is B", "Answer: (C)"
    r"^\s*([A-Z])\s",  # "B Paris"
)


def parse_letter(response: str, options: Sequence[str]) -> int | None:
    """The option a free-text answer picks: its letter ("B", "(B)", "B.", "The answer is B"), else the one
    option whose text it contains (an option inside another named option does not count); None when neither
    tells or it names several."""
    text = response.strip()
    for pattern in _LETTER_PATTERNS:
        m = re.search(pattern, text)
        if m and LETTERS.index(m.group(1)) < len(options):
            return LETTERS.index(m.group(1))
    folded = text.casefold()
    hits = [i for i, o in enumerate(options) if o.strip() and o.strip().casefold() in folded]
    if not hits:
        return None
    # "New York City" also contains "York": an option inside another named one is not named itself
    named = [i for i in hits if not any(j != i and options[i].strip().casefold() in options[j].strip().casefold()
                                        for j in hits)]
    return named[0] if len(named) == 1 else None


# ----------------------------------------------------------------------------------------- reasoning models

def after_thinking(text: str, think_end: str | None) -> tuple[str, bool]:
    """(the answer, whether it was found): what follows the last ``think_end`` marker; a response with no
    marker has no answer (it counts as wrong)."""
    if not think_end:
        return text, True
    head, sep, tail = text.rpartition(think_end)
    if not sep:
        return "", False
    return tail.lstrip(), True
