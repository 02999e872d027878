"""Task files as pytest collectors, and one item per (leaf task, model, shot count).

The model call and scoring happen in ``setup`` so that a backend failure is an *error*; ``runtest`` only
applies the thresholds, so a low score is a *failure* with a readable message and no traceback.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import os
import re
import sys
from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

import pytest

from pytest_lmbench.core.errors import ConfigError, LmbenchError, TaskFormatError
from pytest_lmbench.core.evaluate import evaluate, per_subtask
from pytest_lmbench.core.gates import judge, resolve_thresholds
from pytest_lmbench.core.models.base import BaseModel
from pytest_lmbench.core.models.cache import CacheCounter
from pytest_lmbench.core.models.registry import ModelSpec
from pytest_lmbench.core.options import EvalOptions
from pytest_lmbench.core.repeats import Repeats, reducer_names
from pytest_lmbench.core.results import Outcome, TaskResult
from pytest_lmbench.core.scoring.judge import VALIDATION_SCORES, panel_metric_names
from pytest_lmbench.core.scoring.metrics import MetricUnavailable
from pytest_lmbench.core.tasks.bigbench import is_parent_task_file, load_task, load_task_name, subtask_files
from pytest_lmbench.core.tasks.model import Task
from pytest_lmbench.core.usage import Usage
from pytest_lmbench.plugin.state import INSPECT_SELECTION, WEIGHT_ATTR, attach, get_state

_TASK_CACHE_KEY = pytest.StashKey["OrderedDict[tuple[str, str | None, int, int], Task]"]()
_TASK_CACHE_SIZE = 4


def load_task_cached(config: pytest.Config, path: str, parent: str | None) -> Task:
    """The last few tasks read in this session (collection and setup share them): items of one file share one
    read, and a process that collects and runs (no xdist) reads a file once; other tasks are read again at run
    time. Kept per session (``config.stash``), not per process: a parent's key does not cover its subtask
    files, so a later session in the same process (pytester's in-process runs) must read them afresh."""
    cache = config.stash.setdefault(_TASK_CACHE_KEY, OrderedDict())
    st = os.stat(path)
    key = (path, parent, st.st_mtime_ns, st.st_size)
    task = cache.get(key)
    if task is None:
        task = load_task(path, parent=parent)
        mode = config.getoption("lm_judge_mode", None)
        if mode is not None:  # --lm-judge-mode: every judged task judged this way
            task = task.with_judge_mode(mode)
        cache[key] = task
        while len(cache) > _TASK_CACHE_SIZE:
            cache.popitem(last=False)
    else:
        cache.move_to_end(key)
    return task


def parent_task_name(path: os.PathLike[str] | str) -> str | None:
    """The parent's name when ``path`` is a subtask file (its parent directory holds a parent task file)."""
    path = os.fspath(path)
    candidate = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(path))), os.path.basename(path))
    if os.path.isfile(candidate) and is_parent_task_file(candidate):
        return load_task_name(candidate)
    return None


def _display_path(path: str, base: str) -> str:
    rel = os.path.relpath(path, base)
    return path if rel.startswith("..") else rel


class ThresholdFailure(Exception):
    """The score missed its threshold; the message says by how much and shows failing examples."""


SUMMARY_VERSION = 5


def task_summary(task: Task) -> dict[str, Any]:
    """What collection needs of a validated task file, in builtin types (kept in pytest's cache)."""
    return {"name": task.name, "is_parent": task.is_parent, "subtasks": len(task.subtasks),
            "leaves": [{"name": leaf.name, "path": leaf.path, "parent": leaf.parent, "examples": len(leaf.examples),
                        "produced": sorted(leaf.produced_metrics), "thresholds": {**task.thresholds, **leaf.thresholds},
                        "marks": list(dict.fromkeys(task.marks + leaf.marks)), "keywords": list(leaf.keywords),
                        "repeats": None if leaf.repeats is None else dataclasses.asdict(leaf.repeats),
                        # a judge validated against people's grades: one more item, TASK:judge
                        "judge_validation": leaf.judge.validation if leaf.judge is not None else None,
                        "judge_model": leaf.judge.model if leaf.judge is not None else None,
                        "judge_mode": leaf.judge.mode if leaf.judge is not None else None}
                       for leaf in task.leaves()]}


