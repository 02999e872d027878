"""Loading and validating BIG-bench JSON task files, with BIG-bench 1.0.0's semantics.

Every problem becomes one :class:`TaskFormatError` naming the file, the field (or example index) and the
fix. Semantics follow ``bigbench/api/json_task.py`` of BIG-bench 1.0.0, including its quirks:

* duplicate examples (same ``json.dumps``) are dropped, keeping the first;
* ``low_score``/``high_score`` in the file are recorded but, as in BIG-bench, the normalisation range comes
  from the preferred metric (chance level for multiple choice);
* the older ``prefix``/``input_prefix`` keys are accepted and, as in BIG-bench 1.0.0, not used in prompts.
"""

from __future__ import annotations

import json
import math
import os
import re
from typing import Any, cast

from pytest_lmbench.core import gcpause
from pytest_lmbench.core.errors import TaskFormatError
from pytest_lmbench.core.repeats import DEFAULT_TEMPERATURE, Repeats
from pytest_lmbench.core.scoring.judge import (
    JUDGE_SCORES,
    PAIRWISE_SCORES,
    VALIDATION_SCORES,
    JudgeSpec,
    parse_judge,
)
from pytest_lmbench.core.scoring.metrics import (
    ALL_METRICS,
    MULTIPLE_CHOICE_METRICS,
    SCORE_RANGES,
    produced_metric_names,
)
from pytest_lmbench.core.tasks.model import CORRECTNESS_SCORES, Example, Task, VerbalizedConfidence

DEFAULT_OUTPUT_REGEX = r"[^\.\?\!\;\n]+"

_STRING_FIELDS = (
    "task_prefix",
    "example_input_prefix",
    "example_output_prefix",
    "choice_prefix",
    "few_shot_example_separator",
    "stop_string",
    "output_regex",
    "prefix",
    "input_prefix",
)


def read_json(path: str | os.PathLike[str]) -> Any:
    """Read a JSON file, turning every decoding problem into a TaskFormatError."""
    path = str(path)
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        raise TaskFormatError(path, None, f"cannot read the file ({exc.strerror})") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise TaskFormatError(
            path, None, f"invalid UTF-8 at byte {exc.start}", "save the file as UTF-8"
        ) from None
    del data
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise TaskFormatError(
            path, None, f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}",
            "fix the JSON syntax (a JSON linter shows the spot)",
        ) from None
    except RecursionError:
        raise TaskFormatError(
            path, None, "the JSON is nested too deeply to be a task file",
            "a task file is an object with a list of flat example objects",
        ) from None


def is_parent_task_file(path: str | os.PathLike[str]) -> bool:
    """True when ``path`` is a parent task (a task.json without ``examples``). Cheap: no validation."""
    try:
        data = read_json(path)
    except TaskFormatError:
        return False
    return isinstance(data, dict) and "examples" not in data


def load_task_name(path: str | os.PathLike[str]) -> str:
    """A task file's name as BIG-bench names it (the ``name`` field, ASCII-only), without validating the rest."""
    data = read_json(path)
    name = data.get("name") if isinstance(data, dict) else None
    if not isinstance(name, str) or not name.strip():
        name = os.path.basename(os.path.dirname(os.path.abspath(path)))
    return _ascii_name(name)


def subtask_files(directory: str | os.PathLike[str], file_name: str = "task.json") -> list[str]:
    """The task files of a parent's subdirectories, in BIG-bench's order (sorted paths)."""
    directory = os.path.abspath(directory)
    found = []
    for entry in os.listdir(directory):
        candidate = os.path.join(directory, entry, file_name)
        if os.path.isdir(os.path.join(directory, entry)) and os.path.isfile(candidate):
            found.append(candidate)
    return sorted(found)


def load_task(path: str | os.PathLike[str], *, parent: str | None = None) -> Task:
    """Load and validate a task file; a parent task comes back with its subtasks loaded."""
    path = str(path)
    with gcpause.paused():  # a large file is hundreds of thousands of objects, none in a cycle
        data = read_json(path)
        return task_from_dict(data, path, parent=parent)


def _ascii_name(name: str) -> str:
    # BIG-bench: "unicode causing errors in some environments"
    return name.encode("ascii", errors="replace").decode()


