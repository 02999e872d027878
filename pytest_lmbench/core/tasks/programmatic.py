"""BIG-bench programmatic tasks (``task.py``): imported from their own BIG-bench checkout, run by their own code.

A programmatic task is a ``bigbench.api.task.Task`` subclass whose ``evaluate_model(model, max_examples,
random_seed)`` drives the model through BIG-bench's model API (``generate_text``, ``cond_log_prob``) and returns
``ScoreData``. Nothing of that is re-implemented here: the task module is imported from the checkout it lives in
(``.../bigbench/benchmark_tasks/NAME/task.py``: ``bigbench`` is the checkout's own package, so its ``api``,
``models.model_utils`` and the task's helper modules are that checkout's files), and its own ``evaluate_model``
computes the scores. What is ours: :class:`BigbenchModel`, BIG-bench's model API over a pytest-lmbench backend
(batched, through the answer cache, every call recorded), the seeding that makes runs repeatable, and the turning
of the returned ``ScoreData`` into a :class:`TaskResult`.

Collection reads ``task.py`` as text only (``find_programmatic``): no import, no ``__init__``, no optional
dependency is loaded to collect.
"""

from __future__ import annotations

import ast
import contextlib
import copy
import dataclasses
import hashlib
import importlib
import importlib.util
import inspect
import math
import os
import re
import sys
import threading
import time
import warnings
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from pytest_lmbench.core import gcpause
from pytest_lmbench.core.errors import BackendError, LmbenchError, TaskFormatError
from pytest_lmbench.core.models.base import DEFAULT_MAX_TOKENS, Model, declared
from pytest_lmbench.core.options import EvalOptions
from pytest_lmbench.core.pipeline import LiveProgress, ModelCalls, run_metered
from pytest_lmbench.core.results import ExampleResult, TaskResult
from pytest_lmbench.core.seeds import global_seeds
from pytest_lmbench.core.usage import Usage

#: What ``random``, numpy's global generator and ``random_seed`` are set to before a task is built and run
#: (BIG-bench's ``evaluate_task.py`` seeds nothing, so some tasks differ from run to run there).
PROGRAMMATIC_SEED: Final = 0

#: Task code that runs what the model wrote (found in the task's own files); run only when allowed.
_CODE_EXECUTION = re.compile(r"\bexec\s*\(|RestrictedPython|compile_restricted|\bsubprocess\b")

#: Import names whose pip distribution is named differently.
_PIP_NAMES: Final = {"sklearn": "scikit-learn", "absl": "absl-py", "tensorflow_datasets": "tensorflow-datasets",
                     "t5": "t5", "yaml": "pyyaml", "cv2": "opencv-python", "bleurt": "bleurt (from its git repo)"}


class MissingDependency(LmbenchError):
    """The task needs a package (or data) that is not installed: its item is skipped, naming what to install."""


class CodeExecutionNotAllowed(LmbenchError):
    """The task runs code the model wrote; it needs ``--lm-allow-code-execution``."""


@dataclass(frozen=True)
class ProgrammaticTask:
    """What collection knows of a programmatic task, from its directory alone."""

    name: str  # the task directory's name, as BIG-bench names the task
    path: str  # its task.py
    root: str  # the checkout: the directory that holds bigbench/

    @property
    def module(self) -> str:
        return f"bigbench.benchmark_tasks.{self.name}.task"

    @property
    def executes_code(self) -> bool:
        """Whether its own Python files (its tests aside, subfolders included) run code, i.e. what the model
        writes (program_synthesis, python_programming_challenge). Read when an item runs, not at collection."""
        for where, dirs, files in os.walk(os.path.dirname(self.path)):
            dirs[:] = sorted(d for d in dirs if d not in ("results", "__pycache__"))
            for entry in sorted(files):
                if entry.endswith(".py") and not entry.startswith("test"):
                    with open(os.path.join(where, entry), encoding="utf-8", errors="replace") as fh:
                        if _CODE_EXECUTION.search(fh.read()):
                            return True
        return False