def _summary_key(path: str, parent_name: str | None, judge_mode: str | None = None) -> str:
    """Changes whenever the file, or for a parent any subtask file, changes (size or modification time), and
    with --lm-judge-mode (which changes the scores a judged task produces)."""
    files = [path]
    if "examples" not in _head(path):  # maybe a parent: its subtasks are part of it
        files += subtask_files(os.path.dirname(os.path.abspath(path)), os.path.basename(path))
    stats = [(os.path.abspath(f), st.st_size, st.st_mtime_ns) for f, st in ((f, os.stat(f)) for f in files)]
    digest = hashlib.sha256(repr((SUMMARY_VERSION, parent_name, stats, judge_mode)).encode()).hexdigest()[:32]
    return f"lmbench/tasks/{digest}"


def _head(path: str, size: int = 65536) -> str:
    """The start of a file: a parent task file is small and has no "examples" key; a leaf says "examples"
    early or is large (a false "maybe a parent" only costs a directory listing)."""
    with open(path, "rb") as fh:
        return fh.read(size).decode("utf-8", "replace")


class TaskFile(pytest.File):
    """A BIG-bench ``task.json`` (leaf or parent)."""

    def _summary(self, parent_name: str | None) -> dict[str, Any]:
        """The task's summary: from pytest's cache when the file (and its subtask files) did not change since
        a run that validated it, else by loading and validating it (``TaskFormatError`` when it is bad)."""
        cache = getattr(self.config, "cache", None)
        key = None
        if cache is not None:
            try:
                key = _summary_key(str(self.path), parent_name, self.config.getoption("lm_judge_mode", None))
            except OSError:
                key = None
            cached = cache.get(key, None) if key else None
            if isinstance(cached, dict) and "leaves" in cached:
                return cached
        # through the run-time cache: in a process that also runs the items (no xdist), setup reads it once
        summary = task_summary(load_task_cached(self.config, str(self.path), parent_name))
        if cache is not None and key:
            cache.set(key, summary)
        return summary

    def collect(self):
        state = get_state(self.config)
        try:
            parent_name = parent_task_name(self.path)
            summary = self._summary(parent_name)
        except TaskFormatError as exc:
            exc.path = _display_path(exc.path, str(self.config.invocation_params.dir))
            # One error for this file; pytest would stop the whole session on a collection error.
            item = InvalidTaskFile.from_parent(self, name="invalid-task-file", error=exc)
            item.add_marker("lmbench")
            yield item
            return
        leaves = summary["leaves"]
        family: list[str] = []  # every subtask of the leaves' parent, whether its items run or not
        if parent_name is not None:  # a subtask named on the command line: its parent's aggregate is partial
            siblings = subtask_files(os.path.dirname(os.path.dirname(os.path.abspath(self.path))), self.path.name)
            family = [f"{parent_name}:{load_task_name(f)}" for f in siblings]
        elif summary["is_parent"]:
            family = [leaf["name"] for leaf in leaves]
        try:
            max_examples = per_subtask(state.max_examples, summary["subtasks"], summary["name"])
        except ValueError:
            raise TaskFormatError(str(self.path), None,
                                  f"--lm-max-examples {state.max_examples} is less than the number of subtasks "
                                  f"({len(leaves)})", f"use --lm-max-examples {len(leaves)} or more") from None
        for leaf in leaves:
            repeats = state.repeats_for(leaf.get("repeats"))
            produced = set(leaf["produced"]) | {"normalized_aggregate_score"} | set(
                reducer_names(repeats.k, repeats.ks(), binary=True) if repeats.on else ())
            if leaf.get("judge_mode"):  # a panel of judges: each one's scores, and their agreement
                produced |= panel_metric_names(leaf["judge_mode"], len(state.judge_specs))
            own = {m: v for m, v in leaf["thresholds"].items() if m not in VALIDATION_SCORES or m in produced}
            thresholds = resolve_thresholds(leaf["name"], produced, own, state.rules)
            marks = leaf["marks"]
            for mark in marks:
                self.config.addinivalue_line("markers", f"{mark}: set in a task file's lmbench.marks")
            keywords = [re.sub(r"\W+", "_", k.strip()).strip("_") for k in leaf["keywords"]]
            for spec, label in zip(state.specs, state.labels):
                for shots in state.shots:
                    item = TaskItem.from_parent(
                        self, name=f"{leaf['name']}[{label}-{shots}shot]", leaf_path=leaf["path"],
                        task_name=leaf["name"], parent_name=leaf["parent"], spec=spec, label=label, shots=shots,
                        max_examples=max_examples, thresholds=thresholds, family=family, repeats=repeats)
                    item.add_marker("lmbench")
                    # what --lm-shard balances on: the examples this item evaluates
                    setattr(item, WEIGHT_ATTR, min(leaf.get("examples", 0), max_examples or 10 ** 9) or None)
                    for mark in marks:
                        item.add_marker(mark)
                    item.extra_keyword_matches.update(k for k in keywords if k)
                    yield item
            if leaf.get("judge_validation"):
                yield from self._validation_items(state, leaf, keywords)

    def _validation_items(self, state: Any, leaf: dict[str, Any],
                          keywords: list[str]) -> Iterator[JudgeValidationItem]:
        """``TASK:judge``: the task's judge against people's grades, once per run (it does not depend on the
        models under test). Named by the judge that will run: --lm-judge (each of a panel), else the task's
        own."""
        from pytest_lmbench.core.models.registry import parse_spec

        name = f"{leaf['name']}:judge"
        produced = set(VALIDATION_SCORES) | {"normalized_aggregate_score"}
        own = {m: v for m, v in leaf["thresholds"].items() if m in VALIDATION_SCORES}
        judges = state.judge_specs or ([parse_spec(leaf["judge_model"])] if leaf.get("judge_model") else [None])
        for one in judges:  # a panel: each judge validated on its own
            item = JudgeValidationItem.from_parent(
                self, name=f"{name}[{one.label if one else 'no judge'}]", leaf_path=leaf["path"],
                task_name=name, parent_name=None, spec=one or state.specs[0],
                label=one.label if one else "no judge", shots=0, max_examples=None,
                thresholds=resolve_thresholds(name, produced, own, state.rules), family=[], repeats=None,
                judged_task=leaf["name"], has_judge=one is not None)
            item.add_marker("lmbench")
            item.extra_keyword_matches.update(k for k in keywords if k)
            yield item

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style=None) -> Any:
        if isinstance(excinfo.value, LmbenchError):
            return str(excinfo.value)
        return super().repr_failure(excinfo)


