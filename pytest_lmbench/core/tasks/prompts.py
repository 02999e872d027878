"""BIG-bench prompt formatting and few-shot construction, byte for byte.

Mirrors BIG-bench 1.0.0's ``default_format_fn`` and ``make_nshot_dataset`` (seed 42, numpy's legacy
``RandomState``), so prompts, option order and the examples drawn are exactly BIG-bench's. The random
draws are made with the same numpy calls in the same order; that is what makes them identical.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np

from pytest_lmbench.core.models.chat import LETTER_INSTRUCTION, LETTERS, lettered
from pytest_lmbench.core.seeds import BIGBENCH_SEED
from pytest_lmbench.core.tasks.model import Example, Task

__all__ = ["BIGBENCH_SEED", "Query", "bigbench_prompt", "build_queries", "format_example"]


@dataclass
class Query:
    """One prompt sent to the model: an example, formatted, with its few-shot context."""

    example: Example
    prompt: str  # task prefix + few-shot context + formatted input, as the model sees it
    choices: list[str] | None  # options in target_scores order (the order log-probs are reported in)
    targets: list[str]  # formatted targets (for MC without a target: the best-scored choice)
    #: the parts of ``prompt`` a chat conversation is made of: each few-shot (formatted input, target) and the
    #: formatted input asked (``prompt`` = task prefix + shots and input joined by the task's separator)
    shots: list[tuple[str, str]] = field(default_factory=list)
    input: str = ""
    #: mc=letters: the options in the order they are shown, lettered A, B, ...
    shown: list[str] | None = None


@lru_cache(maxsize=64)
def _permutation(seed: int, k: int) -> tuple[int, ...]:
    """What ``RandomState(seed).permutation`` does to any k items (it depends on k only): computed once per k
    instead of a fresh RandomState per example (tens of microseconds each)."""
    return tuple(int(i) for i in np.random.RandomState(seed=seed).permutation(k))


def format_example(example: Example, task: Task, seed: int = BIGBENCH_SEED, *, letters: bool = False
                   ) -> dict[str, Any]:
    """BIG-bench's default format: the example dict with ``input`` prefixed and ``choice``/``target`` set.

    The choices shown in the prompt are the sorted choices permuted by a fresh ``RandomState(seed)``
    per example, as BIG-bench does. ``letters`` (``mc=letters``): the same options in the same order shown
    as "A. ...", "B. ..." instead of BIG-bench's choice lines (always, as the model must see them to answer),
    then the instruction to answer with a letter; the target is the best option's letter.
    """
    sample = dict(example.raw)
    text = example.input
    if example.target_scores is not None:
        scores = example.target_scores
        ordered = sorted(scores.keys())
        permuted = [ordered[i] for i in _permutation(seed, len(ordered))]
        best = max(scores.values())
        if letters:
            text = text + "\n" + lettered(permuted) + "\n" + LETTER_INSTRUCTION
            sample["target"] = [LETTERS[i] for i, o in enumerate(permuted) if scores[o] == best][:1]
            sample["shown"] = permuted
        elif task.append_choices_to_input:
            text = text + task.choice_prefix + task.choice_prefix.join(permuted)
        if "target" not in sample:
            sample["target"] = [k for k, v in scores.items() if v == best][0]
        sample["choice"] = list(scores.keys())
    sample["input"] = task.example_input_prefix + text + task.example_output_prefix
    if not isinstance(sample["target"], list):
        sample["target"] = [sample["target"]]
    return sample


def _canonical(value: Any) -> Any:
    """A hashable form with Python's equality semantics (1 == 1.0, dict order ignored)."""
    if isinstance(value, dict):
        return frozenset((k, _canonical(v)) for k, v in value.items())
    if isinstance(value, list):
        return tuple(_canonical(v) for v in value)
    return value


def build_queries(task: Task, shots: int = 0, max_examples: int | None = None,
                  seed: int = BIGBENCH_SEED, *, letters: bool = False) -> list[Query]:
    """The queries BIG-bench's ``evaluate_fixed_shot`` sends for ``shots`` shots, in BIG-bench's order.

    ``max_examples`` subsamples as BIG-bench does (random, without replacement, seeded).
    Raises ValueError when the task has too few distinct examples for ``shots``.
    """
    formatted = [format_example(e, task, seed, letters=letters) for e in task.examples]
    n = len(formatted)
    rng = np.random.RandomState(seed=seed)
    num_examples = min(max_examples, n) if max_examples else n

    if shots == 0:
        if num_examples < n:
            order = rng.choice(n, num_examples, replace=False).tolist()
        else:
            order = list(range(n))
        return [_query(task, task.examples[i], formatted[i], formatted[i]["input"], []) for i in order]

    if n < shots + 1:
        raise ValueError(
            f"{task.name} has {n} distinct examples; {shots}-shot evaluation needs at least {shots + 1}")
    # BIG-bench always draws the queries (a permutation when no limit is set).
    order = rng.choice(n, num_examples, replace=False).tolist()
    keys = [_canonical(s) for s in formatted]
    groups: dict[Any, list[int]] = {}
    for i, key in enumerate(keys):
        groups.setdefault(key, []).append(i)
    everyone = list(range(n))
    separator = task.few_shot_example_separator
    queries = []
    for i in order:
        # BIG-bench: shots come from the examples that differ from the query (dict inequality).
        if len(groups[keys[i]]) == 1:
            valid = everyone[:i] + everyone[i + 1:]
        else:
            valid = [j for j in everyone if keys[j] != keys[i]]
        picks = rng.choice(len(valid), shots, replace=False)
        context_parts, pairs = [], []
        for p in picks:
            shot = formatted[valid[p]]
            pairs.append((shot["input"], str(rng.choice(shot["target"]))))
            context_parts.append(pairs[-1][0] + pairs[-1][1])
        text = separator.join(context_parts) + separator + formatted[i]["input"]
        queries.append(_query(task, task.examples[i], formatted[i], text, pairs))
    return queries


def _query(task: Task, example: Example, sample: dict[str, Any], text: str, shots: list[tuple[str, str]]) -> Query:
    return Query(example=example, prompt=task.task_prefix + text, choices=sample.get("choice"),
                 targets=[str(t) for t in sample["target"]], shots=shots, input=sample["input"],
                 shown=sample.get("shown"))


def bigbench_prompt(input: str, choices: Sequence[str] | None = None, *, task_prefix: str = "",
                    input_prefix: str = "\nQ: ", output_prefix: str = "\nA: ", choice_prefix: str = "\n  choice: ",
                    append_choices: bool = True, seed: int = BIGBENCH_SEED) -> str:
    """The 0-shot prompt BIG-bench builds for one example (``choices`` appended in BIG-bench's seeded order),
    for test-function tasks that ask what a JSON task would ask."""
    text = input
    if choices is not None and append_choices:
        permuted = np.random.RandomState(seed=seed).permutation(sorted(choices))
        text = text + choice_prefix + choice_prefix.join(str(c) for c in permuted)
    return task_prefix + input_prefix + text + output_prefix