def find_programmatic(path: str) -> ProgrammaticTask | None:
    """The programmatic task at ``path`` (``.../bigbench/benchmark_tasks/NAME/task.py``), else None.

    As in BIG-bench, a task directory with a ``task.json`` is a JSON task (its ``task.py``, if any, is not the
    task), and only ``benchmark_tasks``' own subdirectories are tasks. ``task.py`` must define a class with a base
    (which one is the ``Task`` subclass is known only by importing it, at run time). A ``task.py`` that does not
    parse is a :class:`TaskFormatError`."""
    path = os.path.abspath(path)
    task_dir = os.path.dirname(path)
    tasks_dir = os.path.dirname(task_dir)
    package = os.path.dirname(tasks_dir)
    if os.path.basename(path) != "task.py" or os.path.basename(tasks_dir) != "benchmark_tasks" \
            or os.path.basename(package) != "bigbench":
        return None
    if os.path.isfile(os.path.join(task_dir, "task.json")) \
            or not os.path.isfile(os.path.join(package, "api", "task.py")):
        return None
    name = os.path.basename(task_dir)
    if not name.isidentifier():
        return None  # not importable as bigbench.benchmark_tasks.NAME
    try:
        with open(path, encoding="utf-8") as fh:
            source = fh.read()
        with warnings.catch_warnings():  # the task's own style (invalid escapes) is not this run's business
            warnings.simplefilter("ignore")
            tree = ast.parse(source, filename=path)
    except SyntaxError as exc:
        raise TaskFormatError(path, f"line {exc.lineno}", f"task.py does not parse: {exc.msg}",
                              "fix the syntax error") from None
    if not any(isinstance(node, ast.ClassDef) and node.bases for node in tree.body):
        return None
    return ProgrammaticTask(name=name, path=path, root=os.path.dirname(package))


# -- importing from the task's own checkout ---------------------------------------------------------------

_LOCK = threading.Lock()


def _use_checkout(root: str) -> None:
    """Make ``bigbench`` the package at ``root/bigbench`` (without touching ``sys.path``). One process can hold
    one BIG-bench checkout: a second one would mix two versions of its API."""
    package_dir = os.path.join(root, "bigbench")
    loaded = sys.modules.get("bigbench")
    if loaded is not None:
        paths = [os.path.realpath(p) for p in getattr(loaded, "__path__", [])]
        if os.path.realpath(package_dir) in paths:
            return
        raise LmbenchError(f"BIG-bench is already imported in this process from {paths[0] if paths else loaded!r}, "
                           f"not from {package_dir}: run the tasks of one BIG-bench checkout per pytest run")
    spec = importlib.util.spec_from_file_location("bigbench", os.path.join(package_dir, "__init__.py"),
                                                  submodule_search_locations=[package_dir])
    if spec is None or spec.loader is None:  # pragma: no cover - a file path always gives a spec
        raise LmbenchError(f"cannot import BIG-bench from {package_dir}")
    module = importlib.util.module_from_spec(spec)
    sys.modules["bigbench"] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules["bigbench"]
        raise


def _missing(exc: BaseException, task: ProgrammaticTask) -> MissingDependency | None:
    """A skip reason for an import that failed for want of a package (or of nltk's data). A module that lies in
    the task's own directory (imported by a plain name that does not resolve) is the task's bug, not a package."""
    if isinstance(exc, ModuleNotFoundError) and exc.name and not exc.name.startswith("bigbench"):
        top = exc.name.split(".")[0]
        here = os.path.dirname(task.path)
        if os.path.isfile(os.path.join(here, top + ".py")) or os.path.isdir(os.path.join(here, top)):
            return None
        pip = _PIP_NAMES.get(top, top)
        return MissingDependency(f"{task.name} needs the package {top!r}, which is not installed "
                                 f"(pip install {pip})")
    if type(exc).__name__ == "LookupError" and "nltk" in str(exc):
        first = next((line.strip() for line in str(exc).splitlines() if "nltk.download" in line), "nltk.download")
        return MissingDependency(f"{task.name} needs nltk data that is not installed ({first})")
    return None


