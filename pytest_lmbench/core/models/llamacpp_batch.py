"""Multi-sequence batches for the llama.cpp backend (``?batch=N``): many sequences in one ``llama_decode``.

llama.cpp evaluates many tokens in one decode far cheaper than one at a time, so the ``batch > 1`` paths run
several requests as sequences of one decode, in a second llama.cpp context on the same weights (the model is
loaded once). They use llama-cpp-python's low-level API (``llama_batch``, ``llama_decode``, ``llama_memory_*``).

- **Generation** is continuous batching: up to ``slots`` requests decode together, one token per sequence per
  step; each stops on its own (its token budget, EOS, a stop string: ``Decoding``, which the one-sequence path
  stops by too), and a freed sequence is refilled from the queue in the same step. A new sequence starts from
  the longest token prefix a decoded sequence holds (``llama_memory_seq_cp``): few-shot prompts of one task
  share their prefix instead of recomputing it.
- **Scoring** (log-likelihoods): up to ``slots`` contexts at a time, each decoded once in a sequence of its
  own; then one option per context at a time, in the context's sequence cut back to before its last token, the
  options of all contexts in decodes together. Log-softmax is taken only on the rows that predict option tokens.

The design keeps the numbers bit for bit those of the one-sequence path (``llamacpp.py``), which two llama.cpp
facts make work:

- In one unified KV cache a sequence's cells sit wherever there was room and its attention sums run over other
  sequences' masked cells; with SmolLM2 Q4_1 on CPU that moved logits by up to 0.8 depending on what else was in
  the cache. So every sequence has a KV stream of its own (``kv_unified=false``, ``n_ctx`` cells each), whose
  cells lie as in the one-sequence context. The price is memory (``slots`` caches), and prefix sharing copies
  whole streams (llama.cpp copies between streams no other way).
- A sequence's row alone in its micro-batch gets other numbers than rows that come together (``decode_chunks``);
  what other sequences share the decode does not matter. So prompts are decoded two rows at least, generated
  tokens one per sequence per step, and options together with the context's last token, in both paths.
"""

from __future__ import annotations

import weakref
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from pytest_lmbench.core.errors import BackendError
from pytest_lmbench.core.models.base import Progress, cut_at_stop
from pytest_lmbench.core.models.sampling import next_token

#: Tokens of prefix another sequence must add for its stream to be copied rather than the tokens decoded: a copy
#: moves the whole stream (SmolLM2 at n_ctx=2048: 45 MiB, a few ms), about what decoding 2-4 tokens costs here
MIN_COPY = 16
#: (prompt tokens, token budget, the sample's generator or None for greedy)
GenerationRequest = tuple[list[int], int, "np.random.Generator | None"]
#: (context tokens, the continuation tokens of each of its options)
ScoringGroup = tuple[list[int], list[list[int]]]


class Decoding:
    """One generation's tokens and the rule that ends it: EOS (not kept), the token budget, a stop string in the
    text so far; and its answer text. Both llama.cpp paths (``LlamaCppModel._greedy``, ``MultiSequence``) run every
    chosen token through ``add``, so that they stop at the same token and answer the same text."""

    def __init__(self, budget: int, eos: int, stop: Sequence[str] | None,
                 detokenize: Callable[[list[int]], bytes]) -> None:
        self.budget, self.eos, self.stop, self._detokenize = budget, eos, stop, detokenize
        self.tokens: list[int] = []
        self.done = budget <= 0  # a budget of 0 asks for no token: no row is read, nothing is decoded

    def add(self, token: int, keep: Callable[[int], None]) -> bool:
        """Take ``token``, chosen next; whether the generation ends with it. EOS ends it unkept. Any other token is
        kept: ``keep(token)`` is told at once, before the rest of the rule is looked at (the one-sequence path
        evaluates the token there, the last one too, as it always has), and the token ends the generation when it
        is the budget-th or a stop string now occurs in the text."""
        if token == self.eos:
            self.done = True
            return True
        self.tokens.append(token)
        keep(token)
        self.done = len(self.tokens) >= self.budget
        if self.stop and not self.done:  # decoded as it grows only when a stop string must be looked for
            text = self._text()
            self.done = any(s and s in text for s in self.stop)
        return self.done

    def text(self) -> str:
        """The answer: the text of the tokens kept, cut before the earliest stop string."""
        return cut_at_stop(self._text(), self.stop)

    def _text(self) -> str:
        return self._detokenize(self.tokens).decode("utf-8", errors="ignore")


