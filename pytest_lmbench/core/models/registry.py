"""The table of backends (name -> its ``spec.Backend`` description) and the per-process cache of loaded models.

Built-in backends are named here as "module:ATTRIBUTE" strings, imported when a spec first names them (a run
that never loads a model imports none); third-party ones come from the ``pytest_lmbench.backends`` entry-point
group or from plugins implementing the ``pytest_lmbench_backends`` hook (see ``plugin/hookspecs.py``), as a
``Backend`` or a bare factory.
"""

from __future__ import annotations

import importlib
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from importlib.metadata import entry_points
from typing import Any

from pytest_lmbench.core.errors import BackendError, ConfigError
from pytest_lmbench.core.models.base import BaseModel, Model, declared
from pytest_lmbench.core.models.chat import (
    HARNESS_OPTIONS,
    ChatTemplate,
    FramedModel,
    PromptFormat,
    TemplateChat,
    prompt_format,
    template_label,
    template_sha,
)
from pytest_lmbench.core.models.spec import (
    SECRET_OPTIONS,
    Backend,
    BackendFactory,
    ModelSpec,
    parse_spec,
    spec_options,
    unique_labels,
)

__all__ = ["SECRET_OPTIONS", "BUILTIN_BACKENDS", "Backend", "ModelSpec", "Registry", "builtin", "model_identity",
           "parse_spec", "spec_options", "unique_labels"]

#: The built-in backends: name -> "module:ATTRIBUTE" of its description.
BUILTIN_BACKENDS: dict[str, Backend | str] = {
    "dummy": "pytest_lmbench.core.models.dummy:DUMMY",
    "py": "pytest_lmbench.core.models.python:PYTHON",
    "llamacpp": "pytest_lmbench.core.models.llamacpp:LLAMACPP",
    "smollm2": "pytest_lmbench.core.models.llamacpp:SMOLLM2",
    "openai": "pytest_lmbench.core.models.openai:OPENAI",
    "hf": "pytest_lmbench.core.models.hf:HF",
}


def _resolve(name: str, entry: Backend | BackendFactory | str) -> Backend:
    """A table entry as a ``Backend``: "module:ATTRIBUTE" imported, a bare factory described as uncached."""
    if isinstance(entry, str):
        module, _, attr = entry.partition(":")
        entry = getattr(importlib.import_module(module), attr)
    if isinstance(entry, Backend):
        return entry
    return Backend(name=name, factory=entry)  # type: ignore[arg-type]


def builtin(name: str) -> Backend | None:
    """The description of a built-in backend (None for other names)."""
    entry = BUILTIN_BACKENDS.get(name)
    return None if entry is None else _resolve(name, entry)


