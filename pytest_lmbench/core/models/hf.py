"""Hugging Face causal LMs: ``hf:NAME_OR_PATH?device=…&dtype=…&batch_size=…``.

A local directory or a model already in the Hugging Face cache (nothing is downloaded unless ``download=1``).
Log-likelihoods run in batches of similar length (sorted longest first, right-padded), and log-softmax is taken
only over the rows that predict continuation tokens. Context and continuation are tokenized separately, as
BIG-bench does. Generation is batched decoding with left padding: the prompt prefix all prompts share is
computed once, and a row that has finished leaves the batch. It is greedy, or with ``temperature > 0`` sampled
as the llama.cpp backend samples (``core.models.sampling``: a generator per request seeded by (seed, prompt), a
float64 softmax of the row's logits), so a sample does not depend on the batch. A GGUF file
(``hf:DIR/MODEL.gguf``) is loaded and dequantized by transformers (needs the ``gguf`` package). CUDA when
available, CPU otherwise.
"""

from __future__ import annotations

import copy
import hashlib
import inspect
import os
import threading
from collections.abc import Mapping, Sequence
from typing import Any

from pytest_lmbench.core import usage
from pytest_lmbench.core.errors import BackendError, ConfigError
from pytest_lmbench.core.models.base import BaseModel, Progress, cut_at_stop, default_threads
from pytest_lmbench.core.models.sampling import next_token, sample_rng
from pytest_lmbench.core.models.spec import Backend, FileDigest, ModelSpec, spec_options

HF_INSTALL = "pip install 'pytest-lmbench[hf]'"
DTYPES = ("auto", "float32", "float16", "bfloat16")
#: Prompt tokens all prompts of a generate call must share for them to be computed once (fewer: not worth a pass)
SHARED_PREFIX_MIN = 8