def task_from_dict(data: Any, path: str, *, parent: str | None = None) -> Task:
    """Validate a decoded task file and build a :class:`Task`."""
    if not isinstance(data, dict):
        raise TaskFormatError(path, None, f"the top level is a JSON {_json_type(data)}, not an object",
                              'a task file is an object: {"name": ..., "metrics": [...], "examples": [...]}')
    raw_name = data.get("name", os.path.basename(os.path.dirname(os.path.abspath(path))))
    if not isinstance(raw_name, str) or not raw_name.strip():
        raise TaskFormatError(path, "name", f"must be a non-empty string, not {_json_repr(raw_name)}",
                              "give the task a name")
    name = _ascii_name(raw_name)
    full_name = f"{parent}:{name}" if parent else name

    keywords = data.get("keywords", [])
    if not isinstance(keywords, list) or not all(isinstance(k, str) for k in keywords):
        raise TaskFormatError(path, "keywords", "must be a list of strings", 'e.g. "keywords": ["arithmetic"]')
    description = data.get("description", "")
    if not isinstance(description, str):
        raise TaskFormatError(path, "description", "must be a string")
    for key in _STRING_FIELDS:
        if key in data and not isinstance(data[key], str):
            if key == "task_prefix" and data[key] is not None:
                continue  # BIG-bench applies str() to it
            raise TaskFormatError(path, key, f"must be a string, not {_json_repr(data[key])}")
    notes = []
    for key in ("append_choices_to_input", "absolute_normalization"):
        if key in data and not isinstance(data[key], bool):
            if not isinstance(data[key], (str, int)) or isinstance(data[key], float):
                raise TaskFormatError(path, key, f"must be true or false, not {_json_repr(data[key])}")
            # BIG-bench tests the value's truthiness: the string "false" (seen in real tasks) means true.
            notes.append(f"{key} is {_json_repr(data[key])}, which BIG-bench reads as {bool(data[key])}; "
                         f"so does pytest-lmbench (write {str(bool(data[key])).lower()} to make it explicit)")
    declared_range = None
    if "low_score" in data or "high_score" in data:
        low, high = data.get("low_score", 0.0), data.get("high_score", 1.0)
        for key, value in (("low_score", low), ("high_score", high)):
            if not _is_number(value):
                raise TaskFormatError(path, key, f"must be a number, not {_json_repr(value)}")
        declared_range = (float(low), float(high))
    thresholds, marks = _lmbench_block(data, path)
    repeats = _repeats(data, path)
    judge = _judge(data, path)

    if "examples" not in data:
        if data.get("lmbench", {}).get("verbalized_confidence"):
            raise TaskFormatError(path, "lmbench.verbalized_confidence", "is for tasks with examples, and this is a "
                                  "parent task", "set it in the task.json of each subtask that should ask")
        task = _parent_task(data, path, full_name, name, description, keywords, thresholds, marks, parent)
        task.repeats = repeats
        for sub in task.subtasks:  # a parent's repeats are its subtasks' unless they say otherwise
            sub.repeats = sub.repeats or repeats
        return task

    task = Task(name=full_name, path=path, description=description, keywords=list(keywords),
                declared_score_range=declared_range, thresholds=thresholds, marks=marks, parent=parent,
                notes=notes, repeats=repeats, judge=judge)
    _fill_format(task, data, path)
    _fill_metrics(task, data, path)
    _fill_examples(task, data, path)
    _fill_score_range(task, path)
    task.verbalized_confidence = _verbalized_confidence(data, path, task.preferred_score)
    validated = set(VALIDATION_SCORES) if task.judge is not None and task.judge.validation else set()
    for metric in thresholds:
        if metric not in task.produced_metrics | validated:
            raise TaskFormatError(path, f"lmbench.threshold.{metric}",
                                  f"the task does not compute {metric!r}",
                                  f"use one of: {', '.join(sorted(task.produced_metrics))}")
    return task


def _parent_task(data: dict, path: str, full_name: str, name: str, description: str,
                 keywords: list[str], thresholds: dict, marks: list[str], parent: str | None) -> Task:
    if parent is not None:
        raise TaskFormatError(path, "examples", "a subtask must have examples (subtasks do not nest)",
                              "add an \"examples\" list to this subtask")
    files = subtask_files(os.path.dirname(os.path.abspath(path)), os.path.basename(path))
    if not files:
        raise TaskFormatError(path, "examples",
                              "the file has no examples and its subdirectories hold no task files",
                              "add an \"examples\" list, or put subtasks in subdirectories (sub/task.json)")
    subtasks = [load_task(f, parent=full_name) for f in files]
    seen: dict[str, str] = {}
    for sub in subtasks:
        if sub.name in seen:
            raise TaskFormatError(sub.path, "name", f"subtask name {sub.name!r} is also used by {seen[sub.name]}",
                                  "give every subtask a distinct name")
        seen[sub.name] = sub.path
    return Task(name=full_name, path=path, description=description, keywords=list(keywords),
                subtasks=subtasks, thresholds=thresholds, marks=marks)