class Registry:
    """Backends by name, and the per-process cache of loaded models (a model is loaded once per process)."""

    def __init__(self, cache: Callable[[], Any] | None = None) -> None:
        """``cache``: opens the response cache (a ``models.cache.ResponseCache``) on first use; None: no cache."""
        self.backends: dict[str, Backend | BackendFactory | str] = dict(BUILTIN_BACKENDS)
        self._entry_points_loaded = False
        self._open_cache = cache
        self._cache: Any = None
        self._models: dict[str, BaseModel] = {}
        self.load_seconds: dict[str, float] = {}
        self._lock = threading.Lock()
        #: ``--lm-system-prompt``: the system turn of chat models whose spec gives none
        self.default_system: str | None = None

    def register(self, name: str, backend: Backend | BackendFactory) -> None:
        """A plugin's backend: its ``Backend`` description, or a bare factory (then uncached, options as given)."""
        self.backends[name] = backend

    def _load_entry_points(self) -> None:
        if self._entry_points_loaded:
            return
        self._entry_points_loaded = True
        for ep in entry_points(group="pytest_lmbench.backends"):
            if ep.name not in self.backends:
                self.backends[ep.name] = ep.load()

    def describe(self, spec: ModelSpec) -> Backend:
        """The description of ``spec``'s backend; an unknown backend is a ConfigError naming the known ones."""
        if spec.backend not in self.backends:
            self._load_entry_points()
        try:
            entry = self.backends[spec.backend]
        except KeyError:
            raise ConfigError(f"--lm-model {spec.public!r}: unknown backend {spec.backend!r}; "
                              f"known backends: {', '.join(sorted(self.backends))}") from None
        return _resolve(spec.backend, entry)

    def model_info(self, spec: ModelSpec) -> dict[str, str]:
        """How ``spec``'s model runs on this machine (its backend's ``info``), without loading it."""
        backend = self.describe(spec)
        return backend.info(spec) if backend.info is not None else {}

    def _framing(self, spec: ModelSpec) -> tuple[PromptFormat, ChatTemplate | None]:
        """How ``spec``'s prompts are framed (``chat=1``, ``system=``, ...), checked against its backend, and the
        backend's own chat template when it applies one: read once (an hf tokenizer is a load), without weights;
        its origin and hash go into the format."""
        fmt = prompt_format(spec.options, spec.public, default_system=self.default_system)
        if not fmt.chat:
            return fmt, None
        backend = self.describe(spec)
        if not backend.chats:
            raise ConfigError(f"--lm-model {spec.public!r}: backend {spec.backend!r} has no chat template to apply; "
                              "chat=1 works with smollm2, llamacpp:, hf: and openai: (a server's template)")
        if backend.chat_template is None:
            return fmt, None
        template = backend.chat_template(spec.without(HARNESS_OPTIONS))
        return replace(fmt, template=template_label(template)), template

    def get(self, spec: ModelSpec) -> BaseModel:
        """The model for ``spec``: loaded on first use, or, for real backends with the response cache on, a
        ``CachedModel`` that loads it only when a request is not in the cache; behind its chat template, or
        with its prompt format, when the spec asks for one (``core/models/chat.py``)."""
        with self._lock:
            model = self._models.get(spec.raw)
            if model is not None:
                return model
            backend = self.describe(spec)  # an unknown backend is an error now, not at the first miss
            fmt, template = self._framing(spec)
            # what changes answers beyond the spelled options: the template's text, a system prompt from the
            # command line; think_end only post-processes
            extra = [("chat_template", template_sha(template))] if template is not None else []
            if fmt.system and "system" not in spec.options:
                extra.append(("system", fmt.system))
            for_backend = spec.without(HARNESS_OPTIONS)
            if self._open_cache is not None and backend.cached:
                from pytest_lmbench.core.models.cache import CachedModel

                if self._cache is None:
                    self._cache = self._open_cache()
                identity = backend.identity(spec.without({"think_end"}), self._cache.file_digest, extra)
                model = CachedModel(identity, lambda: self._load(for_backend), self._cache, name=spec.label,
                                    capabilities=backend.declared())
            else:
                model = self._load(for_backend)
                model.name = spec.label  # the label, in messages (a cached model gets it from the cache)
            if template is not None:
                model = TemplateChat(model, template, fmt, name=spec.label, spec=spec.public)
            elif not fmt.raw:
                model = FramedModel(model, fmt, name=spec.label, spec=spec.public)
            self._models[spec.raw] = model
            return model

    def _load(self, spec: ModelSpec) -> BaseModel:
        backend = self.describe(spec)
        start = time.perf_counter()
        try:
            model = backend.factory(spec)
        except (ConfigError, BackendError):
            raise
        except Exception as exc:
            raise BackendError(f"loading model {spec.public!r} failed: {type(exc).__name__}: {exc}") from exc
        if not isinstance(model, Model):  # the two methods, by name (the Protocol's runtime check)
            raise ConfigError(f"--lm-model {spec.public!r}: the backend returned {type(model).__name__}, "
                              "which has no loglikelihood()/generate() methods")
        self.load_seconds[spec.raw] = time.perf_counter() - start
        return declared(model)

    def close(self) -> None:
        for model in self._models.values():
            model.close()
        self._models.clear()
        if self._cache is not None:
            self._cache.close()


def model_identity(spec: ModelSpec, cache: Any) -> str:
    """The answer-cache identity of a built-in backend's model (``Backend.identity``)."""
    backend = builtin(spec.backend)
    if backend is None:
        raise ConfigError(f"--lm-model {spec.public!r}: {spec.backend!r} is not a built-in backend")
    return backend.identity(spec, cache.file_digest)
