"""Model spec strings (``BACKEND:TARGET?key=value&...``) -> backend instances, one per process.

Built-in backends live here; third-party ones come from the ``pytest_lmbench.backends`` entry-point group
or from plugins implementing the ``pytest_lmbench_backends`` hook (see ``hookspecs``).
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any
from urllib.parse import parse_qsl

from pytest_lmbench.core.errors import BackendError, ConfigError
from pytest_lmbench.core.models.base import Model

#: Option names whose values are secrets: never shown in labels, reports or messages.
SECRET_OPTIONS = frozenset({"api_key", "key", "token", "password", "secret", "authorization"})

BackendFactory = Callable[["ModelSpec"], Model]


@dataclass(frozen=True)
class ModelSpec:
    """A parsed model spec. ``label`` is the short name used in node ids and reports."""

    raw: str
    backend: str
    target: str = ""
    options: Mapping[str, str] = field(default_factory=dict)

    @property
    def label(self) -> str:
        if "name" in self.options:
            return self.options["name"]
        if not self.target:
            return self.backend
        target = self.target.rstrip("/")
        if "/" in target or target.endswith((".gguf", ".py")):
            target = re.sub(r"\.(gguf|py|bin|safetensors)$", "", target.rsplit("/", 1)[-1])
        return f"{self.backend}:{target}"

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
    return re.sub(r"(?i)((?:%s)=)[^&]*" % "|".join(SECRET_OPTIONS), r"\1***", raw)


def unique_labels(specs: list[ModelSpec]) -> list[str]:
    """Labels for several specs, made distinct with their options when two would collide."""
    labels = [s.label for s in specs]
    for i, spec in enumerate(specs):
        if labels.count(spec.label) > 1:
            extra = "-".join(f"{k}{v}" for k, v in spec.options.items() if k.lower() not in SECRET_OPTIONS)
            labels[i] = f"{spec.label}-{re.sub(r'[^A-Za-z0-9_.]+', '', extra) or i}"
    return labels


def _dummy(spec: ModelSpec) -> Model:
    from pytest_lmbench.core.models.dummy import make_dummy

    return make_dummy(spec)


def _python(spec: ModelSpec) -> Model:
    from pytest_lmbench.core.models.python import load_python_model

    return load_python_model(spec)


def _llamacpp(spec: ModelSpec) -> Model:
    from pytest_lmbench.core.models.llamacpp import make_llamacpp

    return make_llamacpp(spec)


def _openai(spec: ModelSpec) -> Model:
    from pytest_lmbench.core.models.openai import make_openai

    return make_openai(spec)


def _hf(spec: ModelSpec) -> Model:
    from pytest_lmbench.core.models.hf import make_hf

    return make_hf(spec)


BUILTIN_BACKENDS: dict[str, BackendFactory] = {"dummy": _dummy, "py": _python, "llamacpp": _llamacpp,
                                               "smollm2": _llamacpp, "openai": _openai, "hf": _hf}


class Registry:
    """Backends by name, and the per-process cache of loaded models (a model is loaded once per process)."""

    def __init__(self, cache: Callable[[], Any] | None = None) -> None:
        """``cache``: opens the response cache (a ``models.cache.ResponseCache``) on first use; None: no cache."""
        self.backends: dict[str, BackendFactory] = dict(BUILTIN_BACKENDS)
        self._entry_points_loaded = False
        self._open_cache = cache
        self._cache: Any = None
        self._models: dict[str, Model] = {}
        self.load_seconds: dict[str, float] = {}
        self._lock = threading.Lock()

    def register(self, name: str, factory: BackendFactory) -> None:
        self.backends[name] = factory

    def _load_entry_points(self) -> None:
        if self._entry_points_loaded:
            return
        self._entry_points_loaded = True
        for ep in entry_points(group="pytest_lmbench.backends"):
            if ep.name not in self.backends:
                self.backends[ep.name] = ep.load()

    def is_builtin(self, backend: str) -> bool:
        """Whether ``backend`` is served by this package's own factory (not replaced by a plugin)."""
        return backend in BUILTIN_BACKENDS and self.backends.get(backend) is BUILTIN_BACKENDS[backend]

    def factory(self, spec: ModelSpec) -> BackendFactory:
        if spec.backend not in self.backends:
            self._load_entry_points()
        try:
            return self.backends[spec.backend]
        except KeyError:
            raise ConfigError(f"--lm-model {spec.public!r}: unknown backend {spec.backend!r}; "
                              f"known backends: {', '.join(sorted(self.backends))}") from None

    def get(self, spec: ModelSpec) -> Model:
        """The model for ``spec``: loaded on first use, or, for real backends with the response cache on, a
        ``CachedModel`` that loads it only when a request is not in the cache."""
        with self._lock:
            model = self._models.get(spec.raw)
            if model is not None:
                return model
            self.factory(spec)  # an unknown backend is an error now, not at the first miss
            from pytest_lmbench.core.models.cache import CACHED_BACKENDS, SAMPLING_BACKENDS, CachedModel

            if self._open_cache is not None and spec.backend in CACHED_BACKENDS and self.is_builtin(spec.backend):
                if self._cache is None:
                    self._cache = self._open_cache()
                model = CachedModel(model_identity(spec, self._cache), lambda: self._load(spec), self._cache,
                                    name=spec.label, supports_sampling=spec.backend in SAMPLING_BACKENDS)
            else:
                model = self._load(spec)
            self._models[spec.raw] = model
            return model

    @property
    def cache(self) -> Any:
        """The response cache, once a model has used it (None before, or when caching is off)."""
        return self._cache

    def _load(self, spec: ModelSpec) -> Model:
        factory = self.factory(spec)
        start = time.perf_counter()
        try:
            model = factory(spec)
        except (ConfigError, BackendError):
            raise
        except Exception as exc:
            raise BackendError(f"loading model {spec.public!r} failed: {type(exc).__name__}: {exc}") from exc
        if not (callable(getattr(model, "loglikelihood", None)) and callable(getattr(model, "generate", None))):
            raise ConfigError(f"--lm-model {spec.public!r}: the backend returned {type(model).__name__}, "
                              "which has no loglikelihood()/generate() methods")
        self.load_seconds[spec.raw] = time.perf_counter() - start
        return model

    def close(self) -> None:
        for model in self._models.values():
            close = getattr(model, "close", None)
            if callable(close):
                close()
        self._models.clear()
        if self._cache is not None:
            self._cache.close()


