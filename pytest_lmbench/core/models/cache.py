"""The response cache: every model answer stored on disk, so a rerun calls no model and an interrupted run
resumes where it stopped.

One SQLite database in WAL mode, shared by every pytest-xdist worker (readers never block the writer; writes
are short transactions with a busy timeout). A row per request: the key is a SHA-256 of the backend's
identity (backend, model name or a fingerprint of the model file, every option that changes outputs, never
a secret) and the exact request (context and continuation, or prompt, token budget, stop strings,
temperature and seed: a sample at temperature > 0 is cached per sample index, as ``LM.generate`` gives
sample i the seed ``seed + i``). Values are JSON.

``CachedModel`` loads the real model only on the first miss, so a warm rerun does not even load it. Misses
are sent to the model in chunks (sorted by context, so prompt-prefix reuse in the backends still works) and
each chunk is committed as soon as it returns: an interrupted run loses at most the chunk in flight.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from pytest_lmbench.core import usage
from pytest_lmbench.core.models.base import BaseModel, Progress, declared, metered, progress_kwargs
from pytest_lmbench.core.models.framing import Conversation, Message

CACHE_VERSION = 1
CHUNK = 16  # requests per model call on misses: what an interrupted run can lose

class ResponseCache:
    """The SQLite store. Safe to use from several processes and threads at once."""

    def __init__(self, path: str) -> None:
        self.path = path
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        self._local = threading.local()
        with self._connect() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("CREATE TABLE IF NOT EXISTS responses (key TEXT PRIMARY KEY, value TEXT NOT NULL, "
                       "created REAL NOT NULL)")
            db.execute("CREATE TABLE IF NOT EXISTS fingerprints (path TEXT PRIMARY KEY, size INTEGER NOT NULL, "
                       "mtime_ns INTEGER NOT NULL, digest TEXT NOT NULL)")
        self.hits = self.misses = 0

    def _connect(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, timeout=60.0, isolation_level=None, check_same_thread=False)
            db.execute("PRAGMA busy_timeout=60000")
            db.execute("PRAGMA synchronous=NORMAL")
            self._local.db = db
        return db

    def get_many(self, keys: Sequence[str]) -> dict[str, Any]:
        db = self._connect()
        found: dict[str, Any] = {}
        unique = list(dict.fromkeys(keys))
        for start in range(0, len(unique), 500):  # SQLite's limit on parameters
            part = unique[start:start + 500]
            rows = db.execute(f"SELECT key, value FROM responses WHERE key IN ({','.join('?' * len(part))})", part)
            found.update((k, json.loads(v)) for k, v in rows)
        return found

    def put_many(self, items: Sequence[tuple[str, Any]]) -> None:
        if not items:
            return
        db = self._connect()
        now = time.time()
        with db:  # one transaction: a chunk is stored whole or not at all
            db.execute("BEGIN IMMEDIATE")
            db.executemany("INSERT OR REPLACE INTO responses (key, value, created) VALUES (?, ?, ?)",
                           [(k, json.dumps(v), now) for k, v in items])

    def count(self) -> int:
        return int(self._connect().execute("SELECT COUNT(*) FROM responses").fetchone()[0])

    def clear(self) -> None:
        with self._connect() as db:
            db.execute("DELETE FROM responses")
            db.execute("DELETE FROM fingerprints")

    def file_digest(self, path: str) -> str:
        """SHA-256 of a model file, remembered by (size, mtime) so it is read once, not on every run."""
        st = os.stat(path)
        db = self._connect()
        row = db.execute("SELECT size, mtime_ns, digest FROM fingerprints WHERE path = ?", (path,)).fetchone()
        if row and row[0] == st.st_size and row[1] == st.st_mtime_ns:
            return str(row[2])
        digest = hashlib.sha256()
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
        with db:
            db.execute("INSERT OR REPLACE INTO fingerprints VALUES (?, ?, ?, ?)",
                       (path, st.st_size, st.st_mtime_ns, digest.hexdigest()))
        return digest.hexdigest()

    def close(self) -> None:
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None


class CacheCounter:
    """Answers from the cache and from the model between ``start`` and ``counts`` (one item's share)."""

    def __init__(self, model: BaseModel) -> None:
        self.cache = model.cache if isinstance(model, CachedModel) else None
        self.start = (self.cache.hits, self.cache.misses) if self.cache is not None else (0, 0)

    def counts(self) -> dict[str, int] | None:
        if self.cache is None:
            return None
        return {"hits": self.cache.hits - self.start[0], "misses": self.cache.misses - self.start[1]}


def _key(identity: str, *parts: Any) -> str:
    payload = json.dumps([CACHE_VERSION, identity, *parts], ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


class CachedModel(BaseModel):
    """A model behind the cache; the model itself is loaded by ``load`` on the first miss only."""

    reports_progress = True  # hits at once; misses as the model reports them, or a chunk at a time
    meters_usage = True  # hits here; misses by the model, or timed here when it does not meter itself

    def __init__(self, identity: str, load: Callable[[], BaseModel], cache: ResponseCache, *, name: str = "model",
                 supports_sampling: bool = False, capabilities: Mapping[str, bool] | None = None) -> None:
        """``capabilities``: what the backend's models can do beyond the two methods (``Backend.capabilities``),
        known without loading one; the cache answers those requests too."""
        self.identity, self._load, self.cache = identity, load, cache
        self.name = name
        given = dict(capabilities or {})
        self.supports_sampling = supports_sampling or given.get("supports_sampling", False)
        self.supports_chat = given.get("supports_chat", False)
        self.checks_greedy = given.get("checks_greedy", False)
        self.scores_rolling = given.get("scores_rolling", False)
        self.batches = given.get("batches", False)
        self._model: BaseModel | None = None
        self._lock = threading.Lock()

    @property
    def model(self) -> BaseModel:
        with self._lock:
            if self._model is None:
                self._model = declared(self._load())
            return self._model

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def _answer(self, keys: list[str], call: Callable[[list[int], dict[str, Any]], list[Any]], order: list[int],
                progress: Progress | None) -> list[Any]:
        """Values for ``keys``: cached ones, then the misses (in ``order``) from the model, chunk by chunk.
        ``progress`` hears of the hits at once, then of the misses from the model as they finish (a chunk at a
        time for models without the ``reports_progress`` capability)."""
        found = self.cache.get_many(keys)
        out: list[Any] = [found.get(k) for k in keys]
        missing = [i for i in order if keys[i] not in found]
        self.cache.hits += len(keys) - len(missing)
        self.cache.misses += len(missing)
        meter = usage.current()
        if meter is not None and len(keys) > len(missing):
            meter.add_hits(len(keys) - len(missing))
        if progress is not None and len(keys) > len(missing):
            progress(len(keys) - len(missing))
        if not missing:
            return out
        model = self.model
        reporting = progress_kwargs(model, progress)
        done: dict[str, Any] = {}
        for start in range(0, len(missing), CHUNK):
            chunk = [i for i in missing[start:start + CHUNK] if keys[i] not in done]
            if not chunk:
                continue
            with metered(model, len(chunk)):  # a third-party backend: timed here, its tokens unknown
                values = call(chunk, reporting)
            if len(values) != len(chunk):
                return values  # the caller's own check reports the count mismatch
            self.cache.put_many([(keys[i], v) for i, v in zip(chunk, values)])
            done.update((keys[i], v) for i, v in zip(chunk, values))
            if progress is not None and not reporting:
                progress(len(chunk))
        for i in missing:
            out[i] = done[keys[i]]
        return out

    def loglikelihood(self, requests: Sequence[tuple[str, str]], *,
                      progress: Progress | None = None) -> list[float]:
        reqs = [(str(c), str(t)) for c, t in requests]
        keys = [_key(self.identity, "loglikelihood", c, t) for c, t in reqs]
        order = sorted(range(len(reqs)), key=lambda i: reqs[i][0])  # shared prompts together
        values = self._answer(keys, lambda idx, kw: self.model.loglikelihood([reqs[i] for i in idx], **kw), order,
                              progress)
        return [float(v) for v in values]

    def generate(self, prompts: Sequence[str], *, max_tokens: int, stop: Sequence[str] | None = None,
                 progress: Progress | None = None, **sampling: Any) -> list[str]:
        prompts = [str(p) for p in prompts]
        stops = list(stop) if stop else None
        keys = [_key(self.identity, "generate", p, int(max_tokens), stops, sorted(sampling.items()))
                for p in prompts]

        def call(idx: list[int], kw: dict[str, Any]) -> list[str]:
            return self.model.generate([prompts[i] for i in idx], max_tokens=max_tokens, stop=stop, **sampling,
                                       **kw)

        order = sorted(range(len(prompts)), key=lambda i: prompts[i])
        return [str(v) for v in self._answer(keys, call, order, progress)]

    def loglikelihood_greedy(self, requests: Sequence[tuple[str, str]]) -> list[tuple[float, bool]]:
        """``loglikelihood`` with whether the continuation is greedy (backends that can say: llama.cpp)."""
        reqs = [(str(c), str(t)) for c, t in requests]
        keys = [_key(self.identity, "loglikelihood_greedy", c, t) for c, t in reqs]

        def call(idx: list[int], kw: dict[str, Any]) -> list[list[Any]]:
            values = self.model.loglikelihood_greedy([reqs[i] for i in idx])
            return [[float(v), bool(g)] for v, g in values]

        order = sorted(range(len(reqs)), key=lambda i: reqs[i][0])
        return [(float(v), bool(g)) for v, g in self._answer(keys, call, order, None)]

    def loglikelihood_rolling(self, texts: Sequence[str]) -> list[float]:
        """log P(text) over all its tokens (lm-evaluation-harness's ``loglikelihood_rolling``)."""
        items = [str(t) for t in texts]
        keys = [_key(self.identity, "loglikelihood_rolling", t) for t in items]

        def call(idx: list[int], kw: dict[str, Any]) -> list[float]:
            return [float(v) for v in self.model.loglikelihood_rolling([items[i] for i in idx])]

        return [float(v) for v in self._answer(keys, call, list(range(len(items))), None)]

    def chat(self, conversations: Sequence[Conversation], *, max_tokens: int,
             stop: Sequence[str] | None = None, progress: Progress | None = None, **sampling: Any) -> list[str]:
        """A server's chat (``chat=1`` on ``openai:``), keyed by the whole conversation."""
        convs: list[list[Message]] = [[{"role": str(m["role"]), "content": str(m["content"])} for m in c]
                                      for c in conversations]
        stops = list(stop) if stop else None
        keys = [_key(self.identity, "chat", c, int(max_tokens), stops, sorted(sampling.items())) for c in convs]

        def call(idx: list[int], kw: dict[str, Any]) -> list[str]:
            return self.model.chat([convs[i] for i in idx], max_tokens=max_tokens, stop=stop, **sampling, **kw)

        order = sorted(range(len(convs)), key=lambda i: repr(convs[i]))
        return [str(v) for v in self._answer(keys, call, order, progress)]

    def close(self) -> None:
        if self._model is not None:
            self._model.close()