def _lmbench_block(data: dict, path: str) -> tuple[dict[str, float], list[str]]:
    block = data.get("lmbench", {})
    if not isinstance(block, dict):
        raise TaskFormatError(path, "lmbench", "must be an object", '{"threshold": {"multiple_choice_grade": 0.5}}')
    unknown = set(block) - {"threshold", "marks", "verbalized_confidence", "judge", *REPEAT_KEYS}
    if unknown:
        raise TaskFormatError(path, "lmbench", f"unknown key(s) {sorted(unknown)}",
                              "known keys: threshold, marks, verbalized_confidence, judge, " + ", ".join(REPEAT_KEYS))
    threshold = block.get("threshold", {})
    if not isinstance(threshold, dict):
        raise TaskFormatError(path, "lmbench.threshold", "must be an object of metric -> number",
                              '{"multiple_choice_grade": 0.5}')
    for metric, value in threshold.items():
        if not _is_number(value):
            raise TaskFormatError(path, f"lmbench.threshold.{metric}", f"must be a number, not {_json_repr(value)}")
    marks = block.get("marks", [])
    if not isinstance(marks, list) or not all(isinstance(m, str) and m.isidentifier() for m in marks):
        raise TaskFormatError(path, "lmbench.marks", "must be a list of marker names (identifiers)",
                              '"marks": ["slow"]')
    return {k: float(v) for k, v in threshold.items()}, list(marks)


REPEAT_KEYS = ("repeats", "temperature", "seed", "pass_at")


def _judge(data: dict, path: str) -> JudgeSpec | None:
    """``lmbench.judge``: the rubric and scale a judge model grades the answers by (``scoring/judge.py``)."""
    block = data.get("lmbench", {})
    if "judge" not in block:
        return None
    if "examples" not in data:
        raise TaskFormatError(path, "lmbench.judge", "is for tasks with examples, and this is a parent task",
                              "set it in the task.json of each subtask to be judged")
    try:
        return parse_judge(block["judge"], "lmbench.judge")
    except ValueError as exc:
        field_name, _, problem = str(exc).partition(": ")
        raise TaskFormatError(path, field_name, problem) from None


def _repeats(data: dict, path: str) -> Repeats | None:
    """``lmbench.repeats`` (K), ``temperature`` (default 1.0), ``seed`` (repeat i samples with seed + i) and
    ``pass_at`` (the k of pass@k): None when the block says nothing of repeats."""
    block = data.get("lmbench", {})
    if not any(key in block for key in REPEAT_KEYS):
        return None
    k = block.get("repeats", 1)
    if not isinstance(k, int) or isinstance(k, bool) or k < 1:
        raise TaskFormatError(path, "lmbench.repeats", f"must be a whole number of 1 or more, not {_json_repr(k)}",
                              '"repeats": 8')
    temperature = block.get("temperature", DEFAULT_TEMPERATURE)
    if not _is_number(temperature) or not temperature >= 0:
        raise TaskFormatError(path, "lmbench.temperature", f"must be a number of 0 or more, not "
                              f"{_json_repr(temperature)}", '"temperature": 1.0')
    seed = block.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise TaskFormatError(path, "lmbench.seed", f"must be a whole number, not {_json_repr(seed)}", '"seed": 0')
    pass_at = block.get("pass_at", [])
    if not isinstance(pass_at, list) or not all(isinstance(x, int) and not isinstance(x, bool) and x >= 1
                                                 for x in pass_at):
        raise TaskFormatError(path, "lmbench.pass_at", f"must be a list of whole numbers of 1 or more, not "
                              f"{_json_repr(pass_at)}", '"pass_at": [1, 5]')
    return Repeats(k=k, temperature=float(temperature), seed=seed, pass_at=tuple(pass_at))