@dataclass
class _Sequence:
    """One generation in flight."""

    index: int  # the request's position
    position: int  # where its next token goes: its KV stream holds the prompt, then the tokens generated so far
    decoding: Decoding
    rng: np.random.Generator | None
    pending: int = -1  # the token chosen last, to decode in the next step


class MultiSequence:
    """A llama.cpp context of ``slots`` sequences, each with its own KV stream of ``n_ctx`` cells."""

    def __init__(self, llm: Any, *, slots: int, n_ctx: int, n_batch: int, n_threads: int) -> None:
        import llama_cpp

        self._lib = llama_cpp
        self.llm, self.slots, self.n_ctx, self.n_batch = llm, slots, n_ctx, n_batch
        self.generated_tokens = 0  # every token generated (usage metering reads it)
        # the one-sequence context's settings (flash attention off, rope scaling, ...): llama.cpp's own defaults
        # differ (flash attention auto), and that alone moved log-probs by 0.2; only the shape changes here
        params = type(llm.context_params).from_buffer_copy(llm.context_params)
        if "kv_unified" not in dict(type(params)._fields_) or not hasattr(llama_cpp, "llama_memory_seq_cp"):
            raise BackendError("this llama-cpp-python has no per-sequence KV streams (kv_unified) or no llama_memory "
                               "API; batched decoding was tested with 0.3.36")
        if any(getattr(llama_cpp, name, lambda model: False)(llm._model.model)
               for name in ("llama_model_is_recurrent", "llama_model_is_hybrid")):
            raise BackendError("a recurrent or hybrid model cannot cut a sequence back to a prefix")
        params.n_ctx = n_ctx * slots
        params.n_batch = params.n_ubatch = n_batch
        params.n_seq_max = slots
        params.kv_unified = False
        params.n_threads = params.n_threads_batch = n_threads
        self.ctx = llama_cpp.llama_init_from_model(llm._model.model, params)
        if not self.ctx:
            raise BackendError(f"llama.cpp could not create a context of {slots} sequences of {n_ctx} tokens "
                               f"(set batch= lower)")
        self.mem = llama_cpp.llama_get_memory(self.ctx)
        self.batch = llama_cpp.llama_batch_init(n_batch, 0, 1)
        self.n_vocab = llm.n_vocab()
        self.held: dict[int, list[int]] = {}  # sequence -> the tokens its KV stream holds
        # freed with the object if close() is never called; the finalizer keeps the model (llm) alive until then
        self._free = weakref.finalize(self, _free, llama_cpp, self.ctx, self.batch, llm)

    def close(self) -> None:
        self._free()
        self.ctx = None

    # -- low level ------------------------------------------------------------------------------
    def _decode(self, rows: Sequence[tuple[int, int, int, bool]]) -> list[np.ndarray]:
        """One ``llama_decode`` of (token, position, sequence, wants logits) rows, at most ``n_batch``; the logits
        rows asked for, in order (copies: the next decode overwrites llama.cpp's buffer). It also carries out
        the stream copies asked for before it."""
        b = self.batch
        for k, (token, pos, seq, logits) in enumerate(rows):
            b.token[k], b.pos[k], b.n_seq_id[k], b.logits[k] = token, pos, 1, int(logits)
            b.seq_id[k][0] = seq
        b.n_tokens = len(rows)
        rc = self._lib.llama_decode(self.ctx, b)
        b.n_tokens = 0
        if rc != 0:
            raise BackendError(f"llama_decode failed ({rc}) on a batch of {len(rows)} tokens")
        out = []
        for k, row in enumerate(rows):
            if row[3]:
                ptr = self._lib.llama_get_logits_ith(self.ctx, k)
                out.append(np.ctypeslib.as_array(ptr, shape=(self.n_vocab,)).astype(np.float64))
        return out

    def _reset(self) -> None:
        """Forget every sequence (after a failure nothing held is known to be right)."""
        self._lib.llama_memory_clear(self.mem, True)
        self.held.clear()

    def _copy(self, source: int, target: int, keep: int) -> None:
        """``target`` := the first ``keep`` tokens of ``source``. llama.cpp copies between streams only whole, so
        the stream is copied and cut; the data moves at the next decode, which must come before ``source``
        changes."""
        self._lib.llama_memory_seq_rm(self.mem, target, -1, -1)
        self._lib.llama_memory_seq_cp(self.mem, source, target, -1, -1)
        self._lib.llama_memory_seq_rm(self.mem, target, keep, -1)
        self.held[target] = self.held[source][:keep]

    def _target(self, tokens: list[int], free: Sequence[int]) -> int:
        """The free sequence to start ``tokens`` in: the one holding the longest prefix of them (used in place),
        else one holding nothing, else the lowest."""
        best = max(free, key=lambda s: (_common(self.held.get(s, ()), tokens), -s))
        if _common(self.held.get(best, ()), tokens) > 0:
            return best
        return min(free, key=lambda s: (s in self.held, s))

    def _prefill(self, seq: int, tokens: list[int]) -> np.ndarray:
        """Make ``seq`` hold ``tokens``, starting from the longest prefix it or another sequence holds, as the
        one-sequence path does: two tokens decoded at least, in decodes of this sequence alone and none of one
        row (``decode_chunks``). The last token's logits."""
        source, shared = seq, _usable(_common(self.held.get(seq, ()), tokens), len(tokens))
        others = [(_usable(_common(held, tokens), len(tokens)), -other) for other, held in self.held.items()
                  if other != seq]
        best, other = max(others, default=(0, 0))
        if best >= shared + MIN_COPY:  # a copy moves the whole stream: worth it for a real prefix only
            source, shared = -other, best
        if source == seq:
            self._lib.llama_memory_seq_rm(self.mem, seq, shared, -1)
            self.held[seq] = self.held.get(seq, [])[:shared]
        else:
            self._copy(source, seq, shared)
        rows = [(t, p, seq, p == len(tokens) - 1) for p, t in enumerate(tokens[shared:], start=shared)]
        last: list[np.ndarray] = []
        for start, stop in decode_chunks(len(rows), self.n_batch):
            last = self._decode(rows[start:stop]) or last
        self.held[seq].extend(tokens[shared:])
        return last[-1]

    # -- generation -----------------------------------------------------------------------------
    def generate(self, requests: Sequence[GenerationRequest], stop: Sequence[str] | None, temperature: float,
                 progress: Progress | None, trace: list[list[np.ndarray]] | None = None) -> list[str]:
        """The texts of the requests, in request order; ``trace`` is given each request's logits rows."""
        try:
            return self._generate(requests, stop, temperature, progress, trace)
        except BaseException:
            self._reset()
            raise

    def _generate(self, requests: Sequence[GenerationRequest], stop: Sequence[str] | None, temperature: float,
                  progress: Progress | None, trace: list[list[np.ndarray]] | None) -> list[str]:
        eos = self.llm.token_eos()
        decodings = [Decoding(budget, eos, stop, self.llm.detokenize) for _, budget, _ in requests]
        out = [d.text() if d.done else "" for d in decodings]  # a budget of 0: its answer at once
        queue = deque(i for i, d in enumerate(decodings) if not d.done)
        if progress is not None and len(queue) < len(requests):
            progress(len(requests) - len(queue))
        active: dict[int, _Sequence] = {}

        def advance(seq: int, s: _Sequence, row: np.ndarray) -> None:
            """The next token from ``row``; the sequence ends as ``Decoding`` says (EOS, its budget, a stop string)."""
            if trace is not None:
                trace[s.index].append(row)

            def keep(token: int) -> None:  # counted now, decoded in the next step if the sequence goes on
                self.generated_tokens += 1
                s.pending = token

            if s.decoding.add(next_token(row, temperature, s.rng), keep):
                out[s.index] = s.decoding.text()
                del active[seq]  # its prompt stays (held) for prefix sharing until the sequence is reused
                if progress is not None:
                    progress(1)

        while queue or active:
            # new requests in free sequences: the prompt decoded at once (the next one may copy the prefix it
            # shares), its first token chosen from the prompt's last row
            while queue and len(active) < self.slots:
                i = queue.popleft()
                tokens, _, rng = requests[i]
                seq = self._target(tokens, [s for s in range(self.slots) if s not in active])
                row = self._prefill(seq, tokens)
                # held stays the prompt: generated tokens were evaluated one per step, not as a prompt's rows are,
                # so no later prompt may take them as its prefix (the one-sequence path keeps them out of _kv too)
                active[seq] = _Sequence(index=i, position=len(tokens), decoding=decodings[i], rng=rng)
                advance(seq, active[seq], row)
            # one step: the last chosen token of every sequence in flight, one row each, in sequence order (llama.cpp
            # puts a run of consecutive sequences in one micro-batch and splits at every gap or step back)
            step = [(s.pending, s.position, seq, True) for seq, s in sorted(active.items())]
            for start in range(0, len(step), self.n_batch):
                rows = step[start:start + self.n_batch]
                for (_, _, seq, _), row in zip(rows, self._decode(rows)):
                    active[seq].position += 1
                    advance(seq, active[seq], row)
        return out

    # -- scoring --------------------------------------------------------------------------------
    def score(self, groups: Sequence[ScoringGroup], done: Callable[[int, list[tuple[float, bool]]], None]) -> None:
        """(log-likelihood, greedy) of each option of each group; ``done(g, results)`` is told each group's,
        in group order. Up to ``slots`` contexts at a time, each in a sequence of its own."""
        try:
            for start in range(0, len(groups), self.slots):
                wave = list(groups[start:start + self.slots])
                for k, results in enumerate(self._score_wave(wave), start=start):
                    done(k, results)
        except BaseException:
            self._reset()
            raise

    def _score_wave(self, groups: list[ScoringGroup]) -> list[list[tuple[float, bool]]]:
        free = list(range(self.slots))
        seqs = []
        for ctx, _ in groups:  # a free sequence holding the longest prefix of the context
            seqs.append(self._target(ctx, free))
            free.remove(seqs[-1])
        # each option's log-probability per token and whether it is the row's argmax, summed at the end as the
        # one-sequence path sums them (numpy's order), so that the totals agree bit for bit
        parts: list[list[list[float]]] = [[[] for _ in conts] for _, conts in groups]
        greedy = [[True] * len(conts) for _, conts in groups]

        def take(gi: int, k: int, j: int, row: np.ndarray) -> None:
            logp, top = target_logprobs(row[None, :], [groups[gi][1][k][j]])
            parts[gi][k].append(float(logp[0]))
            greedy[gi][k] = greedy[gi][k] and bool(top[0])

        # 1. each context in its sequence; its last row predicts every option's first token. A context of one
        # token (BOS) would be a row alone: its options go through step 2 whole instead, as [BOS] + option.
        for gi, ((ctx, conts), seq) in enumerate(zip(groups, seqs)):
            if len(ctx) < 2:
                self._lib.llama_memory_seq_rm(self.mem, seq, -1, -1)
                self.held[seq] = []
                continue
            row = self._prefill(seq, ctx)
            for k, cont in enumerate(conts):
                if cont:
                    take(gi, k, 0, row)
        # 2. options of more than one token, one option per context at a time, in the context's own sequence cut
        # back before its last token: that token and the option's tokens but its last, decoded together so that
        # no sequence has a row alone. Contexts whose options have as many tokens share decodes, in sequence order.
        for k in range(max((len(conts) for _, conts in groups), default=0)):
            by_length: dict[int, list[tuple[int, list[int], int]]] = {}
            for gi, ((ctx, conts), seq) in enumerate(zip(groups, seqs)):
                if k >= len(conts) or not conts[k] or (len(ctx) > 1 and len(conts[k]) < 2):
                    continue
                # from the context's last token on; a one-token context with the whole option, as the
                # one-sequence path decodes [BOS] + option
                tokens = ctx[-1:] + (conts[k][:-1] if len(ctx) > 1 else conts[k])
                self._lib.llama_memory_seq_rm(self.mem, seq, len(ctx) - 1, -1)
                self.held[seq] = ctx[:-1] + tokens
                by_length.setdefault(len(tokens), []).append((seq, tokens, gi))
            for length, members in sorted(by_length.items()):
                members.sort()
                per = max(1, self.n_batch // length)  # sequences per decode
                for at in range(0, len(members), per):
                    rows: list[tuple[int, int, int, bool]] = []
                    wanted: list[tuple[int, int]] = []
                    for seq, tokens, gi in members[at:at + per]:
                        ctx, cont = groups[gi][0], groups[gi][1][k]
                        rows.extend((t, p, seq, True) for p, t in enumerate(tokens, start=len(ctx) - 1))
                        # row j predicts the option's token j; step 1 had j=0 for a longer context
                        wanted.extend((gi, j) if (j > 0 or len(ctx) < 2) and j < len(cont) else (-1, -1)
                                      for j in range(len(tokens)))
                    if len(rows) <= self.n_batch:
                        results = self._decode(rows)
                    else:  # one option longer than a decode
                        pieces = decode_chunks(len(rows), self.n_batch)
                        results = [r for a, b in pieces for r in self._decode(rows[a:b])]
                    for (gi, j), row in zip(wanted, results):
                        if gi >= 0:
                            take(gi, k, j, row)
        return [[(float(np.sum(np.array(parts[gi][k]))), greedy[gi][k]) if cont else (0.0, True)
                 for k, cont in enumerate(conts)] for gi, (_, conts) in enumerate(groups)]


def _free(lib: Any, ctx: Any, batch: Any, llm: Any) -> None:
    """Free a batch context before its model (``llm`` is passed only to outlive it)."""
    lib.llama_batch_free(batch)
    lib.llama_free(ctx)


def _usable(common: int, n: int) -> int:
    """How much of a held prefix of ``common`` tokens a prompt of ``n`` may take: two tokens are decoded at
    least (one when the prompt has one), as the one-sequence path does."""
    return max(0, min(common, n - 2))


def decode_chunks(n: int, size: int) -> list[tuple[int, int]]:
    """[start, stop) pieces of ``n`` rows of one sequence, at most ``size`` each, none of one row unless ``n`` is 1
    (or ``size`` is 2 and ``n`` odd: the last).

    llama.cpp computes a sequence's row that is alone in its micro-batch (one query row in that sequence's
    attention) with other kernels than rows that come several together, and the numbers differ (up to 0.7 in a
    logit with SmolLM2 Q4_1 on CPU). How many rows come together, and which other sequences share the decode,
    does not change them (measured: tests/test_llamacpp_batch.py). Both paths cut prompts with this function, so
    a prompt's rows come out the same in both, whatever was decoded before."""
    if size < 2:  # n_batch=1: nothing else is possible
        return [(i, i + 1) for i in range(n)]
    out = []
    start = 0
    while start < n:
        stop = min(n, start + size)
        if n - stop == 1 and stop - start > 2:  # the last piece would be one row: this one gives it one of its own
            stop -= 1
        out.append((start, stop))
        start = stop
    return out


def target_logprobs(rows: np.ndarray, targets: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """For float64 logits ``rows`` (one per target token): each target's log-softmax, and whether it is its row's
    argmax. Both llama.cpp paths score with this one computation (the batched one a row at a time), so their
    log-likelihoods agree bit for bit."""
    top = rows.max(axis=1)
    lse = top + np.log(np.exp(rows - top[:, None]).sum(axis=1))
    picked = rows[np.arange(len(targets)), targets]
    return picked - lse, picked >= top


def _common(a: Sequence[int], b: Sequence[int]) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i