class TaskItem(pytest.Item):
    """One leaf task evaluated on one model with one shot count."""

    def __init__(self, *, leaf_path: str, task_name: str, parent_name: str | None, spec: ModelSpec, label: str,
                 shots: int, max_examples: int | None, thresholds: dict[str, float], family: list[str],
                 repeats: Repeats | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.repeats = repeats
        self.meter: Usage | None = None  # what the model's work cost, kept when the item errors or skips
        self.family = family
        self.leaf_path = leaf_path
        self.task_name = task_name
        self.parent_name = parent_name
        self.spec = spec
        self.label = label
        self.shots = shots
        self.max_examples = max_examples
        self.thresholds = thresholds
        self.result: TaskResult | None = None

    def setup(self) -> None:
        """The one skeleton of every kind of item: the model, its cache counter and meter, the format's own
        evaluation (``evaluate``), its failures made readable (``failed``), then what the item adds
        (``_complete``). The meter is the item's, so an item that errors or skips keeps what it cost."""
        state = get_state(self.config)
        model = state.model(self.spec)
        self.check_model(model)
        counter = CacheCounter(model)
        meter = self.meter = Usage()
        options = EvalOptions(shots=self.shots, max_examples=self.max_examples, max_tokens=state.max_tokens,
                              model_name=self.label, scorers=state.scorers, repeats=self.repeats,
                              allow_code_execution=bool(self.config.getoption("lm_allow_code_execution")))
        try:
            result = self.evaluate(model, options, self._live_progress(meter), meter)
        except Exception as exc:
            self.failed(exc)
            raise
        self._complete(result, counter)

    def check_model(self, model: BaseModel) -> None:
        """Skip (``pytest.skip``) when this kind of item cannot run on ``model``; every model can run a JSON task."""

    def evaluate(self, model: BaseModel, options: EvalOptions, progress: Any, meter: Usage) -> TaskResult:
        """The task format's evaluation of this item (the core's entry point for it)."""
        task = load_task_cached(self.config, self.leaf_path, self.parent_name)
        if task.judge is not None:  # the judge is loaded only for the tasks it grades
            state = get_state(self.config)
            compare = None
            if task.judge.mode == "pairwise" and state.compare_to is not None:
                compare = state.model(state.specs[state.labels.index(state.compare_to)])
            options = dataclasses.replace(options, judges=state.judges(task.judge.model), compare=compare)
            state.warn_self_judging(self.spec, task.judge.model, (str(self.path), 1))
        return evaluate(task, model, options, progress=progress, meter=meter)

    def failed(self, exc: Exception) -> None:
        """``exc`` raised by ``evaluate``: skip, or raise a readable LmbenchError (else it propagates as it is)."""
        if isinstance(exc, MetricUnavailable):
            pytest.skip(f"{self.task_name}: {exc}")
        if isinstance(exc, ValueError):  # too few examples for the shot count, metric preconditions
            raise LmbenchError(f"{self.task_name} ({os.path.relpath(self.leaf_path)}): {exc}") from None

    def _complete(self, result: TaskResult, counter: CacheCounter) -> None:
        """What the item knows of its result beyond the scores: where it ran, its cache use, its thresholds."""
        state = get_state(self.config)
        result.nodeid = self.nodeid
        result.cache = counter.counts()
        result.model_spec = self.spec.public
        result.model_load_seconds = state.registry.load_seconds.get(self.spec.raw)
        result.model_info = state.registry.model_info(self.spec)
        result.parent_subtasks = list(self.family)
        result.threshold = dict(self.thresholds)
        self.result = result

    def runtest(self) -> None:
        assert self.result is not None
        state = get_state(self.config)
        outcome, message = judge(self.result, self.thresholds, state.gate)
        self.result.outcome = outcome
        self.result.message = message
        if outcome == "failed" or (outcome == "inconclusive" and state.strict):
            raise ThresholdFailure(message)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style=None) -> Any:
        if isinstance(excinfo.value, (ThresholdFailure, LmbenchError)):
            return str(excinfo.value)
        return super().repr_failure(excinfo)

    def reportinfo(self):
        return self.path, None, f"lmbench task {self.task_name} [{self.label}, {self.shots}-shot]"

    def attach_result(self, report: pytest.TestReport, call: pytest.CallInfo[None]) -> None:
        """Put the result on the report (converted to builtin types only if the report is serialised, e.g. sent
        from an xdist worker), and keep setup errors free of tracebacks."""
        if report.when == "setup" and report.failed and call.excinfo is not None:
            if isinstance(call.excinfo.value, LmbenchError):
                report.longrepr = str(call.excinfo.value)
            attach(report, self._placeholder("error", str(call.excinfo.value)))
        elif report.when == "setup" and report.skipped:
            reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
            attach(report, self._placeholder("skipped", reason))
        elif report.when == "call" and self.result is not None:
            if report.failed and self.result.outcome not in ("failed", "inconclusive"):
                self.result.outcome = "error"
                self.result.message = str(call.excinfo.value) if call.excinfo else None
            attach(report, self.result)

    def _live_progress(self, meter: Usage | None = None) -> Any:
        """A progress line on the terminal while this item waits on its model; None when the output is not a
        terminal, on xdist workers and with -q."""
        from pytest_lmbench.report.progress import LiveProgress

        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is None or not reporter.isatty or self.config.get_verbosity() < 0 \
                or hasattr(self.config, "workerinput"):
            return None
        capman = self.config.pluginmanager.get_plugin("capturemanager")
        tw = self.config.get_terminal_writer()

        def write(text: str) -> None:  # past pytest's output capture, to the stream pytest writes to
            with capman.global_and_fixture_disabled() if capman is not None else contextlib.nullcontext():
                sys.stdout.write(text)
                sys.stdout.flush()

        return LiveProgress(write, f"{self.task_name} [{self.label}]", tw.fullwidth, column=tw.width_of_current_line,
                            usage=meter)

    def _model_info_or_none(self) -> dict[str, str]:
        """model_info for an item that errored or was skipped: a bad ``repack=`` value is its error, not a
        second one."""
        try:
            return get_state(self.config).registry.model_info(self.spec)
        except LmbenchError:
            return {}

    def _placeholder(self, outcome: Outcome, message: str) -> TaskResult:
        """An errored or skipped item's result: what it cost so far is kept (the run's totals and budgets)."""
        usage = dict(self.meter.to_dict()) if self.meter is not None else None
        return TaskResult.placeholder(self.task_name, self.label, outcome, message, shots=self.shots,
                                      nodeid=self.nodeid, path=self.leaf_path, model_spec=self.spec.public,
                                      parent=self.parent_name, parent_subtasks=list(self.family),
                                      threshold=dict(self.thresholds), model_info=self._model_info_or_none(),
                                      usage=usage)


