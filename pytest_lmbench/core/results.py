"""Result records, BIG-bench's aggregation of subtasks, and the JSON report (``Report``: written atomically,
read back whole).

Everything here serialises to builtin types only: results travel from xdist workers to the controller
inside pytest's own report serialisation, where a numpy scalar would abort the run.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import statistics
import tempfile
from dataclasses import dataclass, field
from typing import Any, Literal, TypedDict, get_args

from pytest_lmbench.core.scoring.metrics import normalized_score

SCHEMA_VERSION = 1

#: What became of an item: ``passed``/``failed`` a threshold, ``inconclusive`` (the score clears a threshold,
#: its one-sided 95% bound does not), ``regressed`` (significantly worse than the baseline), ``scored`` (no
#: threshold), ``error`` (the model or the task file failed), ``skipped``.
Outcome = Literal["passed", "failed", "inconclusive", "regressed", "scored", "error", "skipped"]
OUTCOMES: tuple[Outcome, ...] = get_args(Outcome)
#: Worst first: how results are listed, and which outcome a parent's aggregate takes from its subtasks.
OUTCOME_ORDER: dict[str, int] = {o: i for i, o in enumerate(
    ("error", "failed", "regressed", "inconclusive", "skipped", "passed", "scored"))}


class ErrorBar(TypedDict, total=False):
    """One score's error bars (``uncertainty.py``): standard error, 95% interval, how they were computed, the
    values the score can take (None: unbounded), and why there is no interval when there is none."""

    stderr: float | None
    ci95: list[float] | None
    method: str
    bounds: list[float] | None
    note: str


#: A comparison's verdict: a gate's ("regressed" / "no regression") or an informative one's.
Verdict = Literal["regressed", "no regression", "worse", "better", "no difference", "not compared"]


class ComparisonDict(TypedDict):
    """One comparison as results carry it (``compare.Comparison.to_dict()``): builtin types only, it travels
    in xdist reports and the JSON report."""

    task: str
    model: str
    shots: int
    against: str
    metric: str
    candidate: float | None
    baseline: float | None
    delta: float | None
    stderr: float | None
    ci95: list[float] | None
    p_two_sided: float | None
    p_worse: float | None
    p_adjusted: float | None
    method: str | None
    margin: float
    n_matched: int
    only_candidate: int
    only_baseline: int
    newly_failing: list[dict[str, Any]]
    n_newly_failing: int
    n_newly_passing: int
    verdict: Verdict
    message: str | None
    gating: bool


@dataclass
class ExampleResult:
    """One example as scored: what was asked, what was expected, what came back, and its scores."""

    id: str
    index: int
    prompt: str
    targets: list[str]
    response: str | None = None
    raw_response: str | None = None
    choices: list[str] | None = None
    log_probs: list[float] | None = None
    target_scores: dict[str, float] | None = None
    target_log_probs: list[float] | None = None
    scores: dict[str, float] = field(default_factory=dict)
    score: float | None = None  # the preferred metric's per-example value, where it decomposes
    cluster: str | None = None  # examples with the same cluster are not independent (e.g. samples of one question)
    confidence_text: str | None = None  # the model's reply when asked for its confidence
    picked: str | None = None  # mc=letters: the option the answer named (None: unreadable); no log-probs then
    messages: list[dict[str, str]] | None = None  # chat models: the conversation (``prompt`` is its rendered text)
    #: with repeats (``repeats.py``): each repeat's answer ({"response", "raw_response"} or {"picked"}), its
    #: preferred score ("score") and whether it is right ("correct", where the metric says right or wrong)
    samples: list[dict[str, Any]] | None = None
    #: graded by a judge model (``scoring/judge.py``): {"prompt", "text", "grade", "weighted"} (grade None: the
    #: verdict could not be read)
    judge: dict[str, Any] | None = None
    #: scored by another framework's own scorers (Inspect): {scorer: {"value", "answer", "explanation"}}
    scorer: dict[str, Any] | None = None

    @property
    def chosen(self) -> str | None:
        if self.log_probs is None:
            return self.picked
        if self.choices is None:
            return None
        from pytest_lmbench.core.scoring.metrics import hashed_argmax

        return self.choices[hashed_argmax(self.log_probs)]

    @property
    def answer(self) -> str | None:
        """What the model answered: the option it chose (multiple choice), else its post-processed response."""
        return self.chosen if self.choices is not None else self.response

    @property
    def picked_best(self) -> bool | None:
        """Multiple choice: whether the pick is a best-scored option (None for other examples)."""
        if self.choices is None or not self.target_scores:
            return None
        return is_best(self.target_scores, self.chosen or "")


def is_best(target_scores: dict[str, float] | None, pick: str) -> bool:
    """Whether ``pick`` is a best-scored option of a multiple-choice example (what right means for it)."""
    if not target_scores:
        return False
    return target_scores.get(pick, 0.0) >= max(target_scores.values())


@dataclass
class TaskResult:
    """The result of one task (or parent aggregate) for one model and shot count."""

    task: str
    model: str
    shots: int
    n_examples: int
    scores: dict[str, float]
    preferred_score: str
    low_score: float
    high_score: float
    nodeid: str | None = None
    path: str | None = None
    model_spec: str | None = None
    parent: str | None = None
    #: every subtask of ``parent``, run or not (set at collection): what makes a parent's aggregate complete.
    #: Carried on each result so that the process that aggregates (an xdist controller never collects) knows.
    parent_subtasks: list[str] = field(default_factory=list)
    #: how ``parent``'s aggregate is computed, declared by whoever makes the result: None, BIG-bench's
    #: ``add_aggregate_scores`` (``aggregate`` below); "lmeval", an lm-eval group by lm-eval's own rules
    #: (``tasks/lmeval.aggregate_group``). Reports written before the field existed: ``Report.from_dict``.
    parent_kind: str | None = None
    keywords: list[str] = field(default_factory=list)
    threshold: dict[str, float] = field(default_factory=dict)
    outcome: Outcome = "scored"
    message: str | None = None
    examples: list[ExampleResult] = field(default_factory=list)
    reliability: list[dict[str, Any]] = field(default_factory=list)  # of the multiple-choice probabilities
    confidence_reliability: list[dict[str, Any]] = field(default_factory=list)  # of stated confidence
    notes: list[str] = field(default_factory=list)
    eval_seconds: float | None = None
    model_load_seconds: float | None = None
    model_info: dict[str, str] = field(default_factory=dict)  # how the model ran here (registry.model_info)
    prompt_format: str = "raw"  # how prompts were framed: "raw", or "chat (its template, few-shot mode, ...)"
    aggregate: bool = False
    subtasks: list[str] = field(default_factory=list)
    complete: bool = True
    errors: dict[str, ErrorBar] = field(default_factory=dict)  # metric -> its error bars
    comparisons: list[ComparisonDict] = field(default_factory=list)  # compare.Comparison.to_dict() each
    cache: dict[str, int] | None = None  # answers from the response cache ("hits") and from the model
    #: BIG-bench programmatic tasks: every ScoreData the task returned, as dicts (``programmatic.py``)
    score_data: list[dict[str, Any]] | None = None
    #: repeated sampling (``repeats.py``): {"k", "temperature", "seeds", "pass_at", "metric"}; None for one answer
    repeats: dict[str, Any] | None = None
    #: what the item cost (``usage.UsageDict``): tokens, model calls and seconds, cache hits, money
    usage: dict[str, Any] | None = None
    #: sha256 (first 16 hex digits) of the task's file as it ran (``path``): a merge refuses two versions of a task
    source_digest: str | None = None
    #: the outcome and message before the --lm-baseline gate changed them to "regressed", so that a gate can be
    #: decided again on stored reports (``compare.ungated``: diff, merge); None when the gate changed nothing
    before_gate: dict[str, Any] | None = None

    @classmethod
    def placeholder(cls, task: str, model: str, outcome: Outcome, message: str | None, **fields: Any) -> TaskResult:
        """A result with no scores, for an item that errored, was skipped or was lost with a crashed worker:
        the summary and the report show it instead of dropping it."""
        return cls(task=task, model=model, shots=fields.pop("shots", 0), n_examples=0, scores={},
                   preferred_score="", low_score=0.0, high_score=1.0, outcome=outcome, message=message, **fields)

    @property
    def preferred_value(self) -> float | None:
        return self.scores.get(self.preferred_score)

    @property
    def normalized_preferred_score(self) -> float | None:
        value = self.preferred_value
        if value is None:
            return None
        return normalized_score(value, self.low_score, self.high_score)

    def to_dict(self, *, builtin: bool = True) -> dict[str, Any]:
        """The result as a dict of builtin types (what crosses from xdist workers). ``builtin=False``: a shallow
        view sharing this result's containers, for writing JSON at once (``write_json_atomic`` converts what
        json cannot encode itself)."""
        # Shallow field copies; _builtin makes the new containers (asdict's deep copy doubled the cost for
        # large tasks).
        data = {name: getattr(self, name) for name in self.__dataclass_fields__}
        data["examples"] = [ex.__dict__ for ex in self.examples]
        data["preferred_value"] = self.preferred_value
        data["normalized_preferred_score"] = self.normalized_preferred_score
        return _builtin(data) if builtin else data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TaskResult:
        data = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        data["examples"] = [ExampleResult(**{k: v for k, v in e.items() if k in ExampleResult.__dataclass_fields__})
                            for e in data.get("examples", [])]
        return cls(**data)


_SCALARS = frozenset({str, float, int, bool, type(None)})


def _builtin(value: Any) -> Any:
    """Deep-convert to builtin JSON types (numpy scalars and tuples included). Containers that already hold
    only builtin scalars are copied at C speed (a report can hold tens of thousands of examples)."""
    kind = type(value)
    if kind in _SCALARS:
        return value
    if kind is dict:
        if set(map(type, value.values())) <= _SCALARS and set(map(type, value)) <= {str}:
            return dict(value)
        return {k if type(k) is str else str(k): _builtin(v) for k, v in value.items()}
    if kind is list or kind is tuple:
        if set(map(type, value)) <= _SCALARS:
            return list(value)
        return [_builtin(v) for v in value]
    return _builtin_other(value)


def _builtin_other(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _builtin(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_builtin(v) for v in value]
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if hasattr(value, "tolist"):  # numpy scalar or array
        return _builtin(value.tolist())
    return str(value)


def aggregate(parent: str, results: list[TaskResult], expected_subtasks: list[str] | None = None) -> TaskResult:
    """A parent's aggregate for one model and shot count, as BIG-bench's ``add_aggregate_scores`` computes
    it: each metric is the unweighted mean over the subtasks that report it, plus
    ``normalized_aggregate_score``; the preferred score is the mean grade when every subtask prefers
    multiple_choice_grade, else the normalized aggregate score."""
    first = results[0]
    metrics = sorted(set().union(*(r.scores for r in results)))
    scores = {m: statistics.mean(r.scores[m] for r in results if m in r.scores) for m in metrics}
    scores["normalized_aggregate_score"] = statistics.mean(
        (r.scores[r.preferred_score] - r.low_score) / (r.high_score - r.low_score) for r in results) * 100
    if {r.preferred_score for r in results} == {"multiple_choice_grade"}:
        preferred, low, high = "multiple_choice_grade", statistics.mean(r.low_score for r in results), 1.0
    else:
        preferred, low, high = "normalized_aggregate_score", 0.0, 100.0
    names = [r.task for r in results]
    complete = expected_subtasks is None or set(expected_subtasks) <= set(names)
    notes = [] if complete else [
        f"aggregate over {len(names)} of {len(expected_subtasks or [])} subtasks (others were not run)"]
    return TaskResult(
        task=parent, model=first.model, shots=first.shots, n_examples=sum(r.n_examples for r in results),
        scores=scores, preferred_score=preferred, low_score=low, high_score=high, model_spec=first.model_spec,
        keywords=list(first.keywords), aggregate=True, subtasks=names, complete=complete, notes=notes,
        outcome=aggregate_outcome(results),
    )


def aggregate_outcome(results: list[TaskResult]) -> Outcome:
    """A parent's outcome: the worst of its subtasks'."""
    outcomes = {r.outcome for r in results}
    for worst in ("error", "failed", "regressed", "inconclusive"):
        if worst in outcomes:
            return worst  # type: ignore[return-value]  # one of Outcome's, by the loop
    return "passed" if outcomes == {"passed"} else "scored"


def dumps_json(value: Any, *, allow_nan: bool = True, separators: tuple[str, str] | None = None) -> str:
    """``value`` as JSON text (not ASCII-escaped), whatever builtin or numpy types it holds: what json cannot
    encode itself is converted as ``_builtin`` converts it. ``allow_nan=False``: a ValueError for NaN/infinity."""
    try:
        return json.dumps(value, ensure_ascii=False, allow_nan=allow_nan, separators=separators,
                          default=_json_default)
    except TypeError:  # e.g. a dict key json cannot encode: convert everything first
        return json.dumps(_builtin(value), ensure_ascii=False, allow_nan=allow_nan, separators=separators)


def write_json_atomic(path: str | os.PathLike[str], data: Any) -> None:
    """Write JSON so that readers never see a half-written file (temp file in the same dir + rename).

    Top-level keys one per line and each entry of a top-level list on its own line: readable and diffable,
    and every line is written by json's C encoder (``indent`` switches to the pure-Python one, 10x slower
    on reports with tens of thousands of examples)."""
    if not isinstance(data, dict):
        write_text_atomic(path, dumps_json(data) + "\n")
        return
    lines = []
    for key, value in data.items():
        if isinstance(value, list) and value:
            body = ",\n  ".join(dumps_json(v) for v in value)
            lines.append(f"{dumps_json(key)}: [\n  {body}\n]")
        else:
            lines.append(f"{dumps_json(key)}: {dumps_json(value)}")
    write_text_atomic(path, "{\n" + ",\n".join(lines) + "\n}\n")


def _json_default(value: Any) -> Any:
    """What json's encoder cannot write itself (numpy scalars and arrays, sets): as ``_builtin`` converts it."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, (set, frozenset)):
        return list(value)
    converted = _builtin_other(value)
    if converted is value:
        raise TypeError(f"{type(value).__name__} is not JSON serializable")
    return converted