class HFModel(BaseModel):
    """A ``transformers`` causal language model."""

    meters_usage = True  # calls, seconds and tokens into core.usage.current()

    reports_progress = True

    supports_sampling = True
    batches = True  # requests in one call are padded into batches of batch_size

    def __init__(self, name_or_path: str, *, device: str = "auto", dtype: str = "auto", batch_size: int = 8,
                 max_length: int | None = None, download: bool = False, trust_remote_code: bool = False,
                 threads: int | None = None, chat: bool = False) -> None:
        try:
            import torch
            from transformers import AutoModelForCausalLM, AutoTokenizer
        except ImportError:
            raise ConfigError(f"hf: models need transformers and torch: {HF_INSTALL}") from None
        if dtype not in DTYPES:
            raise ConfigError(f"hf: dtype must be one of {', '.join(DTYPES)}, not {dtype!r}")
        if batch_size < 1:
            raise ConfigError(f"hf: batch_size must be at least 1, not {batch_size}")
        self.torch = torch
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self.device = torch.device(device)
        if self.device.type == "cpu":
            torch.set_num_threads(threads or default_threads())
        if dtype == "auto":
            torch_dtype: Any = torch.float32 if self.device.type == "cpu" else "auto"
        else:
            torch_dtype = getattr(torch, dtype)
        kwargs: dict[str, Any] = {"local_files_only": not download, "trust_remote_code": trust_remote_code}
        name_or_path, gguf = _gguf_split(name_or_path)
        if gguf:  # transformers reads the GGUF's tokenizer and dequantizes its weights
            kwargs["gguf_file"] = gguf
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(name_or_path, **kwargs)
            self.model = AutoModelForCausalLM.from_pretrained(name_or_path, dtype=torch_dtype, **kwargs)
        except (ImportError, ValueError) as exc:
            if not gguf or "install" not in str(exc):
                raise
            # a GGUF without the packages transformers reads it with (gguf, accelerate: the hf extra)
            raise ConfigError(f"hf: cannot load {gguf!r}: {str(exc).splitlines()[0]} ({HF_INSTALL})") from None
        except OSError as exc:
            raise ConfigError(f"hf: cannot load {name_or_path!r} from a local directory or the Hugging Face cache "
                              f"({exc.__class__.__name__}: {str(exc).splitlines()[0]}); give a directory, or add "
                              "download=1 to fetch it") from None
        self.model.to(self.device)  # type: ignore[arg-type]  # transformers types .to() for a model, takes a device
        self.model.eval()
        # transformers renamed past_key_values to cache (5.24 warns; the old name goes in 5.40): whichever this
        # version's forward takes
        forward = inspect.signature(self.model.forward).parameters
        self._cache_arg = "cache" if "cache" in forward else "past_key_values"
        self._keeps_logits = "logits_to_keep" in forward
        self.batch_size = batch_size
        limit = getattr(self.model.config, "max_position_embeddings", None) or 2048
        self.max_length = min(max_length or limit, limit)
        tok = self.tokenizer
        self._pad = tok.pad_token_id if tok.pad_token_id is not None else (
            tok.eos_token_id if tok.eos_token_id is not None else 0)
        self._start = tok.bos_token_id if tok.bos_token_id is not None else tok.eos_token_id
        self._lock = threading.Lock()
        self.truncated_requests = 0
        # chat=1: contexts are apply_chat_template text, which carries its own special tokens: encoded without
        # adding more, as apply_chat_template(tokenize=True) does
        self.templated = chat  # text comes rendered by the chat template: its special tokens are in it

    # -- tokenization ---------------------------------------------------------------------------
    def _context_tokens(self, context: str) -> list[int]:
        tokens = list(self.tokenizer(context, add_special_tokens=not self.templated)["input_ids"]) if context else []
        if not tokens:
            if self._start is None:
                raise BackendError("hf: an empty context needs a BOS or EOS token to condition on; the tokenizer "
                                   "has neither")
            tokens = [self._start]
        return tokens

    def _continuation_tokens(self, continuation: str) -> list[int]:
        return list(self.tokenizer(continuation, add_special_tokens=False)["input_ids"]) if continuation else []

    # -- log-likelihood -------------------------------------------------------------------------
    def loglikelihood(self, requests: Sequence[tuple[str, str]], *,
                      progress: Progress | None = None) -> list[float]:
        torch = self.torch
        prepared: list[tuple[list[int], int]] = []  # (input ids, number of continuation tokens)
        for context, continuation in requests:
            ctx, cont = self._context_tokens(context), self._continuation_tokens(continuation)
            if len(cont) > self.max_length:
                raise BackendError(f"hf: a continuation of {len(cont)} tokens does not fit max_length="
                                   f"{self.max_length}")
            ids = ctx + cont
            if len(ids) > self.max_length + 1:
                ids = ids[-(self.max_length + 1):]
                self.truncated_requests += 1
            prepared.append((ids, len(cont)))
        out = [0.0] * len(requests)
        order = sorted((i for i in range(len(requests)) if prepared[i][1]), key=lambda i: -len(prepared[i][0]))
        with self._lock, torch.inference_mode(), usage.model_call(len(requests)) as meter:
            if meter is not None:  # the tokens asked about: context and continuation, as the model sees them
                meter.add_tokens(prompt=sum(len(ids) for ids, _ in prepared))
            for start in range(0, len(order), self.batch_size):
                batch = order[start:start + self.batch_size]
                inputs = [prepared[i][0][:-1] for i in batch]  # the last token is predicted, never input
                width = max(len(x) for x in inputs)
                ids = torch.full((len(batch), width), self._pad, dtype=torch.long)
                mask = torch.zeros((len(batch), width), dtype=torch.long)
                for row, x in enumerate(inputs):
                    ids[row, :len(x)] = torch.tensor(x, dtype=torch.long)
                    mask[row, :len(x)] = 1
                logits = self.model(input_ids=ids.to(self.device), attention_mask=mask.to(self.device)).logits
                for row, i in enumerate(batch):
                    full, n = prepared[i]
                    first = len(full) - 1 - n  # the row that predicts the first continuation token
                    rows = logits[row, first:first + n].float()
                    target = torch.tensor(full[-n:], device=rows.device)
                    logp = rows.gather(1, target[:, None]).squeeze(1) - torch.logsumexp(rows, dim=1)
                    out[i] = float(logp.double().sum())
                if progress is not None:
                    progress(len(batch))
        return out

    # -- generation -----------------------------------------------------------------------------
    def generate(self, prompts: Sequence[str], *, max_tokens: int, stop: Sequence[str] | None = None,
                 temperature: float = 0.0, seed: int = 0, progress: Progress | None = None) -> list[str]:
        """Greedy, or with ``temperature > 0`` sampled with a generator per prompt seeded by (seed, prompt)."""
        torch = self.torch
        eos = self.tokenizer.eos_token_id
        out = [""] * len(prompts)
        encoded = []
        for p in prompts:
            ids = self._context_tokens(p)
            keep = max(1, self.max_length - max_tokens)
            if len(ids) > keep:
                ids = ids[-keep:]
                self.truncated_requests += 1
            encoded.append(ids)
        order = sorted(range(len(prompts)), key=lambda i: -len(encoded[i]))
        with self._lock, torch.inference_mode(), usage.model_call(len(prompts)) as meter:
            if meter is not None:
                meter.add_tokens(prompt=sum(len(ids) for ids in encoded))
            shared, cache = self._shared_prefix(encoded)
            for start in range(0, len(order), self.batch_size):
                batch = order[start:start + self.batch_size]
                past = None
                if cache is not None:
                    past = copy.deepcopy(cache)
                    past.batch_repeat_interleave(len(batch))
                rngs = [sample_rng(seed, prompts[i]) for i in batch] if temperature > 0 else None
                texts = self._decode([encoded[i][shared:] for i in batch], max_tokens, stop, eos, shared, past,
                                     meter, temperature, rngs)
                for i, text in zip(batch, texts):
                    out[i] = cut_at_stop(text, stop)
                if progress is not None:
                    progress(len(batch))
        return out

    def _shared_prefix(self, encoded: list[list[int]]) -> tuple[int, Any]:
        """(length, KV cache) of the prompt tokens every prompt of the call starts with (a few-shot prefix, a
        task's instructions), computed once; (0, None) when they share fewer than ``SHARED_PREFIX_MIN``. Each
        prompt keeps one token of its own at least, whose logits start its generation."""
        shared = 0
        if len(encoded) > 1:
            first, limit = encoded[0], min(len(x) for x in encoded) - 1
            while shared < limit and all(x[shared] == first[shared] for x in encoded):
                shared += 1
        if shared < SHARED_PREFIX_MIN or self._windowed():
            return 0, None
        ids = self.torch.tensor([encoded[0][:shared]], dtype=self.torch.long, device=self.device)
        cache = self._cache_of(self.model(input_ids=ids, use_cache=True, **self._last_logits_only()))
        if not hasattr(cache, "batch_repeat_interleave"):  # a legacy tuple or a remote model's own cache
            return 0, None
        return shared, cache

    def _windowed(self) -> bool:
        """Sliding-window or chunked attention: transformers masks those by place in the padded sequence, so the
        padding between a shared prefix and a prompt's own tokens would shorten the window (Gemma 2/3 local
        layers, Mistral v0.1, Llama 4): no prefix sharing there."""
        config = self.model.config
        layers = [str(t) for t in getattr(config, "layer_types", None) or ()]
        return bool(getattr(config, "sliding_window", None) or getattr(config, "attention_chunk_size", None)
                    or any("sliding" in t or "chunked" in t for t in layers))

    def _decode(self, inputs: list[list[int]], max_tokens: int, stop: Sequence[str] | None, eos: int | None,
                shared: int = 0, past: Any = None, meter: usage.Usage | None = None, temperature: float = 0.0,
                rngs: list[Any] | None = None) -> list[str]:
        """Decoding of a batch with the KV cache, after ``shared`` prompt tokens already in ``past`` (each row's
        own tokens are left-padded after them): greedy, or each row drawing from its own generator (``rngs``).
        A row that ends (EOS, a stop string) leaves the batch, its cache rows with it, so the rows still running
        compute only for themselves."""
        torch = self.torch
        width = max(len(x) for x in inputs)
        ids = torch.full((len(inputs), width), self._pad, dtype=torch.long)
        own = torch.zeros((len(inputs), width), dtype=torch.long)
        for row, x in enumerate(inputs):
            ids[row, width - len(x):] = torch.tensor(x, dtype=torch.long)
            own[row, width - len(x):] = 1
        mask = torch.cat([torch.ones((len(inputs), shared), dtype=torch.long), own], dim=1).to(self.device)
        step_ids = ids.to(self.device)
        step_pos = (shared + own.cumsum(1) - 1).clamp(min=shared).to(self.device)
        generated: list[list[int]] = [[] for _ in inputs]
        texts = [""] * len(inputs)
        rows = list(range(len(inputs)))  # the input row of each batch row (-1: finished, kept as padding)
        for _ in range(max_tokens):
            result = self.model(input_ids=step_ids, attention_mask=mask, position_ids=step_pos, use_cache=True,
                                **{self._cache_arg: past}, **self._last_logits_only())
            past = self._cache_of(result)
            last = result.logits[:, -1, :]
            if rngs is None:
                next_ids = last.argmax(-1)
            else:  # each running row draws from its own generator; a finished row (padding) draws nothing
                logits = last.double().cpu().numpy()
                drawn = [next_token(logits[k], temperature, rngs[row]) if row >= 0 else self._pad
                         for k, row in enumerate(rows)]
                next_ids = torch.tensor(drawn, dtype=torch.long, device=self.device)
            keep = []
            for k, token in enumerate(next_ids.tolist()):
                row = rows[k]
                if row < 0 or (eos is not None and token == eos):  # finished before, or now
                    continue
                generated[row].append(token)
                # transformers types decode() as str | list[str]; one list of ids decodes to one str
                texts[row] = self.tokenizer.decode(generated[row], skip_special_tokens=True)  # type: ignore[assignment]
                if not (stop and any(s and s in texts[row] for s in stop)):
                    keep.append(k)
            if not keep:
                break
            if len(keep) < len(rows) and hasattr(past, "batch_select_indices"):  # finished rows leave the batch
                index = torch.tensor(keep, device=self.device)
                past.batch_select_indices(index)
                next_ids, mask, step_pos = next_ids[index], mask[index], step_pos[index]
                rows = [rows[k] for k in keep]
            elif len(keep) < len(rows):  # a cache that cannot drop rows: finished rows get padding from now on
                running = torch.zeros(len(rows), dtype=torch.bool, device=self.device)
                running[keep] = True
                next_ids = torch.where(running, next_ids, self._pad)
                rows = [r if k in keep else -1 for k, r in enumerate(rows)]
            step_ids = next_ids[:, None]
            step_pos = step_pos[:, -1:] + 1
            mask = torch.cat([mask, torch.ones_like(step_ids)], dim=1)
        if meter is not None:
            meter.add_tokens(generated=sum(len(g) for g in generated))
        return texts

    def _cache_of(self, result: Any) -> Any:
        return getattr(result, "cache", None) if self._cache_arg == "cache" else result.past_key_values

    def _last_logits_only(self) -> dict[str, int]:
        """Generation reads the last position's logits only: ask for no others where the model can."""
        return {"logits_to_keep": 1} if self._keeps_logits else {}

    def close(self) -> None:
        self.model = None  # type: ignore[assignment]


