"""Any OpenAI-compatible server: ``openai:MODEL?base_url=…&concurrency=8&chat=0``.

Generation goes through ``/completions`` (or ``/chat/completions`` with ``chat=1``); log-likelihoods through
``/completions`` with ``echo`` + ``logprobs`` + ``max_tokens=0``. Requests run concurrently and are retried with
exponential backoff and full jitter on 429, 5xx, timeouts and dropped connections, honouring ``Retry-After``,
a bounded number of times; other errors fail at once with the server's message. The API key (``api_key=`` or
``$OPENAI_API_KEY``) is sent only in the ``Authorization`` header and is masked in every message.

Standard library only (``http.client`` with one keep-alive connection per worker thread).
"""

from __future__ import annotations

import contextlib
import email.utils
import http.client
import json
import os
import random
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit

from pytest_lmbench.core import usage
from pytest_lmbench.core.errors import BackendError, ConfigError
from pytest_lmbench.core.models.base import BaseModel, Progress, cut_at_stop
from pytest_lmbench.core.models.framing import Conversation
from pytest_lmbench.core.models.spec import Backend, ModelSpec, spec_options

RETRY_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})
MAX_BACKOFF = 30.0
MAX_RETRY_AFTER = 120.0


class TransientError(Exception):
    """A failure worth retrying (rate limit, server error, timeout, dropped connection)."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def backoff_delay(attempt: int, base: float, retry_after: float | None, rng: random.Random) -> float:
    """Exponential backoff with full jitter; a server's Retry-After wins when it is longer."""
    delay = rng.uniform(0, min(MAX_BACKOFF, base * (2 ** attempt)))
    if retry_after is not None:
        delay = max(delay, min(retry_after, MAX_RETRY_AFTER))
    return delay