def write_text_atomic(path: str | os.PathLike[str], text: str) -> None:
    """Write a text file so that readers never see it half-written (temp file in the same dir + rename)."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".lmbench-", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp's 0600 would hide reports from the CI user that uploads them
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


class ReportError(Exception):
    """A report file that cannot be read back (as a baseline, or to be shown, compared or merged)."""


#: The top-level keys of a report that ``Report`` has fields for, in the order they are written.
_REPORT_KEYS = ("schema_version", "complete", "models", "shots", "max_examples", "aggregates", "results")


@dataclass
class Report:
    """A --lm-report file, whole: what it is written from and what it reads back as, so that tools without
    pytest (show, diff, merge) can recompute run-level results (``core/run.py``) from it. ``load(save(r)) == r``
    for every field; keys of another version that this one has no field for are kept in ``extra``, written back
    before ``results``. The derived ``preferred_value`` and ``normalized_preferred_score`` of each result are
    written by ``TaskResult.to_dict`` and recomputed, not read."""

    schema_version: int = SCHEMA_VERSION
    complete: bool = True  # false: the run was interrupted or stopped by a budget
    models: list[str] = field(default_factory=list)  # the run's model specs, secrets masked
    shots: list[int] = field(default_factory=list)
    max_examples: int | None = None
    aggregates: list[dict[str, Any]] = field(default_factory=list)  # aggregates.GroupScore.to_dict() each
    results: list[TaskResult] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self, *, builtin: bool = True) -> dict[str, Any]:
        """The report's JSON content; ``builtin=False`` shares the results' containers (to be written at once)."""
        clash = set(self.extra) & set(_REPORT_KEYS)
        if clash:
            raise ValueError(f"Report.extra may not hold {', '.join(sorted(clash))}: they are its fields")
        data: dict[str, Any] = {"schema_version": self.schema_version, "complete": self.complete,
                                "models": self.models, "shots": self.shots, "max_examples": self.max_examples,
                                "aggregates": self.aggregates, **self.extra}
        if builtin:
            data = _builtin(data)
        data["results"] = [r.to_dict(builtin=builtin) for r in self.results]
        return data

    @classmethod
    def from_dict(cls, data: Any, name: str = "report") -> Report:
        """A report's JSON content, checked: a ReportError that names the report (``name``) and what to do.
        Keys it lacks (a report of an earlier version) take the field's default."""
        if not isinstance(data, dict) or not isinstance(data.get("results"), list):
            raise ReportError(f"{name}: not a pytest-lmbench report (no 'results' list); write one with --lm-report")
        version = data.get("schema_version")
        if not isinstance(version, int) or version > SCHEMA_VERSION:
            raise ReportError(f"{name}: schema_version {version!r} is not one this pytest-lmbench reads (<= "
                              f"{SCHEMA_VERSION}); upgrade pytest-lmbench or regenerate the report")
        results = []
        for i, row in enumerate(data["results"]):
            try:
                result = TaskResult.from_dict(row)
            except (TypeError, KeyError, AttributeError) as exc:
                raise ReportError(f"{name}: results[{i}] is not a task result ({exc}); regenerate the report") from None
            if "parent_kind" not in row:
                result.parent_kind = _old_parent_kind(result)
            results.append(result)
        known = {k: data[k] for k in _REPORT_KEYS[1:-1] if k in data}
        return cls(schema_version=version, results=results, **known,
                   extra={k: v for k, v in data.items() if k not in _REPORT_KEYS})

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the report as --lm-report does (atomically, one result per line)."""
        write_json_atomic(path, self.to_dict(builtin=False))

    @classmethod
    def load(cls, path: str | os.PathLike[str], shown: str | None = None) -> Report:
        """A report written by --lm-report (or ``save``), checked: a ReportError that names the file (as
        ``shown``, default ``path``) and what to do."""
        name = shown or os.fspath(path)
        try:
            with open(path, encoding="utf-8") as fh:
                data = json.load(fh)
        except FileNotFoundError:
            raise ReportError(f"{name}: no such file (write one with --lm-report={os.path.basename(name)})") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ReportError(f"{name}: cannot be read ({exc})") from None
        except json.JSONDecodeError as exc:
            raise ReportError(f"{name}: not valid JSON (line {exc.lineno}: {exc.msg}); is it a --lm-report file?") \
                from None
        return cls.from_dict(data, name)


def _old_parent_kind(result: TaskResult) -> str | None:
    """A result read from a report written before ``parent_kind`` existed: an lm-eval group's tasks were then
    told apart by their config's path (a YAML file), which is what this version declares as "lmeval"."""
    if result.parent and (result.path or "").endswith((".yaml", ".yml")):
        return "lmeval"
    return None


def source_digest(path: str) -> str | None:
    """The first 16 hex digits of the sha256 of the file at ``path`` (None: not a readable file), computed once per
    version of the file (its size and modification time)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return _digest(os.path.abspath(path), st.st_size, st.st_mtime_ns) if os.path.isfile(path) else None


@functools.lru_cache(maxsize=1024)
def _digest(path: str, size: int, mtime_ns: int) -> str | None:
    try:
        with open(path, "rb") as fh:
            return hashlib.sha256(fh.read()).hexdigest()[:16]
    except OSError:
        return None


def load_report(path: str, shown: str | None = None) -> list[TaskResult]:
    """The results of a report written by --lm-report (``Report.load``: the same checks and messages)."""
    return Report.load(path, shown).results
