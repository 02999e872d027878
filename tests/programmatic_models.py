"""Deterministic models for BIG-bench programmatic tasks: the same answers through pytest-lmbench (``HashModel``, a
``py:`` backend) and through BIG-bench's own model API (``ReferenceModel``, written after BIG-bench's
``huggingface_models.BIGBenchHFModel``: one input at a time, ``model_utils.postprocess_output``, scipy's
``logsumexp``), for parity tests of ``core/tasks/programmatic.py``."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from pytest_lmbench.core.models.base import BaseModel, cut_at_stop

#: Replies with digits, words, punctuation and newlines, so that stop strings and output regexes matter.
REPLIES = ("True", "False", " yes", "no.", "1", " 2\n3", "42", "(A)", "B", "valid", " The answer is 7.",
           "north\nsouth", "Is it an animal?", "higher", "x = 3", "I am not sure.\n")


def _h(*parts: str) -> int:
    return int(hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:12], 16)


def reply(prompt: str) -> str:
    return REPLIES[_h("reply", prompt) % len(REPLIES)]


def score(context: str, continuation: str) -> float:
    return -(_h("score", context, continuation) % 10000) / 1000.0 - 0.25 * len(continuation.split())


class HashModel(BaseModel):
    """Answers are functions of the text alone: deterministic, and the same on both sides of a parity test."""

    name = "hash"

    def loglikelihood(self, requests: Sequence[tuple[str, str]]) -> list[float]:
        return [score(c, t) for c, t in requests]

    def generate(self, prompts: Sequence[str], *, max_tokens: int, stop: Sequence[str] | None = None) -> list[str]:
        return [cut_at_stop(reply(p), stop) for p in prompts]


def reference_model(model_module, model_utils):
    """A ``bigbench.api.model.Model`` of the checkout (its module and ``model_utils`` given) with HashModel's
    answers."""
    import numpy as np
    import scipy.special

    class ReferenceModel(model_module.Model):
        def generate_text(self, inputs, max_length=0, stop_string=None, output_regex=None):
            input_list = [inputs] if isinstance(inputs, str) else inputs
            generated = [reply(i) for i in input_list]
            if isinstance(inputs, str):
                generated = generated[0]
            return model_utils.postprocess_output(generated, max_length, stop_string, output_regex)

        def cond_log_prob(self, inputs, targets, absolute_normalization=False):
            input_list, target_list = ([inputs], [targets]) if isinstance(inputs, str) else (inputs, targets)
            scores = [[score(i, t) for t in ts] for i, ts in zip(input_list, target_list)]
            if not absolute_normalization:
                scores = [list(np.array(row) - scipy.special.logsumexp(row)) for row in scores]
            return scores[0] if isinstance(inputs, str) else scores

        def model_data(self):
            return model_module.ModelData(model_family="test", model_name="hash", total_params=0,
                                          non_embedding_params=0, flop_matched_non_embedding_params=0,
                                          training_batch_size=0, training_steps=0, description="",
                                          decoding_params={})

    return ReferenceModel()
