"""A deterministic model for conformance tests: its answers depend only on the request text.

The same object answers through our protocol and, wrapped by ``bigbench_reference``, through BIG-bench's
model API, so identical prompts give identical outputs and any prompt difference shows up in the scores.
Log-likelihoods are coarse on purpose (ties exercise the hashed argmax); generations are the target, the
target with trailing text, an upper-cased target on its own line, or a sentence around the target.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence


def _h(*parts: str) -> int:
    return int.from_bytes(hashlib.sha256("\x00".join(parts).encode()).digest()[:8], "little")


class ScriptedModel:
    name = "scripted"

    def __init__(self, answers: dict[str, list[str]] | None = None) -> None:
        self.answers = answers or {}
        self._inputs = sorted((k for k in self.answers if k.strip()), key=len, reverse=True)

    @classmethod
    def for_task_files(cls, paths: Sequence[str]) -> ScriptedModel:
        answers: dict[str, list[str]] = {}
        for path in paths:
            with open(path, encoding="utf-8") as fh:
                data = json.load(fh)
            for ex in data.get("examples", []):
                target = ex.get("target")
                if target is None and ex.get("target_scores"):
                    scores = ex["target_scores"]
                    target = max(scores, key=scores.get)
                answers.setdefault(ex["input"], target if isinstance(target, list) else [target])
        return cls(answers)

    def loglikelihood(self, requests: Sequence[tuple[str, str]]) -> list[float]:
        return [-(_h(c, t) % 7) * 0.75 - 0.25 * len(t.split()) for c, t in requests]

    def raw_generation(self, prompt: str) -> str:
        best, best_pos = None, -1
        for text in self._inputs:
            pos = prompt.rfind(text)
            if pos > best_pos:
                best, best_pos = text, pos
        targets = self.answers.get(best, ["nothing"]) if best is not None else ["nothing"]
        kind = _h(prompt) % 4
        if kind == 0:
            return targets[0]
        if kind == 1:
            return targets[-1] + ". Then more words follow"
        if kind == 2:
            return " " + targets[0].upper() + "\nnext line"
        return "the answer is " + targets[0] + " I think"

    def generate(self, prompts: Sequence[str], *, max_tokens: int, stop: Sequence[str] | None = None) -> list[str]:
        return [self.raw_generation(p) for p in prompts]


class GreedyOnly:
    """A backend written to the two-method protocol only: greedy generation ("0"), equal log-likelihoods, no
    sampling, no metering of its own."""

    def generate(self, prompts: Sequence[str], *, max_tokens: int, stop: Sequence[str] | None = None) -> list[str]:
        return ["0" for _ in prompts]

    def loglikelihood(self, requests: Sequence[tuple[str, str]]) -> list[float]:
        return [0.0 for _ in requests]
