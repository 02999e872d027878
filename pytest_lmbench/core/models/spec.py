"""Model spec strings (``BACKEND:TARGET?key=value&...``) and backend descriptions: a leaf that every backend
imports and that imports no backend.

A ``Backend`` says in one place everything the harness needs to know about a backend without loading a model:
its factory, its options (typed), which options do not change answers (left out of the answer cache's
identity of a model), whether its answers are cached, whether it can sample, and how its model is
fingerprinted for the cache. Built-in backends define theirs next to their code (``LLAMACPP`` in
``llamacpp.py``, ...); ``registry`` is the table of them; plugins give theirs through the
``pytest_lmbench_backends`` hook.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from pytest_lmbench.core.errors import ConfigError
from pytest_lmbench.core.models.framing import truthy

if TYPE_CHECKING:  # for the factory type only
    from pytest_lmbench.core.models.base import Model

#: Option names whose values are secrets: never shown in labels, reports or messages.
SECRET_OPTIONS = frozenset({"api_key", "key", "token", "password", "secret", "authorization"})

BackendFactory = Callable[["ModelSpec"], "Model"]
#: SHA-256 of a file, remembered by the answer cache (``ResponseCache.file_digest``)
FileDigest = Callable[[str], str]


@dataclass(frozen=True)
class ModelSpec:
    """A parsed model spec. ``label`` is the short name used in node ids and reports."""

    raw: str
    backend: str
    target: str = ""
    options: Mapping[str, str] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """``name=`` if given; else the backend and target, with ``+chat`` for ``chat=1`` (so the raw and
        chat variants of one model can run side by side)."""
        if "name" in self.options:
            return self.options["name"]
        chat = "+chat" if truthy(self.options.get("chat", "")) else ""
        if not self.target:
            return self.backend + chat
        target = self.target.rstrip("/")
        if "/" in target or target.endswith((".gguf", ".py")):
            target = re.sub(r"\.(gguf|py|bin|safetensors)$", "", target.rsplit("/", 1)[-1])
        return f"{self.backend}:{target}{chat}"

    def without(self, keys: frozenset[str] | set[str]) -> ModelSpec:
        """The spec minus some options (the harness's own, before the backend's factory sees them)."""
        return ModelSpec(raw=self.raw, backend=self.backend, target=self.target,
                         options={k: v for k, v in self.options.items() if k not in keys})

    @property
    def public(self) -> str:
        """The spec with secret option values replaced by ``***``."""
        head = self.backend + (f":{self.target}" if self.target else "")
        if not self.options:
            return head
        opts = "&".join(f"{k}={'***' if k.lower() in SECRET_OPTIONS else v}" for k, v in self.options.items())
        return f"{head}?{opts}"


def parse_spec(raw: str) -> ModelSpec:
    """Parse ``BACKEND[:TARGET][?k=v&...]``; a bad spec is a ConfigError naming the problem."""
    text = raw.strip()
    if not text:
        raise ConfigError("--lm-model: empty model spec; use e.g. --lm-model=smollm2 or --lm-model=dummy:oracle")
    head, _, query = text.partition("?")
    backend, _, target = head.partition(":")
    if not re.fullmatch(r"[A-Za-z_][\w.-]*", backend):
        raise ConfigError(f"--lm-model {_redact(raw)!r}: backend name {backend!r} is not valid; "
                          "the form is BACKEND:TARGET?key=value")
    try:
        options = dict(parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query)))
    except ValueError:
        raise ConfigError(f"--lm-model {_redact(raw)!r}: options after '?' must be key=value pairs joined by '&'") \
            from None
    return ModelSpec(raw=text, backend=backend, target=target, options=options)


def _redact(raw: str) -> str:
    return re.sub(rf"(?i)((?:{'|'.join(SECRET_OPTIONS)})=)[^&]*", r"\1***", raw)


#: An option value longer than this, or with characters a node id should not hold, is shown in labels as a hash
LABEL_VALUE_MAX = 12


def unique_labels(specs: list[ModelSpec]) -> list[str]:
    """Labels for several specs, made distinct when two would collide by the options that tell them apart
    (``smollm2+chat-mcletters``). A long or spaced value becomes ``KEY~HASH`` (``smollm2+chat-system~033ad3`` for
    ``system=Answer with one word.``), so a label stays short; the report and the summary keep the whole spec."""
    base = [s.label for s in specs]
    labels = list(base)
    for i, spec in enumerate(specs):
        group = [s for s in specs if s.label == spec.label]
        if len(group) < 2:
            continue
        shown = [(k, v) for k, v in spec.options.items()
                 if k not in ("chat", "name") and k.lower() not in SECRET_OPTIONS  # chat=1 is already "+chat"
                 and any(other.options.get(k) != v for other in group)]
        if shown:
            labels[i] = spec.label + "-" + "-".join(_label_part(k, v) for k, v in shown)
    return [f"{label}-{i}" if labels.count(label) > 1 else label  # the same spec twice
            for i, label in enumerate(labels)]


def _label_part(key: str, value: str) -> str:
    if len(value) <= LABEL_VALUE_MAX and re.fullmatch(r"[A-Za-z0-9_.]*", value):
        return key + value
    return f"{key}~{hashlib.sha256(value.encode('utf-8')).hexdigest()[:6]}"


def shortened(label: str) -> bool:
    """Whether a label shows an option value as a hash (``unique_labels``): then the spec says what it is."""
    return re.search(r"-[A-Za-z_][\w.]*~[0-9a-f]{6}(?:-|$)", label) is not None


@dataclass(frozen=True)
class Backend:
    """A backend, described in one place (see the module docstring)."""

    name: str
    factory: BackendFactory
    #: option -> its type (int, float, bool or str); None: any options, passed through as strings
    options: Mapping[str, type] | None = None
    #: options that do not change answers (concurrency, threads, timeouts): left out of the cache identity
    neutral: frozenset[str] = frozenset()
    #: answers are cached (real models); not for cheap or possibly impure ones (dummy, py:)
    cached: bool = False
    #: can sample (temperature > 0), known without loading the model
    sampling: bool = False
    #: (family, model fingerprint) for the cache identity, given a file digest; default (name, target)
    fingerprint: Callable[[ModelSpec, FileDigest], tuple[str, str]] | None = None
    #: how the model runs on this machine, known without loading it (shown in reports; may add to identity)
    info: Callable[[ModelSpec], dict[str, str]] | None = None
    #: identity options decided on this machine rather than spelled in the spec (llama.cpp: repack=off)
    resolved: Callable[[ModelSpec], list[tuple[str, str]]] | None = None
    #: chat=1 with the model's own template, read without loading weights (``core.models.chat.ChatTemplate``)
    chat_template: Callable[[ModelSpec], Any] | None = None
    #: "server": chat=1 through the server's own template (the model has ``chat(conversations, ...)``)
    chat: str | None = None
    #: capability flags of its models beyond sampling and chat (``models.base.CAPABILITIES``: checks_greedy,
    #: scores_rolling, batches), known without loading one: the answer cache in front of them offers them too
    capabilities: frozenset[str] = frozenset()

    def declared(self) -> dict[str, bool]:
        """Every capability its models declare, known without loading one (what ``CachedModel`` offers)."""
        return {**{flag: True for flag in self.capabilities}, "supports_sampling": self.sampling,
                "supports_chat": self.chat == "server"}

    @property
    def chats(self) -> bool:
        """Whether ``chat=1`` works with this backend (a template of its own, or a server's)."""
        return self.chat_template is not None or self.chat == "server"

    def kwargs(self, spec: ModelSpec) -> dict[str, Any]:
        """The factory's keyword arguments from ``spec.options``, typed (``spec_options``)."""
        if self.options is None:
            return {k: v for k, v in spec.options.items() if k != "name"}
        return spec_options(spec, self.options)

    def identity(self, spec: ModelSpec, digest: FileDigest, extra: list[tuple[str, str]] | None = None) -> str:
        """What makes this model's answers what they are: family, model (a fingerprint of its file when it is
        one) and every option that changes outputs (``extra``: ones decided elsewhere, such as the chat
        template's hash). Secrets and neutral options are left out."""
        options = sorted([(k, v) for k, v in spec.options.items()
                          if k != "name" and k not in self.neutral and k.lower() not in SECRET_OPTIONS]
                         + list(extra or []))
        if self.resolved is not None:
            options = sorted(options + self.resolved(spec))
        family, model = self.fingerprint(spec, digest) if self.fingerprint else (spec.backend, spec.target)
        return repr((family, model, options))


def spec_options(spec: ModelSpec, options: Mapping[str, type]) -> dict[str, Any]:
    """A backend's keyword arguments from ``spec.options`` by ``options`` (name -> int, float, bool or str):
    unknown names and bad numbers are ConfigErrors that name the spec; bools accept 1/true/yes; ``name`` (the
    label) is not passed on."""
    opts = {k: v for k, v in spec.options.items() if k != "name"}
    unknown = set(opts) - set(options)
    if unknown:
        raise ConfigError(f"--lm-model {spec.public!r}: unknown option(s) {sorted(unknown)}; known: "
                          f"{sorted(options)}")
    out: dict[str, Any] = {}
    for key, value in opts.items():
        kind = options[key]
        if kind in (int, float):
            try:
                out[key] = kind(value)
            except ValueError:
                what = "an integer" if kind is int else "a number"
                raise ConfigError(f"--lm-model {spec.public!r}: {key} must be {what}, not {value!r}") from None
        elif kind is bool:
            out[key] = truthy(value)
        else:
            out[key] = value
    return out