def _verbalized_confidence(data: dict, path: str, preferred: str) -> VerbalizedConfidence | None:
    """``lmbench.verbalized_confidence``: true (the defaults) or {"prompt", "max_tokens", "words"}."""
    value = data.get("lmbench", {}).get("verbalized_confidence", False)
    field_name = "lmbench.verbalized_confidence"
    if value is False or value is None:
        return None
    if value is not True and not isinstance(value, dict):
        raise TaskFormatError(path, field_name, f"must be true or an object, not {_json_repr(value)}",
                              '"verbalized_confidence": {"prompt": "\\nConfidence: ", "words": {"high": 0.9}}')
    if preferred not in CORRECTNESS_SCORES:
        raise TaskFormatError(path, field_name, f"needs a right/wrong preferred score, and {preferred!r} is not one",
                              f"use it on tasks that prefer one of: {', '.join(sorted(CORRECTNESS_SCORES))}")
    if value is True:
        return VerbalizedConfidence()
    unknown = set(value) - {"prompt", "max_tokens", "words"}
    if unknown:
        raise TaskFormatError(path, field_name, f"unknown key(s) {sorted(unknown)}", "known keys: prompt, "
                              "max_tokens, words")
    default = VerbalizedConfidence()
    prompt = value.get("prompt", default.prompt)
    if not isinstance(prompt, str) or not prompt:
        raise TaskFormatError(path, f"{field_name}.prompt", "must be a non-empty string",
                              '"prompt": "\\nConfidence (0% to 100%): "')
    max_tokens = value.get("max_tokens", default.max_tokens)
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
        raise TaskFormatError(path, f"{field_name}.max_tokens", f"must be a whole number >= 1, not "
                              f"{_json_repr(max_tokens)}")
    words = value.get("words")
    if words is not None:
        if not isinstance(words, dict) or not words:
            raise TaskFormatError(path, f"{field_name}.words", "must be an object of word -> probability",
                                  '"words": {"low": 0.2, "medium": 0.5, "high": 0.8}')
        for word, prob in words.items():
            if not _is_number(prob) or not 0 <= float(prob) <= 1:
                raise TaskFormatError(path, f"{field_name}.words.{word}",
                                      f"must be a probability between 0 and 1, not {_json_repr(prob)}")
        words = {str(w).lower(): float(p) for w, p in words.items()}
    return VerbalizedConfidence(prompt=prompt, max_tokens=max_tokens, words=words)


def _fill_format(task: Task, data: dict, path: str) -> None:
    task.task_prefix = str(data.get("task_prefix", ""))
    task.example_input_prefix = data.get("example_input_prefix", "\nQ: ")
    task.example_output_prefix = data.get("example_output_prefix", "\nA: ")
    task.choice_prefix = data.get("choice_prefix", "\n  choice: ")
    task.append_choices_to_input = bool(data.get("append_choices_to_input", True))
    task.few_shot_example_separator = data.get("few_shot_example_separator", "\n")
    task.absolute_normalization = bool(data.get("absolute_normalization", False))
    task.stop_string = data.get("stop_string")
    task.output_regex = data.get("output_regex")
    if task.output_regex is None and task.stop_string is None:
        task.output_regex = DEFAULT_OUTPUT_REGEX
    if task.output_regex is not None:
        try:
            compiled = re.compile(task.output_regex)
        except re.error as exc:
            raise TaskFormatError(path, "output_regex", f"invalid regular expression: {exc}",
                                  "fix the pattern (remember JSON needs \\\\ for a backslash)") from None
        if compiled.groups > 1:
            raise TaskFormatError(path, "output_regex",
                                  f"has {compiled.groups} capturing groups; at most one is allowed",
                                  "use non-capturing groups: (?:...)")


def _fill_metrics(task: Task, data: dict, path: str) -> None:
    metrics = data.get("metrics")
    judged = task.judge is not None  # a judged task may have no metric of its own: "metrics": []
    if metrics is None:
        raise TaskFormatError(path, "metrics", "is missing", 'add e.g. "metrics": ["exact_str_match"]')
    if not isinstance(metrics, list) or not (metrics or judged) or not all(isinstance(m, str) for m in metrics):
        raise TaskFormatError(path, "metrics", "must be a non-empty list of metric names",
                              f"known metrics: {', '.join(ALL_METRICS)}")
    for metric in metrics:
        if metric not in ALL_METRICS:
            raise TaskFormatError(path, "metrics", f"unknown metric {metric!r}",
                                  f"known metrics: {', '.join(ALL_METRICS)}")
    task.metrics = list(dict.fromkeys(metrics))
    judge_scores = set(PAIRWISE_SCORES if task.judge is not None and task.judge.mode == "pairwise" else JUDGE_SCORES)
    produced = produced_metric_names(task.metrics) | (judge_scores - {"judge_unparsed"} if judged else set())
    preferred = data.get("preferred_score")
    if preferred is None:
        raise TaskFormatError(path, "preferred_score", "is missing",
                              f"set it to one of: {', '.join(sorted(produced))}")
    if preferred == "rouge":
        raise TaskFormatError(path, "preferred_score", "'rouge' is not a single score",
                              "use 'rouge1', 'rouge2' or 'rougeLsum'")
    if not isinstance(preferred, str) or preferred not in produced:
        raise TaskFormatError(path, "preferred_score", f"{_json_repr(preferred)} is not among the task's metrics",
                              f"use one of: {', '.join(sorted(produced))}")
    if preferred not in SCORE_RANGES:
        ranged = sorted(set(SCORE_RANGES) & produced)
        raise TaskFormatError(path, "preferred_score", f"{preferred!r} has no score range in BIG-bench",
                              f"use one of: {', '.join(ranged)}")
    task.preferred_score = preferred


