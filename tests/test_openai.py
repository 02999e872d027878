"""The OpenAI-compatible backend against a local misbehaving HTTP server (no network, no model)."""

from __future__ import annotations

import json
import random
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from pytest_lmbench.core.errors import BackendError, ConfigError
from pytest_lmbench.core.models.openai import OpenAIModel, backoff_delay, make_openai, parse_retry_after
from pytest_lmbench.core.models.registry import parse_spec

KEY = "sk-test-PLANTED-0123456789abcdef"

# A handler step answers one request: (status, headers, body bytes, delay seconds) or "drop" (close the socket).
Step = tuple[int, dict[str, str], bytes, float] | str


def ok_completion(text: str = "Paris") -> bytes:
    return json.dumps({"choices": [{"text": text, "index": 0}]}).encode()


def echo_completion(prompt: str, per_token: float = -1.0) -> bytes:
    """Whitespace 'tokens' of ``prompt`` with a fixed log-prob each (None for the first), plus one generated."""
    tokens, offsets, pos = [], [], 0
    for piece in prompt.split(" "):
        tok = piece if pos == 0 else " " + piece
        tokens.append(tok)
        offsets.append(pos)
        pos += len(tok)
    values = [None] + [per_token] * (len(tokens) - 1)
    tokens.append(" x")
    offsets.append(pos)
    values.append(-0.5)
    return json.dumps({"choices": [{"text": prompt + " x", "logprobs": {
        "tokens": tokens, "token_logprobs": values, "text_offset": offsets}}]}).encode()


class FakeServer:
    """Plays scripted steps in order, then ``default`` for every further request; records what it saw."""

    def __init__(self, steps: list[Step], default: Callable[[dict], Step]) -> None:
        self.steps = list(steps)
        self.default = default
        self.requests: list[dict] = []
        self.headers: list[dict] = []
        self.times: list[float] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.lock = threading.Lock()

    def handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # quiet
                pass

            def setup(self) -> None:  # no Nagle delay between our header and body writes (40 ms each)
                super().setup()
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with server.lock:
                    server.requests.append(body)
                    server.headers.append(dict(self.headers))
                    server.times.append(time.monotonic())
                    step = server.steps.pop(0) if server.steps else server.default(body)
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                try:
                    if step == "drop":
                        self.close_connection = True
                        self.connection.close()
                        return
                    status, headers, payload, delay = step
                    time.sleep(delay)
                    if headers.pop("X-Close-After", None):
                        self.close_connection = True  # like an idle keep-alive timeout
                    self.send_response(status)
                    for k, v in headers.items():
                        self.send_header(k, v)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except OSError:
                    pass
                finally:
                    with server.lock:
                        server.in_flight -= 1

        return Handler


@contextmanager
def fake_server(steps: list[Step], default: Callable[[dict], Step] | None = None) -> Iterator[tuple[str, FakeServer]]:
    fake = FakeServer(steps, default or (lambda body: (200, {}, ok_completion(), 0.0)))
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), fake.handler())
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/v1", fake
    finally:
        httpd.shutdown()
        httpd.server_close()


def model(base: str, **kw) -> OpenAIModel:
    kw.setdefault("backoff", 0.01)
    kw.setdefault("check_echo", False)
    return OpenAIModel("m", base_url=base, api_key=KEY, **kw)


def test_429_with_retry_after_is_honoured() -> None:
    with fake_server([(429, {"Retry-After": "0.4"}, b'{"error": {"message": "slow down"}}', 0.0)]) as (base, fake):
        m = model(base)
        assert m.generate(["Capital of France?"], max_tokens=5) == ["Paris"]
    assert len(fake.requests) == 2 and m.retries == 1
    assert fake.times[1] - fake.times[0] >= 0.39  # waited as the server asked, not the 0.01 s backoff


def test_5xx_is_retried_a_bounded_number_of_times_then_errors_with_redacted_message() -> None:
    body = json.dumps({"error": {"message": f"internal error for key {KEY}"}}).encode()
    with fake_server([], default=lambda b: (500, {}, body, 0.0)) as (base, fake):
        m = model(base, max_retries=3)
        with pytest.raises(BackendError) as info:
            m.generate(["x"], max_tokens=1)
    assert len(fake.requests) == 4  # first try + 3 retries, no more
    message = str(info.value)
    assert "failed 4 times" in message and "HTTP 500" in message and "internal error" in message
    assert KEY not in message and "***" in message


def test_slow_response_times_out_and_is_retried() -> None:
    with fake_server([(200, {}, ok_completion("late"), 1.5)]) as (base, fake):
        m = model(base, timeout=0.3)
        assert m.generate(["x"], max_tokens=1) == ["Paris"]
    assert len(fake.requests) == 2 and m.retries == 1


def test_dropped_connection_and_invalid_json_are_transient() -> None:
    with fake_server(["drop", (200, {}, b"{not json", 0.0), (502, {}, b"<html>bad gateway</html>", 0.0)]) \
            as (base, fake):
        m = model(base)
        assert m.generate(["x"], max_tokens=1) == ["Paris"]
    assert len(fake.requests) == 4 and m.retries == 3