OPTIONS: dict[str, type] = {"batch_size": int, "max_length": int, "threads": int, "download": bool,
                            "trust_remote_code": bool, "device": str, "dtype": str, "chat": bool}


class HFTemplate:
    """A Hugging Face tokenizer's chat template, applied by the tokenizer itself (``apply_chat_template`` with
    ``add_generation_prompt=True``, as text)."""

    origin = "tokenizer chat_template"

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer
        self.source = tokenizer.chat_template if isinstance(tokenizer.chat_template, str) \
            else repr(tokenizer.chat_template)

    def render(self, messages: Sequence[Mapping[str, str]]) -> str:
        return str(self.tokenizer.apply_chat_template([dict(m) for m in messages], tokenize=False,
                                                      add_generation_prompt=True))


def _chat_template(spec: ModelSpec) -> HFTemplate:
    """The model's tokenizer only (no weights), from a local directory or the Hugging Face cache."""
    try:
        from transformers import AutoTokenizer
    except ImportError:
        raise ConfigError(f"hf: models need transformers and torch: {HF_INSTALL}") from None
    opts = spec_options(spec, OPTIONS)
    try:
        where, gguf = _gguf_split(spec.target)
        tokenizer = AutoTokenizer.from_pretrained(where, local_files_only=not opts.get("download", False),
                                                  trust_remote_code=opts.get("trust_remote_code", False),
                                                  **({"gguf_file": gguf} if gguf else {}))
    except OSError as exc:
        raise ConfigError(f"hf: cannot load the tokenizer of {spec.target!r} ({exc.__class__.__name__}); give a "
                          "directory, or add download=1 to fetch it") from None
    if not tokenizer.chat_template:
        raise ConfigError(f"hf:{spec.target}: its tokenizer has no chat template: chat=1 needs one; run it "
                          "without chat=1")
    return HFTemplate(tokenizer)