#: What task code may raise that is its failure (SystemExit too: a task calling sys.exit must not end the run).
TASK_FAILURES: Final = (Exception, SystemExit)


def _task_failed(exc: BaseException, task: ProgrammaticTask, doing: str, fix: str | None = None) -> LmbenchError:
    """A skip for a missing package, else an error with the task's own message."""
    missing = _missing(exc, task)
    if missing is not None:
        return missing
    return TaskFormatError(task.path, None, f"{doing} raised {type(exc).__name__}: {exc}", fix)


def task_class(task: ProgrammaticTask) -> type:
    """The task's ``Task`` subclass, found as BIG-bench's ``load_programmatic_task`` finds it: the concrete
    subclass of ``bigbench.api.task.Task`` among the module's names (one defined in ``task.py`` is preferred to
    one it imported)."""
    with _LOCK:
        _use_checkout(task.root)
        try:
            # whatever the module draws at import is the same in every process
            with global_seeds(PROGRAMMATIC_SEED, PROGRAMMATIC_SEED):
                module = importlib.import_module(task.module)
            base = importlib.import_module("bigbench.api.task").Task
        except TASK_FAILURES as exc:
            raise _task_failed(exc, task, f"importing {task.module}",
                               "fix the task's code, or run BIG-bench's own tests on it") from None
    found = [obj for obj in vars(module).values()
             if inspect.isclass(obj) and issubclass(obj, base) and obj is not base and not inspect.isabstract(obj)]
    own = [c for c in found if c.__module__ == module.__name__]
    chosen = own if own else found
    if len(chosen) != 1:
        what = "no class" if not chosen else f"{len(chosen)} classes ({', '.join(c.__name__ for c in chosen)})"
        raise TaskFormatError(task.path, None, f"{what} extending bigbench.api.task.Task; BIG-bench needs exactly one")
    return chosen[0]


#: The last few tasks built in this process, by task.py: a task's ``__init__`` (data files, generated examples)
#: runs once for all the models its items run in a row, and each item evaluates a copy, so no item sees another's
#: changes to the task's state. Bounded: some tasks hold tens of MB of data.
_BUILT: OrderedDict[str, Any] = OrderedDict()
_BUILT_SIZE: Final = 4


def build_task(task: ProgrammaticTask) -> Any:
    """A fresh instance of the task, its ``__init__`` run once per process (seeded)."""
    cls = task_class(task)
    built = _BUILT.get(task.path)
    if type(built) is not cls:  # not built yet, or its module was imported again since
        built = _construct(cls, task)
        _BUILT[task.path] = built
        while len(_BUILT) > _BUILT_SIZE:
            _BUILT.popitem(last=False)
    _BUILT.move_to_end(task.path)
    try:
        return copy.deepcopy(built)
    except Exception:  # state that cannot be copied (locks, open files): build it again
        return _construct(cls, task)


def _construct(cls: type, task: ProgrammaticTask) -> Any:
    try:
        with global_seeds(PROGRAMMATIC_SEED, PROGRAMMATIC_SEED):
            return cls()
    except TASK_FAILURES as exc:
        raise _task_failed(exc, task, f"{cls.__name__}()") from None


# -- BIG-bench's model API over our backends --------------------------------------------------------------