def test_closed_keep_alive_connection_is_reopened_without_a_retry() -> None:
    with fake_server([(200, {"X-Close-After": "1"}, ok_completion("one"), 0.0)]) as (base, fake):
        m = model(base, concurrency=1)
        assert m.generate(["a"], max_tokens=1) == ["one"]
        time.sleep(0.1)
        assert m.generate(["b"], max_tokens=1) == ["Paris"]
    assert len(fake.requests) == 2 and m.retries == 0


def test_client_error_fails_fast_with_the_server_message() -> None:
    body = json.dumps({"error": {"message": f"model 'm' does not exist (key {KEY})"}}).encode()
    with fake_server([], default=lambda b: (404, {}, body, 0.0)) as (base, fake):
        m = model(base, max_retries=5)
        with pytest.raises(BackendError) as info:
            m.generate(["x"], max_tokens=1)
    assert len(fake.requests) == 1
    assert "HTTP 404" in str(info.value) and "does not exist" in str(info.value) and KEY not in str(info.value)


def test_key_goes_only_in_the_authorization_header() -> None:
    with fake_server([]) as (base, fake):
        model(base).generate(["x"], max_tokens=3, stop=["\n"])
    assert fake.headers[0]["Authorization"] == f"Bearer {KEY}"
    assert KEY not in json.dumps(fake.requests)
    assert fake.requests[0] == {"model": "m", "prompt": "x", "max_tokens": 3, "temperature": 0, "stop": ["\n"]}


def test_requests_run_concurrently() -> None:
    with fake_server([], default=lambda b: (200, {}, ok_completion(b["prompt"]), 0.2)) as (base, fake):
        m = model(base, concurrency=8)
        prompts = [f"p{i}" for i in range(16)]
        assert m.generate(prompts, max_tokens=1) == prompts  # answers stay in request order
    assert fake.max_in_flight >= 4


def test_chat_mode_uses_chat_completions() -> None:
    answer = json.dumps({"choices": [{"message": {"role": "assistant", "content": "Paris. Done"}}]}).encode()
    with fake_server([], default=lambda b: (200, {}, answer, 0.0)) as (base, fake):
        assert model(base, chat=True).generate(["Capital?"], max_tokens=4, stop=["."]) == ["Paris"]
    assert fake.requests[0]["messages"] == [{"role": "user", "content": "Capital?"}]


def test_loglikelihood_sums_the_continuation_tokens_of_the_echo() -> None:
    with fake_server([], default=lambda b: (200, {}, echo_completion(b["prompt"], -1.25), 0.0)) as (base, fake):
        got = model(base).loglikelihood([("The capital is", " Paris of France"), ("A", " b")])
    assert got == [pytest.approx(-3.75), pytest.approx(-1.25)]
    assert fake.requests[0]["echo"] is True and fake.requests[0]["max_tokens"] == 1


def test_empty_context_is_a_clear_error() -> None:
    with fake_server([], default=lambda b: (200, {}, echo_completion(b["prompt"]), 0.0)) as (base, fake):
        with pytest.raises(BackendError, match="empty context cannot be scored"):
            model(base).loglikelihood([("", "Paris")])


def test_server_without_prompt_logprobs_is_a_clear_error() -> None:
    with fake_server([]) as (base, fake):
        with pytest.raises(BackendError, match="did not return prompt log-probabilities"):
            model(base).loglikelihood([("a", " b")])


def test_misaligned_echo_logprobs_are_detected() -> None:
    """A server whose echoed log-prob for a token differs from the log-prob it reports when generating it."""
    def answer(body: dict) -> Step:
        if body.get("echo"):
            return 200, {}, echo_completion(body["prompt"], -7.0), 0.0
        return 200, {}, json.dumps({"choices": [{"text": " Paris", "logprobs": {
            "tokens": [" Paris"], "token_logprobs": [-0.3], "text_offset": [0]}}]}).encode(), 0.0

    with fake_server([], default=answer) as (base, fake):
        with pytest.raises(BackendError, match="issue #1983"):
            model(base, check_echo=True).loglikelihood([("a", " b")])


def test_retry_after_and_backoff() -> None:
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(None) is None and parse_retry_after("soon") is None
    assert 8 <= parse_retry_after(formatdate(time.time() + 10, usegmt=True)) <= 10
    rng = random.Random(0)
    delays = [backoff_delay(a, 0.5, None, rng) for a in range(12)]
    assert all(0 <= d <= 30 for d in delays)
    assert backoff_delay(0, 0.5, 7.0, rng) == 7.0  # the server's wish wins when longer
    assert backoff_delay(0, 0.5, 1e6, rng) == 120.0  # but is bounded


def test_spec_options_and_redaction() -> None:
    spec = parse_spec(f"openai:gpt-x?base_url=http://127.0.0.1:9/v1&api_key={KEY}&concurrency=3&chat=1")
    assert KEY not in spec.public and KEY not in spec.label
    m = make_openai(spec)
    assert (m.concurrency, m.use_chat, m.model) == (3, True, "gpt-x")
    with pytest.raises(ConfigError, match="unknown option"):
        make_openai(parse_spec("openai:gpt-x?temprature=1"))
    with pytest.raises(ConfigError, match="not an http"):
        make_openai(parse_spec("openai:gpt-x?base_url=ftp://host"))
    with pytest.raises(ConfigError, match="needs the served model"):
        make_openai(parse_spec("openai:"))