class OpenAIModel(BaseModel):
    """A model behind an OpenAI-compatible HTTP API."""

    meters_usage = True  # calls, seconds and tokens into core.usage.current()

    supports_sampling = True  # the server samples; ``seed`` is passed on (servers that honour it repeat)
    reports_progress = True
    batches = True  # the requests of one call are sent concurrently (concurrency=)

    def __init__(self, model: str, *, base_url: str = "https://api.openai.com/v1", api_key: str | None = None,
                 concurrency: int = 8, chat: bool = False, timeout: float = 120.0, max_retries: int = 5,
                 backoff: float = 0.5, echo_prefix: str = "", check_echo: bool = True, seed: int = 0,
                 extra_body: str = "", price_in: float | None = None, price_out: float | None = None) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"openai backend: base_url {base_url!r} is not an http(s) URL")
        self.model = model
        self.base_url = base_url.rstrip("/")
        self._scheme, self._host, self._port = parts.scheme, parts.hostname, parts.port
        self._path = parts.path.rstrip("/")
        self._api_key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY")
        self.concurrency = max(1, concurrency)
        try:
            extra = json.loads(extra_body) if extra_body else {}
        except ValueError:
            extra = None
        if not isinstance(extra, dict):
            raise ConfigError(f"openai backend: extra_body must be a JSON object, not {extra_body!r} (e.g. "
                              "extra_body={\"repeat_penalty\":1})")
        #: merged into every request: a server's own sampling parameters (llama_cpp.server's repeat_penalty)
        self.extra_body: dict[str, Any] = extra
        self.use_chat = chat  # generate() through /chat/completions, each prompt one user turn
        self.timeout = timeout
        self.max_retries = max(0, max_retries)
        self.backoff = backoff
        self.echo_prefix = echo_prefix
        self._checked = not check_echo
        for name, price in (("price_in", price_in), ("price_out", price_out)):
            if price is not None and not price >= 0:
                raise ConfigError(f"openai backend: {name}={price} must be a price of 0 or more per million tokens "
                                  "(e.g. price_in=0.15&price_out=0.6)")
        #: dollars (or any currency) per million prompt / completion tokens; with either, usage has a cost
        self.price_in, self.price_out = price_in, price_out
        self._local = threading.local()
        self._rng = random.Random(seed)
        self._rng_lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="lmbench-openai")
        self.retries = 0  # total retries made (for reports and tests)
        self.requests = 0

    # -- HTTP ------------------------------------------------------------------------------------
    def _connection(self) -> http.client.HTTPConnection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            cls = http.client.HTTPSConnection if self._scheme == "https" else http.client.HTTPConnection
            conn = cls(self._host, self._port, timeout=self.timeout)
            self._local.conn = conn
        return conn

    def _drop_connection(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def redact(self, text: str) -> str:
        if self._api_key:
            text = text.replace(self._api_key, "***")
        return text

    def _post_once(self, endpoint: str, payload: dict[str, Any]) -> dict[str, Any]:
        body = json.dumps(payload).encode()
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        try:
            reused = getattr(self._local, "conn", None) is not None
            conn = self._connection()
            try:
                conn.request("POST", self._path + endpoint, body=body, headers=headers)
                resp = conn.getresponse()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                if not reused:
                    raise
                # The server closed an idle keep-alive connection: reconnect at once, this is no failure.
                self._drop_connection()
                conn = self._connection()
                conn.request("POST", self._path + endpoint, body=body, headers=headers)
                resp = conn.getresponse()
            raw = resp.read()
        except TimeoutError as exc:
            self._drop_connection()
            raise TransientError(f"timed out after {self.timeout:g} s ({type(exc).__name__})") from None
        except (ConnectionError, http.client.HTTPException, OSError) as exc:
            self._drop_connection()
            raise TransientError(f"connection failed: {type(exc).__name__}: {exc}") from None
        if resp.status in RETRY_STATUS:
            self._drop_connection()
            raise TransientError(f"HTTP {resp.status}: {self._message(raw)}",
                                 parse_retry_after(resp.getheader("Retry-After")))
        if resp.status >= 400:
            raise BackendError(self.redact(f"{self.base_url}{endpoint} answered HTTP {resp.status}: "
                                           f"{self._message(raw)}"))
        try:
            data = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError):
            self._drop_connection()
            raise TransientError(f"invalid JSON in the response ({len(raw)} bytes)") from None
        if not isinstance(data, dict):
            raise TransientError("the response is not a JSON object")
        self._meter(data.get("usage"))
        return data

    def _meter(self, reported: Any) -> None:
        """The server's ``usage`` of one response (and its cost, with prices) into the evaluation's meter. A
        response without usage leaves the run's token counts marked incomplete."""
        meter = usage.current()
        if meter is None:
            return
        if not isinstance(reported, dict) or not isinstance(reported.get("prompt_tokens"), int):
            meter.tokens_counted = False
            return
        prompt = int(reported["prompt_tokens"])
        completion = int(reported.get("completion_tokens") or 0)
        meter.add_tokens(prompt=prompt, generated=completion)
        if self.price_in is not None or self.price_out is not None:
            meter.add_cost((prompt * (self.price_in or 0.0) + completion * (self.price_out or 0.0)) / 1e6)

    @staticmethod
    def _message(raw: bytes) -> str:
        try:
            data = json.loads(raw)
            error = data.get("error", data) if isinstance(data, dict) else data
            message = error.get("message", error) if isinstance(error, dict) else error
            return str(message)[:500]
        except (json.JSONDecodeError, UnicodeDecodeError, AttributeError):
            return raw[:500].decode("utf-8", "replace")

    def post(self, endpoint: str, payload: dict[str, Any]) -> dict[str, Any]:
        """POST with bounded retries on transient failures (``extra_body`` merged into ``payload``)."""
        payload = {**payload, **self.extra_body}
        attempt = 0
        while True:
            self.requests += 1
            try:
                return self._post_once(endpoint, payload)
            except TransientError as exc:
                if attempt >= self.max_retries:
                    raise BackendError(self.redact(
                        f"{self.base_url}{endpoint} failed {attempt + 1} times; last: {exc}")) from None
                with self._rng_lock:
                    delay = backoff_delay(attempt, self.backoff, exc.retry_after, self._rng)
                self.retries += 1
                attempt += 1
                time.sleep(delay)

    def _map(self, fn: Callable[[Any], Any], items: Sequence[Any], progress: Progress | None) -> list[Any]:
        meter = usage.current()  # the pool's threads meter into the caller's evaluation

        def one(x: Any) -> Any:
            with usage.metering(meter) if meter is not None else contextlib.nullcontext():
                result = fn(x)
            if progress is not None:
                progress(1)
            return result

        with usage.model_call(len(items)):
            if len(items) <= 1 or self.concurrency == 1:
                return [one(x) for x in items]
            return list(self._pool.map(one, items))

    # -- protocol --------------------------------------------------------------------------------
    def generate(self, prompts: Sequence[str], *, max_tokens: int, stop: Sequence[str] | None = None,
                 temperature: float = 0.0, seed: int | None = None, progress: Progress | None = None) -> list[str]:
        if self.use_chat:  # each prompt as one user turn of the server's own template
            return self.chat([[{"role": "user", "content": p}] for p in prompts], max_tokens=max_tokens,
                                         stop=stop, temperature=temperature, seed=seed, progress=progress)

        def one(prompt: str) -> str:
            payload = {"model": self.model, "prompt": prompt, "max_tokens": max_tokens, "temperature": temperature}
            if stop:
                payload["stop"] = list(stop)[:4]
            if temperature > 0 and seed is not None:
                payload["seed"] = seed
            data = self.post("/completions", payload)
            return cut_at_stop(_first_choice(data, self.base_url).get("text") or "", stop)

        return self._map(one, list(prompts), progress)

    def chat(self, conversations: Sequence[Conversation], *, max_tokens: int,
                         stop: Sequence[str] | None = None, temperature: float = 0.0, seed: int | None = None,
                         progress: Progress | None = None) -> list[str]:
        """The assistant's reply to each conversation through ``/chat/completions``: the server applies the
        model's chat template (``chat=1``). Servers take at most 4 stop strings; all are applied here."""
        def one(messages: Sequence[Mapping[str, str]]) -> str:
            payload: dict[str, Any] = {"model": self.model, "messages": [dict(m) for m in messages],
                                       "max_tokens": max_tokens, "temperature": temperature}
            if stop:
                payload["stop"] = list(stop)[:4]
            if temperature > 0 and seed is not None:
                payload["seed"] = seed
            data = self.post("/chat/completions", payload)
            return cut_at_stop(_first_choice(data, self.base_url).get("message", {}).get("content") or "", stop)

        return self._map(one, list(conversations), progress)

    def _echo(self, text: str) -> list[tuple[str, float | None, int]]:
        """(token, log-prob, character offset in ``text``) for the prompt tokens of ``text``, as the server
        scores them with echo. ``max_tokens=1`` (some servers read 0 as "no limit"); the generated token is
        dropped."""
        prompt = self.echo_prefix + text
        data = self.post("/completions", {"model": self.model, "prompt": prompt, "max_tokens": 1, "echo": True,
                                          "logprobs": 1, "temperature": 0})
        logprobs = _first_choice(data, self.base_url).get("logprobs") or {}
        tokens, values, offsets = logprobs.get("tokens"), logprobs.get("token_logprobs"), logprobs.get("text_offset")
        if not tokens or values is None or offsets is None or not (len(values) == len(tokens) == len(offsets)):
            raise BackendError(f"{self.base_url} did not return prompt log-probabilities (completions with echo "
                               "and logprobs); log-likelihood metrics need a server that does (vLLM, llama.cpp's "
                               "server, TGI's OpenAI API)")
        # Offsets count the prefix on most servers; llama-cpp-python's server leaves a BOS prefix out.
        base = len(self.echo_prefix) if self.echo_prefix and offsets[0] >= len(self.echo_prefix) else 0
        if self.echo_prefix and base == 0 and tokens[0] != self.echo_prefix:
            base = len(self.echo_prefix) if "".join(tokens).startswith(self.echo_prefix) else 0
        out = []
        for tok, value, offset in zip(tokens, values, offsets):
            pos = offset - base
            if pos < 0:
                continue  # the prefix itself
            if pos >= len(text):
                break  # the generated token
            out.append((tok, value, pos))
        return out

    def check_prompt_logprobs(self) -> None:
        """Make sure echo log-probs mean log P(token | tokens before it), by comparing with the log-prob of a
        generated token, which servers report correctly. llama-cpp-python's server (0.3.x, its issue #1983)
        scores each echoed token with the row that predicts the *next* token when the model adds no BOS."""
        probe = "The capital of France is"
        data = self.post("/completions", {"model": self.model, "prompt": self.echo_prefix + probe, "max_tokens": 1,
                                          "logprobs": 1, "temperature": 0})
        choice = _first_choice(data, self.base_url)
        lp = choice.get("logprobs") or {}
        gen_values, text = lp.get("token_logprobs") or [], choice.get("text") or ""
        if not gen_values or gen_values[0] is None or not text.strip():
            return  # nothing to compare with; trust the server
        echoed = self._echo(probe + text)
        last = [v for tok, v, pos in echoed if pos + len(tok) > len(probe)]
        if len(last) == 1 and last[0] is not None and abs(last[0] - gen_values[0]) > 0.05:
            raise BackendError(
                f"{self.base_url} returns prompt log-probabilities that disagree with its own generation "
                f"log-probabilities ({last[0]:.3f} vs {gen_values[0]:.3f} for the same token): a known bug of "
                "llama-cpp-python's server with models that add no BOS token (its issue #1983). Add the BOS "
                "token's text to the spec, e.g. openai:MODEL?echo_prefix=<|im_start|> for SmolLM2, or use "
                "another server.")

    def loglikelihood(self, requests: Sequence[tuple[str, str]], *,
                      progress: Progress | None = None) -> list[float]:
        if not self._checked:
            self.check_prompt_logprobs()
            self._checked = True

        def one(request: tuple[str, str]) -> float:
            context, continuation = request
            if not continuation:
                return 0.0
            total = 0.0
            for i, (tok, value, pos) in enumerate(self._echo(context + continuation)):
                if pos + len(tok) > len(context):  # the token reaches into the continuation
                    if value is None:
                        raise BackendError(
                            f"{self.base_url} returned no log-prob for prompt token {i} ({tok!r}); servers give "
                            "none for the first token of a prompt, so a continuation with an empty context "
                            "cannot be scored through this API" if i == 0 else
                            f"{self.base_url} returned no log-prob for prompt token {i} ({tok!r})")
                    total += float(value)
            return total

        return self._map(one, list(requests), progress)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def _first_choice(data: dict[str, Any], where: str) -> dict[str, Any]:
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise BackendError(f"{where}: the response has no choices")
    return choices[0]


OPTIONS: dict[str, type] = {"concurrency": int, "max_retries": int, "seed": int, "timeout": float, "backoff": float,
                            "chat": bool, "check_echo": bool, "base_url": str, "api_key": str, "echo_prefix": str,
                            "extra_body": str, "price_in": float, "price_out": float}


def make_openai(spec: ModelSpec) -> OpenAIModel:
    kwargs = spec_options(spec, OPTIONS)
    if not spec.target:
        raise ConfigError("--lm-model openai:MODEL needs the served model's name, e.g. openai:gpt-4o-mini")
    return OpenAIModel(spec.target, **kwargs)


#: The served model is known by its name and base_url (an option, so part of the identity); the key never is.
OPENAI = Backend(name="openai", factory=make_openai, options=OPTIONS,
                 neutral=frozenset({"concurrency", "timeout", "max_retries", "backoff", "check_echo", "price_in",
                                    "price_out"}), cached=True,
                 sampling=True, chat="server", capabilities=frozenset({"batches"}))
