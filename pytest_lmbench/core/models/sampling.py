"""How in-process backends sample a token: one rule for llama.cpp (both its paths) and Hugging Face models.

A sampled request draws from its own generator, seeded by (seed, prompt), so its text does not depend on what
else is in the batch or in which order requests come; the draw is from softmax(logits / temperature) computed in
float64 from the backend's logits row.
"""

from __future__ import annotations

import zlib

import numpy as np


def next_token(row: np.ndarray, temperature: float, rng: np.random.Generator | None) -> int:
    """The token a logits row gives: its argmax without a generator, else a draw from softmax(logits /
    temperature) in float64. Every path chooses with this, so their samples agree bit for bit."""
    if rng is None:
        return int(np.argmax(row))
    z = np.asarray(row, dtype=np.float64) / temperature
    p = np.exp(z - z.max())
    return int(rng.choice(len(p), p=p / p.sum()))


def sample_rng(seed: int, prompt: str) -> np.random.Generator:
    """The generator of one sampled request: seeded by (seed, prompt)."""
    return np.random.default_rng([seed, zlib.crc32(prompt.encode("utf-8"))])