class BigbenchModel:
    """BIG-bench's ``bigbench.api.model.Model`` over a pytest-lmbench backend.

    ``generate_text`` and ``cond_log_prob`` take a string or a list, as BIG-bench's API does, and answer in the same
    shape. A list is one backend call (batched, through the answer cache). Generation is greedy, for
    ``max_length`` tokens when the task gives one (as BIG-bench's own models do), else ``DEFAULT_MAX_TOKENS``;
    ``max_tokens`` (the user's ``--lm-max-tokens``) caps both. The text is then post-processed by the checkout's own
    ``model_utils.postprocess_output``: the stop string is kept, as in BIG-bench, so it is not passed to the
    backend. ``cond_log_prob`` scores each target after its input (context and continuation tokenized apart, as
    for JSON tasks) and, unless ``absolute_normalization``, normalises each input's targets by their log-sum-exp.
    Every request is recorded (``calls``) for the report; the first backend failure is kept
    (``requests.failure``), so that a task that catches it cannot hide it."""

    def __init__(self, model: Model, name: str, *, max_tokens: int | None = None,
                 progress: LiveProgress | None = None) -> None:
        self.name, self.max_tokens = name, max_tokens
        self.requests = ModelCalls(model, progress)  # backend calls, metering, progress, the first failure
        self.calls: list[ExampleResult] = []
        utils = importlib.import_module("bigbench.models.model_utils")
        self._postprocess = utils.postprocess_output
        self._model_data = importlib.import_module("bigbench.api.model").ModelData

    def generate_text(self, inputs: str | Sequence[str], max_length: int = 0, stop_string: str | None = None,
                      output_regex: str | None = None) -> str | list[str]:
        single = isinstance(inputs, str)
        prompts = [str(inputs)] if single else [str(p) for p in inputs]
        tokens = self.tokens_for(max_length)
        raw = self.requests.generate(prompts, max_tokens=tokens)
        out = [self._postprocess(str(r), max_length, stop_string, output_regex) for r in raw]
        for prompt, r, o in zip(prompts, raw, out):
            self._record(ExampleResult(id="", index=0, prompt=prompt, targets=[], response=o, raw_response=str(r)))
        return out[0] if single else out

    def cond_log_prob(self, inputs: str | Sequence[str], targets: Sequence[str] | Sequence[Sequence[str]],
                      absolute_normalization: bool | None = False) -> list[float] | list[list[float]]:
        single = isinstance(inputs, str)
        contexts = [str(inputs)] if single else [str(i) for i in inputs]
        rows_in: list[Any] = [targets] if single else list(targets)
        options: list[list[Any]] = [list(t) if not isinstance(t, str) else [t] for t in rows_in]
        if len(options) != len(contexts) or any(not isinstance(t, str) for row in options for t in row) \
                or any(isinstance(t, str) for t in rows_in):
            raise TypeError(f"cond_log_prob: {len(contexts)} input(s) need as many lists of target strings, got "
                            f"{targets!r:.200}")
        pairs = [(c, t) for c, row in zip(contexts, options) for t in row]
        flat = self.requests.loglikelihood(pairs)
        rows: list[list[float]] = []
        pos = 0
        for row in options:
            rows.append([float(x) for x in flat[pos:pos + len(row)]])
            pos += len(row)
        if not absolute_normalization:
            from pytest_lmbench.core.scoring.metrics import normalize_log_probs

            rows = normalize_log_probs(rows)
        for context, row, lp in zip(contexts, options, rows):
            self._record(ExampleResult(id="", index=0, prompt=context, targets=[], choices=list(row),
                                       log_probs=[float(x) for x in lp]))
        return rows[0] if single else rows

    def tokens_for(self, max_length: int | None) -> int:
        """The tokens a generation may take: the task's ``max_length`` (else the default), under the user's cap."""
        wanted = max_length if max_length and max_length > 0 else DEFAULT_MAX_TOKENS
        return min(wanted, self.max_tokens) if self.max_tokens else wanted

    def model_data(self) -> Any:
        return self._model_data(model_family="pytest-lmbench", model_name=self.name, total_params=0,
                                non_embedding_params=0, flop_matched_non_embedding_params=0, training_batch_size=0,
                                training_steps=0, description=f"pytest-lmbench model {self.name}",
                                decoding_params={"temperature": 0.0, "max_tokens": self.tokens_for(0)})

    def _record(self, call: ExampleResult) -> None:
        call.index = len(self.calls)
        call.id = hashlib.sha256(repr((call.prompt, call.choices)).encode()).hexdigest()[:16]
        self.calls.append(call)


