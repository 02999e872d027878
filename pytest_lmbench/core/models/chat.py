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
from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

from pytest_lmbench.core.errors import BackendError, ConfigError
from pytest_lmbench.core.models.base import Answer, BaseModel, Progress, progress_kwargs
from pytest_lmbench.core.models.framing import (
    FEWSHOT_MODES,
    HARNESS_OPTIONS,
    LETTER_INSTRUCTION,
    LETTERS,
    MC_MODES,
    RAW,
    Conversation,
    Message,
    PromptFormat,
    prompt_format,
    readable,
)

__all__ = ["FEWSHOT_MODES", "HARNESS_OPTIONS", "LETTER_INSTRUCTION", "LETTERS", "MC_MODES", "RAW", "ChatTemplate",
           "Conversation", "FramedModel", "Message", "NoPromptLogprobs", "PromptFormat", "TemplateChat",
           "after_thinking", "conversation", "join_system", "lettered", "parse_letter", "prompt_format", "readable",
           "strip_output_prefix", "template_label", "template_sha", "user_turn"]


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


class FramedModel(BaseModel):
    """A model with a prompt format other than raw: what the harness talks to. ``chat`` goes to the model's own
    chat (a server's chat API through the answer cache); text methods pass through unchanged; its capabilities
    are the model's beneath (chat only with ``chat=1``); anything else (cache counters) is the model's."""

    reports_progress = True

    def __init__(self, model: BaseModel, fmt: PromptFormat, *, name: str | None = None,
                 spec: str | None = None) -> None:
        self.model, self.prompt_format = model, fmt
        self.name = name or model.name  # the label, in messages
        self.spec = spec or self.name  # the spec as given, for the fixes messages suggest
        self.meters_usage, self.supports_sampling = model.meters_usage, model.supports_sampling
        self.checks_greedy, self.scores_rolling = model.checks_greedy, model.scores_rolling
        self.sees_answers, self.batches = model.sees_answers, model.batches
        self.supports_chat = fmt.chat and model.supports_chat

    def _kw(self, progress: Progress | None) -> dict[str, Any]:
        return progress_kwargs(self.model, progress)

    def chat(self, conversations: Sequence[Conversation], *, max_tokens: int, stop: Sequence[str] | None = None,
             progress: Progress | None = None, **sampling: Any) -> list[str]:
        if not self.supports_chat:
            return super().chat(conversations, max_tokens=max_tokens, stop=stop)
        return list(self.model.chat(conversations, max_tokens=max_tokens, stop=stop, **sampling,
                                    **self._kw(progress)))

    def chat_loglikelihood(self, requests: Sequence[tuple[Conversation, str]], *,
                           progress: Progress | None = None) -> list[float]:
        raise NoPromptLogprobs(f"{self.name} runs chat=1 through a server's chat API, which returns no prompt "
                               "log-probabilities: score multiple choice by the answer's letter with mc=letters "
                               f"(--lm-model '{self.spec}&mc=letters'), or serve the model with a "
                               "completions API and drop chat=1")

    def loglikelihood(self, requests: Sequence[tuple[str, str]], *, progress: Progress | None = None) -> list[float]:
        return list(self.model.loglikelihood(requests, **self._kw(progress)))

    def generate(self, prompts: Sequence[str], *, max_tokens: int, stop: Sequence[str] | None = None,
                 progress: Progress | None = None, **sampling: Any) -> list[str]:
        return list(self.model.generate(prompts, max_tokens=max_tokens, stop=stop, **sampling,
                                        **self._kw(progress)))

    def loglikelihood_greedy(self, requests: Sequence[tuple[str, str]]) -> list[tuple[float, bool]]:
        return self.model.loglikelihood_greedy(requests)

    def loglikelihood_rolling(self, texts: Sequence[str]) -> list[float]:
        return self.model.loglikelihood_rolling(texts)

    def set_answer_key(self, answers: Sequence[Answer]) -> None:
        self.model.set_answer_key(answers)

    def close(self) -> None:
        self.model.close()

    def __getattr__(self, name: str) -> Any:  # cache counters, identity, loaded of the model beneath
        if name == "model":
            raise AttributeError(name)
        return getattr(self.model, name)


class TemplateChat(FramedModel):
    """A text model behind its own chat template: ``chat`` and ``chat_loglikelihood`` render each conversation
    with the template (generation prompt added) and ask the text model, so the answer cache beneath keys on
    the exact text the model saw."""

    def __init__(self, model: BaseModel, template: ChatTemplate, fmt: PromptFormat, *, name: str | None = None,
                 spec: str | None = None) -> None:
        super().__init__(model, fmt, name=name, spec=spec)
        self.template = template
        self.supports_chat = True
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
