"""How a model's prompts are framed (``chat=1``, ``system=``, ``fewshot=``, ``mc=letters``, ``think_end=``): the
``PromptFormat`` read from a spec's options. A leaf of ``models/`` (the spec parser takes ``truthy`` from here): the
model base declares every model's format with it, and ``chat.py`` builds conversations by it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final, Literal, TypedDict

from pytest_lmbench.core.errors import ConfigError


def truthy(value: str) -> bool:
    """A boolean spec option's value: 1, true or yes (any case)."""
    return value.lower() in ("1", "true", "yes")


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


def readable(messages: Conversation) -> str:
    """A conversation as text for reports, where no template renders it (a server's chat API)."""
    return "\n".join(f"[{m['role']}] {m['content']}" for m in messages)