def _register_model_api(adapter: type) -> None:
    """Tasks may check ``isinstance(model, bigbench.api.model.Model)``: the adapter is registered with the ABC."""
    api = importlib.import_module("bigbench.api.model").Model
    if not issubclass(adapter, api):
        api.register(adapter)


# -- running, and the result ------------------------------------------------------------------------------

SCORE_DATA_FIELDS: Final = ("subtask_description", "score_dict", "preferred_score", "number_of_shots",
                            "low_score", "high_score")


def score_data_dict(score: Any) -> dict[str, Any]:
    """One ``ScoreData`` as a dict of builtin types, its values as the task returned them (numpy numbers become
    the same Python numbers)."""
    if not dataclasses.is_dataclass(score):
        raise TypeError(f"evaluate_model returned {type(score).__name__}, not ScoreData")
    out: dict[str, Any] = {}
    for name in SCORE_DATA_FIELDS:
        value = getattr(score, name)
        out[name] = {str(k): _number(v) for k, v in value.items()} if name == "score_dict" else _number(value)
    return out


def _number(value: Any) -> Any:
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()  # numpy scalar
    return value


def evaluate_programmatic(task: ProgrammaticTask, model: Model, options: EvalOptions | None = None, *,
                          progress: Any = None, meter: Usage | None = None, **option_values: Any) -> TaskResult:
    """Run the task's own ``evaluate_model`` on ``model`` (seeded, ``random_seed=0``) and return its result.
    ``options.max_tokens``: the user's cap on generated tokens (``--lm-max-tokens``), if any;
    ``options.allow_code_execution``: run tasks that execute the model's code. ``meter``: what the model's work
    cost is added to it, as ``evaluate`` does (also when the task fails: the caller keeps its meter).

    Raises :class:`MissingDependency` (skip), :class:`CodeExecutionNotAllowed` (skip), :class:`BackendError` (the
    model failed, even where the task caught it) or :class:`TaskFormatError` (the task raised, or returned what is
    not ScoreData: its message, as BIG-bench gives it). What was done before the failure travels on the error as
    ``partial`` (``{"examples": the model requests, "score_data": ...}``) for the item's report entry."""
    opts = EvalOptions.of(options, option_values)
    return run_metered(meter, lambda: _evaluate_programmatic(task, model, opts, progress))


def _evaluate_programmatic(task: ProgrammaticTask, model: Model, opts: EvalOptions, progress: Any) -> TaskResult:
    model_name = str(opts.model_name or declared(model).name)
    if task.executes_code and not opts.allow_code_execution:
        raise CodeExecutionNotAllowed(
            f"{task.name} runs code written by the model on this machine (its own sandbox is not a security "
            "boundary); run it with --lm-allow-code-execution, in a disposable environment")
    started = time.perf_counter()
    instance = build_task(task)
    _register_model_api(BigbenchModel)
    adapter = BigbenchModel(model, model_name, max_tokens=opts.max_tokens, progress=progress)
    score_data: list[dict[str, Any]] | None = None
    try:
        adapter.requests.start(0)  # the task decides how many requests it makes
        try:
            with global_seeds(PROGRAMMATIC_SEED, PROGRAMMATIC_SEED), gcpause.resumed():
                returned = instance.evaluate_model(adapter, max_examples=opts.max_examples,
                                                   random_seed=PROGRAMMATIC_SEED)
        except TASK_FAILURES as exc:
            failure = adapter.requests.failure
            if failure is not None:  # the model's failure, whatever the task made of it
                raise failure from None
            raise _task_failed(exc, task, "evaluate_model") from None
        finally:
            adapter.requests.finish()
        failure = adapter.requests.failure
        if failure is not None:
            raise BackendError(f"{failure} (the task caught it and went on; its scores are not used)")
        try:
            score_data = [score_data_dict(s) for s in (returned if isinstance(returned, list) else [returned])]
        except Exception as exc:
            raise TaskFormatError(task.path, "ScoreData", f"evaluate_model returned {returned!r:.200}, which is not "
                                  f"BIG-bench's ScoreData ({type(exc).__name__}: {exc})") from None
        result = to_result(task, score_data, adapter.calls, model_name=model_name, started=started)
    except LmbenchError as exc:
        exc.partial = {"examples": adapter.calls, "score_data": score_data}  # type: ignore[attr-defined]
        raise
    with contextlib.suppress(Exception):  # the task's own metadata: its keywords, for the report and aggregates
        result.keywords = [str(k) for k in instance.get_task_details().keywords]
    return result


