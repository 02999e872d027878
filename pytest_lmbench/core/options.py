"""How one item is evaluated, as one object: shots, examples, token budget, seed, label, extra scorers, repeats.

Every task format's entry point (``evaluate``, ``evaluate_lmeval``, ``evaluate_programmatic``) takes an
``EvalOptions``, so an option added for all of them (a judge, a timeout) is one field here instead of a parameter
threaded through each layer. None means the format's own default (BIG-bench's 0 shots and 64-token budget for
JSON tasks, the config's ``num_fewshot`` for lm-eval, the task's ``max_length`` for programmatic tasks). A leaf
of the core: it imports only leaves.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import TYPE_CHECKING, Any

from pytest_lmbench.core.seeds import BIGBENCH_SEED

if TYPE_CHECKING:
    from pytest_lmbench.core.models.base import BaseModel
    from pytest_lmbench.core.repeats import Repeats
    from pytest_lmbench.core.scoring.metrics import Scorer


@dataclass(frozen=True)
class EvalOptions:
    """The options of one evaluation (see the module docstring)."""

    #: few-shot examples in each prompt (None: the format's default)
    shots: int | None = None
    #: at most this many examples (lm-eval's ``--limit``; a BIG-bench parent splits it over its subtasks)
    max_examples: int | None = None
    #: the generation budget in tokens (``--lm-max-tokens``; None: the format's default)
    max_tokens: int | None = None
    #: BIG-bench's seed for few-shot draws and option order
    seed: int = BIGBENCH_SEED
    #: the model's label in the result (None: the model's name)
    model_name: str | None = None
    #: extra generative scorers by metric name (bleurt, the ``pytest_lmbench_metrics`` hook's)
    scorers: Mapping[str, Scorer] = field(default_factory=dict)
    #: repeated sampling (None: the task's own, else one answer)
    repeats: Repeats | None = None
    #: BIG-bench programmatic tasks that run the model's code (``--lm-allow-code-execution``)
    allow_code_execution: bool = False
    #: the judge models that grade the answers of tasks with a judge (``--lm-judge``, repeated: a panel)
    judges: tuple[BaseModel, ...] = ()
    #: the model whose answers a pairwise judge compares with (``--lm-compare``); None: the examples' targets
    compare: BaseModel | None = None

    @classmethod
    def of(cls, options: EvalOptions | None, values: Mapping[str, Any]) -> EvalOptions:
        """``options`` with ``values`` (keyword arguments of an entry point) set on it; an unknown name is a
        TypeError that lists the known ones, as a wrong keyword argument would be."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise TypeError(f"unknown evaluation option(s) {unknown}; EvalOptions has {sorted(known)}")
        base = options if options is not None else cls()
        return replace(base, **values) if values else base