def _fill_examples(task: Task, data: dict, path: str) -> None:
    examples = data["examples"]
    if not isinstance(examples, list) or not examples:
        raise TaskFormatError(path, "examples", "must be a non-empty list of example objects",
                              '"examples": [{"input": "1+1=", "target": "2"}]')
    needs_scores = bool(set(task.metrics) & set(MULTIPLE_CHOICE_METRICS))
    needs_target = bool(task.generative_metrics or task.scoring_metrics)
    seen: set[str] = set()
    for i, ex in enumerate(examples):
        where = f"examples[{i}]"
        if not isinstance(ex, dict):
            raise TaskFormatError(path, where, f"is a JSON {_json_type(ex)}, not an object",
                                  'each example is {"input": ..., "target": ...} or '
                                  '{"input": ..., "target_scores": {...}}')
        # repr: the same equality as BIG-bench's json.dumps for JSON-read values (key order kept), 3x cheaper
        key = repr(ex)
        if key in seen:
            task.n_duplicates += 1
            continue
        seen.add(key)
        if "input" not in ex:
            raise TaskFormatError(path, where, "has no \"input\"", "add the example's input text")
        if not isinstance(ex["input"], str):
            raise TaskFormatError(path, f"{where}.input", f"must be a string, not {_json_repr(ex['input'])}")
        if "target" not in ex and "target_scores" not in ex:
            raise TaskFormatError(path, where, "has neither \"target\" nor \"target_scores\"",
                                  "add a target string (generative) or target_scores (multiple choice)")
        target = ex.get("target")
        if target is not None or "target" in ex:
            if isinstance(target, str):
                target = [target]
            elif not (isinstance(target, list) and target and all(isinstance(t, str) for t in target)):
                raise TaskFormatError(path, f"{where}.target",
                                      f"must be a string or a non-empty list of strings, not {_json_repr(target)}")
        scores = ex.get("target_scores")
        if "target_scores" in ex:
            if not isinstance(scores, dict) or not scores:
                raise TaskFormatError(path, f"{where}.target_scores",
                                      "must be a non-empty object of choice -> score",
                                      '"target_scores": {"right": 1, "wrong": 0}')
            values = scores.values()
            if not all(type(v) is int or (type(v) is float and math.isfinite(v)) for v in values):
                for choice, value in scores.items():
                    if not _is_number(value):
                        raise TaskFormatError(path, f"{where}.target_scores[{choice!r}]",
                                              f"must be a number, not {_json_repr(value)}")
            if "target" not in ex:
                hi, lo = max(scores.values()), min(scores.values())
                if (len(scores) == 1 and hi == 0) or (len(scores) > 1 and hi <= lo):
                    raise TaskFormatError(path, f"{where}.target_scores",
                                          "no choice scores higher than the others",
                                          "give the correct choice(s) a higher score")
        if needs_scores and scores is None:
            raise TaskFormatError(path, where, "has no \"target_scores\", which multiple-choice metrics need",
                                  "add target_scores, or drop the multiple-choice metrics")
        if needs_target and target is None:
            raise TaskFormatError(path, where, "has no \"target\", which generative and log-likelihood metrics need",
                                  "add a target, or drop those metrics")
        task.examples.append(Example(
            index=len(task.examples), input=ex["input"], target=target,
            target_scores=None if scores is None else {k: float(v) for k, v in scores.items()},
            raw=ex, task_name=task.name,
        ))


def _fill_score_range(task: Task, path: str) -> None:
    low, high = SCORE_RANGES[task.preferred_score]
    if task.preferred_score == "multiple_choice_grade":
        # the preferred score is among the task's metrics, so _fill_examples (run before) required target_scores
        per_example = [cast(dict[str, float], e.target_scores) for e in task.examples]
        low = sum(sum(scores.values()) / len(scores) for scores in per_example) / len(task.examples)
    if high <= low:
        raise TaskFormatError(path, "examples[].target_scores",
                              f"chance level {low:g} is not below the best score {high:g}",
                              "every example needs some wrong choices scored below the right ones")
    task.low_score, task.high_score = float(low), float(high)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _json_type(value: Any) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}.get(
        type(value), "number")


def _json_repr(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 40 else text[:37] + "..."