def primary_score_data(task_name: str, score_data: list[dict[str, Any]]) -> dict[str, Any]:
    """The ``ScoreData`` that stands for the task: the one described by the task's name, else the first."""
    return next((s for s in score_data if s["subtask_description"] == task_name), score_data[0])


def to_result(task: ProgrammaticTask, score_data: list[dict[str, Any]], calls: list[ExampleResult], *,
              model_name: str, started: float) -> TaskResult:
    """The item's result: the primary ``ScoreData``'s scores under their own names, every ``ScoreData``'s under
    ``"SUBTASK_DESCRIPTION:metric"``, and BIG-bench's list kept whole as ``score_data``. The model calls are the
    examples; there are no error bars (the task computes its scores itself, from examples it does not expose)."""
    from pytest_lmbench.core.pipeline import finish_result

    if not score_data:
        raise TaskFormatError(task.path, None, "evaluate_model returned no ScoreData")
    primary = primary_score_data(task.name, score_data)
    preferred = primary["preferred_score"]
    scores: dict[str, float] = {}
    for i, sd in enumerate(score_data):
        label = sd["subtask_description"] or f"#{i}"
        for metric, value in sd["score_dict"].items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                scores.setdefault(f"{label}:{metric}", float(value))
    bad = [k for k, v in primary["score_dict"].items() if not isinstance(v, (int, float)) or isinstance(v, bool)]
    scores.update({k: float(v) for k, v in primary["score_dict"].items() if k not in bad})
    if preferred not in scores or not math.isfinite(scores[preferred]):
        raise TaskFormatError(task.path, "preferred_score",
                              f"ScoreData {primary['subtask_description']!r} prefers {preferred!r}, which its "
                              f"score_dict does not hold as a finite number ({sorted(primary['score_dict'])})")
    try:
        low, high, shots = float(primary["low_score"]), float(primary["high_score"]), int(primary["number_of_shots"])
    except (TypeError, ValueError) as exc:
        raise TaskFormatError(task.path, "ScoreData", f"{primary['subtask_description']!r}: low_score, high_score "
                              f"and number_of_shots must be numbers ({exc})") from None
    if not high > low:
        raise TaskFormatError(task.path, "high_score", f"ScoreData {primary['subtask_description']!r} has high_score "
                              f"{high:g} and low_score {low:g}; BIG-bench normalizes its score between them, so "
                              "high_score must be the larger")
    notes = [f"{len(score_data)} ScoreData returned (BIG-bench's list is kept as score_data); scores named "
             "'SUBTASK:metric' are each one's" if len(score_data) > 1 else "",
             "no error bars: the task computes its scores itself and does not expose per-example scores"]
    result = finish_result(task=task.name, model=model_name, shots=max(0, shots),
                           examples=calls, scores=scores, per_example={}, preferred=preferred,
                           low=low, high=high, path=task.path,
                           notes=[n for n in notes if n], started=started)
    result.score_data = score_data
    return result