def model_identity(spec: ModelSpec, cache: Any) -> str:
    """What makes a model's answers what they are: backend, model (a fingerprint of its file when it is a
    file) and every option that changes outputs. Secrets and options like concurrency are left out."""
    from pytest_lmbench.core.models.cache import NEUTRAL_OPTIONS

    options = sorted((k, v) for k, v in spec.options.items()
                     if k not in NEUTRAL_OPTIONS and k.lower() not in SECRET_OPTIONS)
    backend, model = spec.backend, spec.target
    if backend in ("smollm2", "llamacpp"):
        from pytest_lmbench.core.models.llamacpp import smollm2_path

        path = smollm2_path() if backend == "smollm2" else os.path.expanduser(spec.target)
        backend, model = "llamacpp", f"sha256:{cache.file_digest(path)}" if os.path.isfile(path) else path
        if model_info(spec).get("repack") == "off":  # what was used, however it was asked for (see docs/models.md)
            options = sorted(options + [("repack", "off")])
    elif backend == "hf" and os.path.isdir(os.path.expanduser(spec.target)):
        root = os.path.expanduser(spec.target)
        listing = sorted((os.path.relpath(os.path.join(d, f), root), os.path.getsize(os.path.join(d, f)),
                          os.stat(os.path.join(d, f)).st_mtime_ns) for d, _dirs, files in os.walk(root) for f in files)
        model = "dir:" + hashlib.sha256(repr(listing).encode()).hexdigest()
    return repr((backend, model, options))


def model_info(spec: ModelSpec) -> dict[str, str]:
    """Facts about how a spec's model runs on this machine, known without loading it (llama.cpp: whether its
    weights are repacked, and why); shown in reports. Empty for backends that have none."""
    if spec.backend in ("smollm2", "llamacpp"):
        from pytest_lmbench.core.models.llamacpp import repack_info

        return repack_info(spec.options.get("repack", "auto"))
    return {}


def spec_options(spec: ModelSpec, *, ints: Sequence[str] = (), floats: Sequence[str] = (),
                 flags: Sequence[str] = (), strings: Sequence[str] = ()) -> dict[str, Any]:
    """A backend's keyword arguments from ``spec.options``: unknown names and bad numbers are ConfigErrors
    that name the spec; flags accept 1/true/yes; ``name`` (the label) is not passed on."""
    opts = {k: v for k, v in spec.options.items() if k != "name"}
    known = set(ints) | set(floats) | set(flags) | set(strings)
    unknown = set(opts) - known
    if unknown:
        raise ConfigError(f"--lm-model {spec.public!r}: unknown option(s) {sorted(unknown)}; known: {sorted(known)}")
    out: dict[str, Any] = {}
    for key, value in opts.items():
        if key in ints or key in floats:
            cast, kind = (int, "an integer") if key in ints else (float, "a number")
            try:
                out[key] = cast(value)
            except ValueError:
                raise ConfigError(f"--lm-model {spec.public!r}: {key} must be {kind}, not {value!r}") from None
        elif key in flags:
            out[key] = value.lower() in ("1", "true", "yes")
        else:
            out[key] = value
    return out
