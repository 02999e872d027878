"""Hugging Face causal LMs: ``hf:NAME_OR_PATH?device=…&dtype=…&batch_size=…``.

A local directory or a model already in the Hugging Face cache (nothing is downloaded unless ``download=1``).
Log-likelihoods run in batches of similar length (sorted longest first, right-padded), and log-softmax is taken
only over the rows that predict continuation tokens. Context and continuation are tokenized separately, as
BIG-bench does. Generation is batched greedy decoding with left padding. CUDA when available, CPU otherwise.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Mapping, Sequence
from typing import Any

from pytest_lmbench.core.errors import BackendError, ConfigError
from pytest_lmbench.core.models.base import BaseModel, Progress, cut_at_stop, default_threads
from pytest_lmbench.core.models.spec import Backend, FileDigest, ModelSpec, spec_options

HF_INSTALL = "pip install 'pytest-lmbench[hf]'"
DTYPES = ("auto", "float32", "float16", "bfloat16")


class HFModel(BaseModel):
    """A ``transformers`` causal language model."""

    reports_progress = True

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
        kwargs = {"local_files_only": not download, "trust_remote_code": trust_remote_code}
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(name_or_path, **kwargs)
            self.model = AutoModelForCausalLM.from_pretrained(name_or_path, dtype=torch_dtype, **kwargs)
        except OSError as exc:
            raise ConfigError(f"hf: cannot load {name_or_path!r} from a local directory or the Hugging Face cache "
                              f"({exc.__class__.__name__}: {str(exc).splitlines()[0]}); give a directory, or add "
                              "download=1 to fetch it") from None
        self.model.to(self.device)  # type: ignore[arg-type]  # transformers types .to() for a model, takes a device
        self.model.eval()
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
        self.chat = chat

    # -- tokenization ---------------------------------------------------------------------------
    def _context_tokens(self, context: str) -> list[int]:
        tokens = list(self.tokenizer(context, add_special_tokens=not self.chat)["input_ids"]) if context else []
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
        with self._lock, torch.inference_mode():
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
                 progress: Progress | None = None) -> list[str]:
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
        with self._lock, torch.inference_mode():
            for start in range(0, len(order), self.batch_size):
                batch = order[start:start + self.batch_size]
                texts = self._greedy([encoded[i] for i in batch], max_tokens, stop, eos)
                for i, text in zip(batch, texts):
                    out[i] = cut_at_stop(text, stop)
                if progress is not None:
                    progress(len(batch))
        return out

    def _greedy(self, inputs: list[list[int]], max_tokens: int, stop: Sequence[str] | None,
                eos: int | None) -> list[str]:
        """Greedy decoding of a left-padded batch with the KV cache; a row stops at EOS or a stop string."""
        torch = self.torch
        width = max(len(x) for x in inputs)
        ids = torch.full((len(inputs), width), self._pad, dtype=torch.long)
        mask = torch.zeros((len(inputs), width), dtype=torch.long)
        for row, x in enumerate(inputs):
            ids[row, width - len(x):] = torch.tensor(x, dtype=torch.long)
            mask[row, width - len(x):] = 1
        ids, mask = ids.to(self.device), mask.to(self.device)
        positions = (mask.cumsum(1) - 1).clamp(min=0)
        generated: list[list[int]] = [[] for _ in inputs]
        done = [False] * len(inputs)
        texts = [""] * len(inputs)
        past = None
        step_ids, step_pos = ids, positions
        for _ in range(max_tokens):
            result = self.model(input_ids=step_ids, attention_mask=mask, position_ids=step_pos, past_key_values=past,
                                use_cache=True)
            past = result.past_key_values
            next_ids = result.logits[:, -1, :].argmax(-1)
            for row, token in enumerate(next_ids.tolist()):
                if done[row]:
                    continue
                if eos is not None and token == eos:
                    done[row] = True
                    continue
                generated[row].append(token)
                # transformers types decode() as str | list[str]; one list of ids decodes to one str
                texts[row] = self.tokenizer.decode(generated[row], skip_special_tokens=True)  # type: ignore[assignment]
                if stop and any(s and s in texts[row] for s in stop):
                    done[row] = True
            if all(done):
                break
            next_ids = torch.where(torch.tensor(done, device=self.device), self._pad, next_ids)
            step_ids = next_ids[:, None]
            step_pos = step_pos[:, -1:] + 1
            mask = torch.cat([mask, torch.ones_like(step_ids)], dim=1)
        return texts

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
        tokenizer = AutoTokenizer.from_pretrained(spec.target, local_files_only=not opts.get("download", False),
                                                  trust_remote_code=opts.get("trust_remote_code", False))
    except OSError as exc:
        raise ConfigError(f"hf: cannot load the tokenizer of {spec.target!r} ({exc.__class__.__name__}); give a "
                          "directory, or add download=1 to fetch it") from None
    if not tokenizer.chat_template:
        raise ConfigError(f"hf:{spec.target}: its tokenizer has no chat template: chat=1 needs one; run it "
                          "without chat=1")
    return HFTemplate(tokenizer)


def make_hf(spec: ModelSpec) -> HFModel:
    kwargs = spec_options(spec, OPTIONS)
    if not spec.target:
        raise ConfigError("--lm-model hf:NAME_OR_PATH needs a model directory or a Hugging Face model name")
    return HFModel(spec.target, **kwargs)


def _fingerprint(spec: ModelSpec, digest: FileDigest) -> tuple[str, str]:
    """A local model directory: every file's name, size and mtime; a hub name: the name."""
    root = os.path.expanduser(spec.target)
    if not os.path.isdir(root):
        return "hf", spec.target
    listing = sorted((os.path.relpath(os.path.join(d, f), root), os.path.getsize(os.path.join(d, f)),
                      os.stat(os.path.join(d, f)).st_mtime_ns) for d, _dirs, files in os.walk(root) for f in files)
    return "hf", "dir:" + hashlib.sha256(repr(listing).encode()).hexdigest()


HF = Backend(name="hf", factory=make_hf, options=OPTIONS, neutral=frozenset({"batch_size", "device", "threads"}),
             cached=True, sampling=False, fingerprint=_fingerprint, chat_template=_chat_template)