def _gguf_split(name_or_path: str) -> tuple[str, str | None]:
    """A path to a ``.gguf`` file as (its directory, its file name), which is how transformers takes it."""
    path = os.path.expanduser(name_or_path)
    if path.endswith(".gguf") and os.path.isfile(path):
        return os.path.dirname(os.path.abspath(path)), os.path.basename(path)
    return name_or_path, None


def make_hf(spec: ModelSpec) -> HFModel:
    kwargs = spec_options(spec, OPTIONS)
    if not spec.target:
        raise ConfigError("--lm-model hf:NAME_OR_PATH needs a model directory or a Hugging Face model name")
    return HFModel(spec.target, **kwargs)


def _fingerprint(spec: ModelSpec, digest: FileDigest) -> tuple[str, str]:
    """A local model directory: every file's name, size and mtime; a GGUF file: its digest; a hub name: the
    name."""
    root = os.path.expanduser(spec.target)
    if os.path.isfile(root):
        return "hf", "file:" + digest(root)
    if not os.path.isdir(root):
        return "hf", spec.target
    listing = sorted((os.path.relpath(os.path.join(d, f), root), os.path.getsize(os.path.join(d, f)),
                      os.stat(os.path.join(d, f)).st_mtime_ns) for d, _dirs, files in os.walk(root) for f in files)
    return "hf", "dir:" + hashlib.sha256(repr(listing).encode()).hexdigest()


HF = Backend(name="hf", factory=make_hf, options=OPTIONS, neutral=frozenset({"batch_size", "device", "threads"}),
             cached=True, sampling=True, fingerprint=_fingerprint, chat_template=_chat_template,
             capabilities=frozenset({"batches"}))