class JudgeValidationItem(TaskItem):
    """A task's judge graded against people's grades (``lmbench.judge.validation``): kappa and agreement, thresholds
    allowed, so a run fails when its judge disagrees with people too much."""

    def __init__(self, *, judged_task: str, has_judge: bool, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.judged_task, self.has_judge = judged_task, has_judge

    def check_model(self, model: BaseModel) -> None:
        if not self.has_judge:
            raise LmbenchError(f"{self.task_name}: validating the judge of {self.judged_task} needs a judge model: "
                               "name one with --lm-judge SPEC or the judge block's \"model\"")

    def evaluate(self, model: BaseModel, options: EvalOptions, progress: Any, meter: Usage) -> TaskResult:
        from pytest_lmbench.core.judging import validate_judge, validation_rows
        from pytest_lmbench.core.pipeline import run_metered

        task = load_task_cached(self.config, self.leaf_path, self.parent_name)
        spec = task.judge
        assert spec is not None and spec.validation is not None  # collected only for such tasks
        path = os.path.join(os.path.dirname(os.path.abspath(self.leaf_path)), spec.validation)
        rows = validation_rows(path, spec)
        # the judge is the model under test here: its work is this item's candidate usage
        return run_metered(meter, lambda: validate_judge(model, spec, rows, task=self.task_name, model=self.label,
                                                         path=self.leaf_path))

    def failed(self, exc: Exception) -> None:
        if isinstance(exc, TaskFormatError):  # a bad row of the graded answers: its file as the user wrote it
            exc.path = _display_path(exc.path, str(self.config.invocation_params.dir))
            raise exc from None
        super().failed(exc)

    def reportinfo(self):
        return self.path, None, f"lmbench judge validation {self.task_name} [{self.label}]"


class InvalidTaskFile(pytest.Item):
    """Stands for a malformed task file: errors with the file's problem so that the other tasks still run."""

    def __init__(self, *, error: TaskFormatError, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.error = error

    def setup(self) -> None:
        raise self.error

    def runtest(self) -> None:  # pragma: no cover - setup always raises
        raise self.error

    def reportinfo(self):
        return self.path, None, f"invalid task file {self.error.path}"

    def attach_result(self, report: pytest.TestReport, call: pytest.CallInfo[None]) -> None:
        if report.when == "setup" and report.failed:
            report.longrepr = str(self.error)
            attach(report, TaskResult.placeholder(
                os.path.basename(os.path.dirname(self.error.path)) or self.error.path, "-", "error", str(self.error),
                nodeid=self.nodeid, path=self.error.path))


class LmevalFile(pytest.File):
    """An lm-evaluation-harness task (or group) config: one item per leaf task, model and shot count, built
    and scored by lm-eval itself (``core/tasks/lmeval.py``)."""

    def collect(self):
        from pytest_lmbench.core.tasks.lmeval import read_config

        include = self.config.getoption("lm_eval_include") or []
        try:
            tasks = read_config(str(self.path), include)
        except LmbenchError as exc:
            yield invalid_file_item(self, exc, str(self.path))
            return
        yield from lmeval_items(self, tasks)


def invalid_file_item(parent: pytest.File, exc: LmbenchError, where: str) -> InvalidTaskFile:
    """One error item for a config lm-eval rejects (or a missing lm_eval): the other tasks still run."""
    error = exc if isinstance(exc, TaskFormatError) else TaskFormatError(where, None, str(exc))
    error.path = _display_path(error.path, str(parent.config.invocation_params.dir))
    item = InvalidTaskFile.from_parent(parent, name="invalid-task-file", error=error)
    item.add_marker("lmbench")
    return item


def lmeval_items(parent: pytest.File, tasks: list[Any]) -> Any:
    """Items of lm-eval tasks: per task, model and shot count (``--lm-shots``, else the config's
    ``num_fewshot``, shown in the node id)."""
    state = get_state(parent.config)
    given_shots = parent.config.getoption("lm_shots")
    for task in tasks:
        thresholds = resolve_thresholds(task.name, set(task.produced), {}, state.rules)
        for spec, label in zip(state.specs, state.labels):
            for shots in (sorted(set(given_shots)) if given_shots else [task.num_fewshot]):
                item = LmevalItem.from_parent(
                    parent, name=f"{task.name}[{label}-{shots}shot]", leaf_path=task.path,
                    task_name=task.name, parent_name=task.group, spec=spec, label=label, shots=shots,
                    max_examples=state.max_examples, thresholds=thresholds, family=list(task.family), lm_task=task)
                item.add_marker("lmbench")
                yield item


class LmevalItem(TaskItem):
    """One lm-eval task on one model with one shot count: lm-eval's evaluator asks, our backend answers."""

    def __init__(self, *, lm_task: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.lm_task = lm_task

    def evaluate(self, model: BaseModel, options: EvalOptions, progress: Any, meter: Usage) -> TaskResult:
        from pytest_lmbench.core.tasks.lmeval import evaluate_lmeval

        result = evaluate_lmeval(self.lm_task, model, options, progress=progress, meter=meter)
        if (get_state(self.config).repeats_k or 1) > 1:
            result.notes.append("--lm-repeats does not apply to lm-evaluation-harness configs: lm-eval samples with "
                                "its own `repeats` and filters, set in the config")
        return result

    def failed(self, exc: Exception) -> None:
        if isinstance(exc, LmbenchError):
            raise LmbenchError(f"{self.task_name} ({os.path.relpath(self.leaf_path)}): {exc}") from None

    def reportinfo(self):
        return self.path, None, f"lm-eval task {self.task_name} [{self.label}, {self.shots}-shot]"


class InspectFile(pytest.File):
    """An Inspect task file: one item per ``@task`` function and model, run and scored by Inspect itself
    (``core/tasks/inspect_tasks.py``). Collection parses the file (Inspect's ``list_tasks``): it is imported when
    an item runs."""

    def collect(self):
        from pytest_lmbench.core.tasks.inspect_tasks import list_inspect_tasks

        state = get_state(self.config)
        try:
            args = [_key_value(a, "--lm-inspect-arg") for a in self.config.getoption("lm_inspect_arg") or []]
            tasks = list_inspect_tasks(str(self.path), args)
        except LmbenchError as exc:
            yield invalid_file_item(self, exc, str(self.path))
            return

        chosen = self.config.stash.get(INSPECT_SELECTION, {}).get(str(self.path))  # --lm-inspect-task FILE@NAME
        if chosen is not None:
            missing = sorted(chosen - {t.name for t in tasks})
            if missing:
                yield invalid_file_item(self, ConfigError(f"--lm-inspect-task: no @task function {missing[0]!r} "
                                                          f"in it; it has {', '.join(t.name for t in tasks)}"),
                                        str(self.path))
            tasks = [t for t in tasks if t.name in chosen]
        repeats = state.repeats_for(None)
        for task in tasks:
            for spec, label in zip(state.specs, state.labels):
                item = InspectItem.from_parent(
                    self, name=f"{task.name}[{label}]", leaf_path=task.path, task_name=task.name, parent_name=None,
                    spec=spec, label=label, shots=0, max_examples=state.max_examples, thresholds={}, family=[],
                    repeats=repeats if repeats.on else None, task=task)
                item.add_marker("lmbench")
                yield item


def _key_value(text: str, option: str) -> tuple[str, str]:
    key, eq, value = text.partition("=")
    if not eq or not key.strip():
        raise ConfigError(f"{option} {text!r}: the form is KEY=VALUE, e.g. {option} difficulty=hard")
    return key.strip(), value


class InspectItem(TaskItem):
    """One Inspect task on one model: Inspect's eval() solves and scores, our backend answers. Its thresholds
    are known once it ran: Inspect's log names its scores."""

    def __init__(self, *, task: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.task = task

    def evaluate(self, model: BaseModel, options: EvalOptions, progress: Any, meter: Usage) -> TaskResult:
        from pytest_lmbench.core.models.registry import parse_spec
        from pytest_lmbench.core.tasks.inspect_tasks import evaluate_inspect

        state = get_state(self.config)
        options = dataclasses.replace(options, judges=state.judges())  # --lm-judge: Inspect's grader role
        result = evaluate_inspect(self.task, model, options, progress=progress, meter=meter,
                                  log_dir=self.config.getoption("lm_inspect_log_dir"),
                                  resolve=lambda raw: state.model(parse_spec(raw)))
        self.thresholds = resolve_thresholds(self.task_name, set(result.scores), {}, state.rules)
        return result

    def failed(self, exc: Exception) -> None:
        if isinstance(exc, (LmbenchError, ValueError)):
            where = _display_path(self.leaf_path, str(self.config.invocation_params.dir))
            raise LmbenchError(f"{self.task_name} ({where}): {exc}") from None

    def reportinfo(self):
        return self.path, None, f"Inspect task {self.task_name} [{self.label}]"


class ProgrammaticFile(pytest.File):
    """A BIG-bench programmatic task (``task.py``): one item per model, run by the task's own ``evaluate_model``
    (``core/tasks/programmatic.py``). Collection reads the file only: the task is imported when an item runs."""

    def __init__(self, *, task: Any, error: TaskFormatError | None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.task = task
        self.error = error

    def collect(self):
        if self.error is not None:
            yield invalid_file_item(self, self.error, str(self.path))
            return
        state = get_state(self.config)
        for spec, label in zip(state.specs, state.labels):
            item = ProgrammaticItem.from_parent(
                self, name=f"{self.task.name}[{label}]", leaf_path=self.task.path, task_name=self.task.name,
                parent_name=None, spec=spec, label=label, shots=0, max_examples=state.max_examples, thresholds={},
                family=[], task=self.task)
            item.add_marker("lmbench")
            yield item


class ProgrammaticItem(TaskItem):
    """One programmatic task on one model. Its thresholds are known once it ran: the task names its scores."""

    def __init__(self, *, task: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.task = task
        self.partial: dict[str, Any] = {}  # what the task did before it failed: kept in the report entry

    def check_model(self, model: BaseModel) -> None:
        if model.prompt_format.chat:
            pytest.skip(f"{self.task_name}: a programmatic task talks to the model in BIG-bench's text API "
                        f"(generate_text, cond_log_prob); {self.label} is a chat model (chat=1): run it without "
                        "chat=1")

    def evaluate(self, model: BaseModel, options: EvalOptions, progress: Any, meter: Usage) -> TaskResult:
        from pytest_lmbench.core.tasks.programmatic import evaluate_programmatic

        state = get_state(self.config)
        result = evaluate_programmatic(self.task, model, options, progress=progress, meter=meter)
        if (state.repeats_k or 1) > 1:
            result.notes.append("--lm-repeats does not apply to BIG-bench programmatic tasks: the task's own code "
                                "decides how it asks the model")
        self.thresholds = resolve_thresholds(self.task_name, set(result.scores), {}, state.rules)
        return result

    def failed(self, exc: Exception) -> None:
        from pytest_lmbench.core.tasks.programmatic import CodeExecutionNotAllowed, MissingDependency

        if isinstance(exc, (MissingDependency, CodeExecutionNotAllowed)):
            pytest.skip(str(exc))
        if isinstance(exc, LmbenchError):
            self.partial = dict(getattr(exc, "partial", None) or {})
            if isinstance(exc, TaskFormatError):
                exc.path = _display_path(exc.path, str(self.config.invocation_params.dir))

    def _placeholder(self, outcome: Outcome, message: str) -> TaskResult:
        placeholder = super()._placeholder(outcome, message)
        placeholder.examples = list(self.partial.get("examples") or [])
        placeholder.score_data = self.partial.get("score_data")
        return placeholder

    def reportinfo(self):
        return self.path, None, f"BIG-bench programmatic task {self.task_name} [{self.label}]"


class CollectedElsewhere(pytest.File):
    """Stands in for pytest's test module of a programmatic task's ``task.py`` when ``python_files`` matches it:
    the task's items come from its :class:`ProgrammaticFile`."""

    def collect(self):
        return []
