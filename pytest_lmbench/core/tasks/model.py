"""Format-agnostic task records: what a task is, independent of the file it came from."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from pytest_lmbench.core.errors import TaskFormatError
from pytest_lmbench.core.repeats import Repeats, reducer_names
from pytest_lmbench.core.scoring.judge import JUDGE_SCORES, PAIRWISE_SCORES, JudgeSpec, mode_scores, with_mode
from pytest_lmbench.core.scoring.metrics import LOWER_IS_BETTER

__all__ = ["LOWER_IS_BETTER", "Example", "Task"]


@dataclass
class Example:
    """One distinct example of a task, as written in the task file (before prompt formatting)."""

    index: int
    input: str
    target: list[str] | None
    target_scores: dict[str, float] | None
    raw: dict[str, Any]
    task_name: str = ""

    @property
    def uid(self) -> str:
        """Stable id (computed on demand: collection of large suites never needs it)."""
        return example_uid(self.task_name, self.raw)


#: Preferred scores that say right (1) or wrong (0) per example: what stated confidence is calibrated against.
CORRECTNESS_SCORES = frozenset({"multiple_choice_grade", "exact_str_match", "case_insensitive_str_match",
                                "numeric_match_with_0_1_relative_error"})


@dataclass(frozen=True)
class VerbalizedConfidence:
    """Ask the model, after its answer, how confident it is ("Teaching models to express their uncertainty in
    words"): the follow-up is prompt + answer + ``prompt`` here, generated up to ``max_tokens`` and read by
    ``parse_confidence`` with the word table ``words`` (None: the built-in table)."""

    prompt: str = "\nConfidence that this answer is correct (0% to 100%): "
    max_tokens: int = 8
    words: dict[str, float] | None = None


@dataclass
class Task:
    """A leaf task (with examples) or a parent task (with subtasks), with BIG-bench's semantics."""

    name: str
    path: str
    description: str = ""
    keywords: list[str] = field(default_factory=list)
    metrics: list[str] = field(default_factory=list)
    preferred_score: str = ""
    examples: list[Example] = field(default_factory=list)
    subtasks: list[Task] = field(default_factory=list)
    task_prefix: str = ""
    example_input_prefix: str = "\nQ: "
    example_output_prefix: str = "\nA: "
    choice_prefix: str = "\n  choice: "
    append_choices_to_input: bool = True
    few_shot_example_separator: str = "\n"
    output_regex: str | None = None
    stop_string: str | None = None
    absolute_normalization: bool = False
    low_score: float = 0.0
    high_score: float = 1.0
    declared_score_range: tuple[float, float] | None = None
    thresholds: dict[str, float] = field(default_factory=dict)
    marks: list[str] = field(default_factory=list)
    verbalized_confidence: VerbalizedConfidence | None = None
    n_duplicates: int = 0
    notes: list[str] = field(default_factory=list)
    parent: str | None = None
    #: the task file's ``lmbench.repeats`` (and temperature, seed, pass_at); the command line's win
    repeats: Repeats | None = None
    #: the task file's ``lmbench.judge``: its answers are also graded by a judge model (``scoring/judge.py``)
    judge: JudgeSpec | None = None

    @property
    def is_parent(self) -> bool:
        return bool(self.subtasks)

    @property
    def generative_metrics(self) -> list[str]:
        from pytest_lmbench.core.scoring.metrics import GENERATIVE_METRICS

        return [m for m in self.metrics if m in GENERATIVE_METRICS]

    @property
    def multiple_choice_metrics(self) -> list[str]:
        """MC metrics, with BIG-bench's automatic calibration metrics after multiple_choice_grade."""
        from pytest_lmbench.core.scoring.metrics import MULTIPLE_CHOICE_METRICS

        found = [m for m in self.metrics if m in MULTIPLE_CHOICE_METRICS]
        if "multiple_choice_grade" in found:
            for extra in ("calibration_multiple_choice_brier_score", "expected_calibration_error"):
                if extra not in found:
                    found.append(extra)
        return found

    @property
    def scoring_metrics(self) -> list[str]:
        from pytest_lmbench.core.scoring.metrics import SCORING_METRICS

        return [m for m in self.metrics if m in SCORING_METRICS]

    @property
    def produced_metrics(self) -> set[str]:
        """Every score name the task reports (BIG-bench's, plus stated-confidence calibration when asked for)."""
        from pytest_lmbench.core.scoring.confidence import CONFIDENCE_METRICS
        from pytest_lmbench.core.scoring.metrics import produced_metric_names

        extra = set(CONFIDENCE_METRICS) if self.verbalized_confidence else set()
        if self.judge is not None:
            extra |= set(PAIRWISE_SCORES if self.judge.mode == "pairwise" else JUDGE_SCORES)
        if self.repeats is not None and self.repeats.on:
            extra |= set(reducer_names(self.repeats.k, self.repeats.ks(), binary=True))
        return produced_metric_names(self.metrics) | extra

    def leaves(self) -> list[Task]:
        return list(self.subtasks) if self.subtasks else [self]

    def with_judge_mode(self, mode: str) -> Task:
        """This task with its judge (and its subtasks' judges) in ``mode`` (``--lm-judge-mode``): a preferred
        judge score becomes the other mode's (judge_score <-> judge_win_rate). A TaskFormatError names the file
        and the judge field that does not fit the mode."""
        if self.subtasks:
            return dataclasses.replace(self, subtasks=[t.with_judge_mode(mode) for t in self.subtasks])
        if self.judge is None or self.judge.mode == mode:
            return self
        try:
            judge = with_mode(self.judge, mode, "lmbench.judge")
        except ValueError as exc:
            field_name, _, problem = str(exc).partition(": ")
            raise TaskFormatError(self.path or self.name, field_name, problem) from None
        preferred = self.preferred_score
        if preferred in mode_scores(self.judge.mode):
            preferred = mode_scores(mode)[0]
        return dataclasses.replace(self, judge=judge, preferred_score=preferred)


# one encoder (json.dumps with options builds a new one per call); the same text as
# json.dumps(raw, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
_UID_ENCODER = json.JSONEncoder(sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def example_uid(task_name: str, raw: dict[str, Any]) -> str:
    """A stable id for an example: hash of the task name and the example's content.

    Independent of the example's position, so baselines still match after examples are reordered.
    """
    payload = _UID_ENCODER.encode(raw)
    return hashlib.sha256(f"{task_name}\x00{payload}".encode()).hexdigest()[:16]
