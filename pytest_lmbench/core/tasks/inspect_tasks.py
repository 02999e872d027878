"""Inspect task files (UK AISI's ``inspect_ai``) as tasks: Inspect loads, solves and scores; our backends answer.

Nothing of Inspect's is re-implemented here. ``inspect_ai.list_tasks`` finds a file's ``@task`` functions by
parsing it (nothing is imported at collection); ``inspect_ai.eval`` builds the dataset, runs the solvers, scores
with the task's own scorers and metrics, reduces epochs. What is ours:

- an Inspect ``ModelAPI`` registered in-process as ``lmbench`` (``lmbench/LABEL``) that sends Inspect's chat
  messages and ``GenerateConfig`` (``max_tokens``, ``stop_seqs``, ``temperature``, ``seed``) to a pytest-lmbench
  model through ``pipeline.ModelCalls`` (answer cache, retries, budgets, progress, cost by role). Requests that
  Inspect's concurrent samples make in one turn of its event loop go to the backend as one batch. Token counting
  is ours (Inspect's default downloads tiktoken's encoding);
- the containment of what Inspect's ``eval()`` changes in the process: ``sys.excepthook``, the root logger,
  ``sys.stdout``/``sys.stderr``, its control socket (off), its log directory (a temporary one unless asked) and its
  data directory (``XDG_DATA_HOME``, a temporary one), all restored after each item;
- the turning of Inspect's log into a :class:`TaskResult`: scores keyed ``SCORER/METRIC`` as Inspect's log names
  them (``match/accuracy``), each example with its input, target, output and Inspect's score, answer and
  explanation, and our interval on every metric that is the mean of the per-sample values (Inspect's own
  ``stderr`` kept next to it as ``SCORER/stderr``).

Inspect is an optional dependency (extra ``inspect``) and is imported only when an item runs.
"""

from __future__ import annotations

import ast
import asyncio
import concurrent.futures
import contextlib
import contextvars
import functools
import logging
import math
import os
import re
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pytest_lmbench.core.errors import ConfigError, TaskFormatError

if TYPE_CHECKING:  # imported where used: collection imports this module for looks_like_inspect only
    from pytest_lmbench.core.models.framing import Message
    from pytest_lmbench.core.options import EvalOptions
    from pytest_lmbench.core.pipeline import LiveProgress, ModelCalls
    from pytest_lmbench.core.results import TaskResult
    from pytest_lmbench.core.usage import Usage

INSPECT_INSTALL = "pip install 'pytest-lmbench[inspect]'"
#: The provider's name in Inspect's model registry: our models are ``lmbench/LABEL`` there.
PROVIDER = "lmbench"
_TASK_LINE = re.compile(r"^\s*@(?:inspect_ai\.)?task\b", re.MULTILINE)
#: Inspect's metrics that are the mean of the per-sample values: our interval goes on them.
MEAN_METRICS = ("accuracy", "mean")


def looks_like_inspect(path: str) -> bool:
    """Whether a Python file defines Inspect tasks, judged without importing it (or Inspect): it mentions
    ``inspect_ai`` and, parsed, has a top-level function decorated ``@task`` (or ``@task(...)``,
    ``@inspect_ai.task``). Text in strings does not count, so a test module that writes task files is a test
    module."""
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            text = fh.read()
    except OSError:
        return False
    if "inspect_ai" not in text or _TASK_LINE.search(text) is None:
        return False
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return True  # Inspect's own parser says what is wrong with it
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for decorator in node.decorator_list:
                target = decorator.func if isinstance(decorator, ast.Call) else decorator
                name = target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", None)
                if name == "task":
                    return True
    return False


def _inspect() -> Any:
    """``inspect_ai``, imported on first use, with nothing downloaded at run time (datasets must be local)."""
    from pytest_lmbench.core.tasks.offline import hf_offline

    hf_offline()
    try:
        import inspect_ai
    except ImportError as exc:
        raise ConfigError(f"Inspect task files need inspect_ai ({exc}): {INSPECT_INSTALL}") from None
    return inspect_ai


@dataclass(frozen=True)
class InspectTask:
    """One ``@task`` function of an Inspect task file, with the task arguments it is run with."""

    path: str
    name: str
    args: tuple[tuple[str, str], ...] = ()

    @property
    def spec(self) -> str:
        """How Inspect names it: ``FILE@NAME``."""
        return f"{self.path}@{self.name}"


def list_inspect_tasks(path: str, args: Sequence[tuple[str, str]] = ()) -> list[InspectTask]:
    """The ``@task`` functions of ``path`` (Inspect's ``list_tasks`` parses the file; nothing is imported). A file
    Inspect cannot read is a TaskFormatError naming it; a file without tasks gives none."""
    inspect_ai = _inspect()
    try:
        full = os.path.abspath(path)
        from pathlib import Path

        found = inspect_ai.list_tasks(os.path.basename(full), root_dir=Path(os.path.dirname(full)))
    except Exception as exc:  # a syntax error, an unreadable file
        raise TaskFormatError(path, None, f"Inspect could not read its tasks: {type(exc).__name__}: {exc}",
                              "fix the file so that `inspect list tasks` lists it") from None
    return [InspectTask(path=os.path.abspath(path), name=info.name, args=tuple(args)) for info in found]


def find_inspect_task(name: str, base: str) -> tuple[str, str | None]:
    """(file, task name or None for all) of ``--lm-inspect-task NAME``: ``FILE.py@NAME``, ``FILE.py`` (relative
    to ``base``), or ``PACKAGE/NAME``, a task of an installed package (``inspect_evals/writingbench``: the module
    of the package whose top-level ``@task`` function is NAME). A ConfigError says what was not found."""
    file, at, task = name.partition("@")
    if file.endswith(".py"):
        path = os.path.abspath(os.path.join(base, file))
        if not os.path.isfile(path):
            raise ConfigError(f"--lm-inspect-task {name}: no file {file}")
        if not looks_like_inspect(path):
            raise ConfigError(f"--lm-inspect-task {name}: {file} has no top-level @task function")
        return path, (task or None) if at else None
    package, slash, task = name.partition("/")
    if not slash or not task or at:
        raise ConfigError(f"--lm-inspect-task {name}: the forms are FILE.py@NAME, FILE.py and PACKAGE/NAME "
                          "(e.g. inspect_evals/writingbench)")
    import importlib.util

    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(f"--lm-inspect-task {name}: no installed package {package!r} (for inspect_evals: "
                          "pip install inspect-evals)")
    definition = re.compile(rf"^(?:async\s+)?def {re.escape(task)}\(", re.MULTILINE)
    for root in spec.submodule_search_locations:
        candidates = sorted(os.path.join(d, f) for d, _, files in os.walk(root) for f in files if f.endswith(".py"))
        # the module named like the task first (inspect_evals/NAME/NAME.py), then every other
        candidates.sort(key=lambda p: os.path.splitext(os.path.basename(p))[0] != task)
        for path in candidates:
            try:
                with open(path, encoding="utf-8", errors="replace") as fh:
                    text = fh.read()
            except OSError:
                continue
            if definition.search(text) and looks_like_inspect(path):
                return path, task
    raise ConfigError(f"--lm-inspect-task {name}: no @task function {task!r} in the package {package!r}")


# ----------------------------------------------------------------------------------------- the provider

#: The models Inspect's ``lmbench/LABEL`` names in this process, with how each is called (set per item).
_MODELS: dict[str, ModelCalls] = {}
_LOCK = threading.Lock()
#: Loads the model of a spec the task itself names (``lmbench/SPEC`` in its model roles or task arguments), per
#: item; None: only the item's own models are known.
_RESOLVE: list[Callable[[str], Any]] = []
#: Why our provider refused a request, per model label (a task that gives the model tools): said instead of what
#: Inspect's log keeps, which can be only a follow-on error of its teardown.
_REFUSED: dict[str, str] = {}
#: What our provider could not give, per model label (token log-probs): a note on the item's result.
_UNMET: dict[str, set[str]] = {}

TOOLS_REFUSED = ("the task gives the model tools, which pytest-lmbench's backends cannot call: run it with "
                 "`inspect eval` and a model of Inspect's own")
LOGPROBS_UNMET = ("the task asks for token log-probs (GenerateConfig.logprobs), which pytest-lmbench's backends do "
                  "not return: its answers came back as text only")


def _sampling(config: Any) -> dict[str, Any]:
    temperature = getattr(config, "temperature", None)
    if not temperature:
        return {}
    return {"temperature": float(temperature), "seed": int(config.seed) if config.seed is not None else 0}


def _conversation(messages: Sequence[Any]) -> list[Message]:
    """Inspect's chat messages as our conversation; what our backends cannot take (tool calls, images) is a
    ValueError that says so."""
    out: list[Message] = []
    for m in messages:
        if m.role == "tool" or getattr(m, "tool_calls", None):
            raise ValueError(TOOLS_REFUSED)
        out.append({"role": m.role, "content": m.text})
    return out


@functools.lru_cache(maxsize=1)
def _provider() -> type:
    """Our ``ModelAPI``, registered once per process as ``lmbench``."""
    from inspect_ai.model import GenerateConfig, ModelAPI, ModelOutput, ModelUsage, modelapi

    class LmbenchAPI(ModelAPI):
        """Inspect's model ``lmbench/LABEL``: the pytest-lmbench model registered under LABEL for this item."""

        def __init__(self, model_name: str, base_url: str | None = None, api_key: str | None = None,
                     config: GenerateConfig | None = None, **model_args: Any) -> None:
            super().__init__(model_name, base_url, api_key, [], config or GenerateConfig())
            self.pending: list[tuple[list[Message], dict[str, Any], asyncio.Future[Any]]] = []

        def max_connections(self) -> int:
            return 64  # samples wait in one batch per turn of the event loop, not on connections

        async def count_text_tokens(self, text: str) -> int:
            return max(1, len(text) // 4)  # no tiktoken: its encoding would be downloaded

        async def generate(self, input: list[Any], tools: list[Any], tool_choice: Any, config: Any) -> Any:
            from pytest_lmbench.core.models.base import DEFAULT_MAX_TOKENS

            try:
                if tools:
                    raise ValueError(TOOLS_REFUSED)
                conversation = _conversation(input)
            except ValueError as exc:
                _REFUSED.setdefault(self.model_name, str(exc))
                raise
            if config.logprobs or config.top_logprobs:
                _UNMET.setdefault(self.model_name, set()).add(LOGPROBS_UNMET)
            kwargs = {"max_tokens": int(config.max_tokens or DEFAULT_MAX_TOKENS),
                      "stop": list(config.stop_seqs) if config.stop_seqs else None, **_sampling(config)}
            loop = asyncio.get_running_loop()
            future: asyncio.Future[Any] = loop.create_future()
            if not self.pending:
                loop.call_soon(self._flush)  # after every sample that asks in this turn has asked
            self.pending.append((conversation, kwargs, future))
            text, tokens = await future
            output = ModelOutput.from_content(self.model_name, text)
            if tokens is not None:
                output.usage = ModelUsage(**tokens)
            return output

        def _flush(self) -> None:
            """The pending requests, one backend call per kind of request (the same settings)."""
            pending, self.pending = self.pending, []
            groups: dict[str, list[tuple[list[Message], dict[str, Any], asyncio.Future[Any]]]] = {}
            for entry in pending:
                groups.setdefault(repr(sorted(entry[1].items())), []).append(entry)
            for entries in groups.values():
                try:
                    answers = _answer(self.model_name, [c for c, _, _ in entries], entries[0][1])
                except BaseException as exc:  # noqa: BLE001 - every sample of the batch hears of it
                    for _, _, future in entries:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                for (_, _, future), answer in zip(entries, answers):
                    if not future.done():
                        future.set_result(answer)

    modelapi(name=PROVIDER)(LmbenchAPI)
    return LmbenchAPI


def _answer(label: str, conversations: list[list[Message]], kwargs: dict[str, Any]
            ) -> list[tuple[str, dict[str, int] | None]]:
    """The model registered as ``label`` answers ``conversations`` (a chat model as chat, a raw one the messages'
    text one after another), with the tokens each used where the backend meters them."""
    from pytest_lmbench.core.models.base import declared
    from pytest_lmbench.core.pipeline import ModelCalls

    calls = _MODELS.get(label)
    if calls is None and _RESOLVE:  # a model the task names itself (a grader, a judge_model= argument)
        model = declared(_RESOLVE[-1](label))
        calls = _MODELS[label] = ModelCalls(model, None, role="judge", what_for=f"the task's model {label}")
    if calls is None:
        raise ValueError(f"no pytest-lmbench model is registered as {label!r} for Inspect")
    from pytest_lmbench.core import usage

    current = usage.current()
    meter = current.role(calls.role) if current is not None else None  # the judge's tokens are its own
    before = (meter.prompt_tokens, meter.generated_tokens) if meter is not None else None
    with _LOCK:
        calls.start(len(conversations))
        if calls.model.prompt_format.chat:
            texts = calls.chat(conversations, **kwargs)
        else:
            texts = calls.generate(["\n\n".join(m["content"] for m in c) for c in conversations], **kwargs)
        calls.finish()
    if meter is None or before is None or not meter.tokens_counted:
        return [(str(t), None) for t in texts]
    # the batch's tokens shared out by the length of each request and answer (Inspect wants them per sample)
    spent_in, spent_out = meter.prompt_tokens - before[0], meter.generated_tokens - before[1]
    sizes_in = [sum(len(m["content"]) for m in c) or 1 for c in conversations]
    sizes_out = [len(str(t)) or 1 for t in texts]
    out: list[tuple[str, dict[str, int] | None]] = []
    for t, a, b in zip(texts, sizes_in, sizes_out):
        tokens_in = round(spent_in * a / sum(sizes_in))
        tokens_out = round(spent_out * b / sum(sizes_out))
        out.append((str(t), {"input_tokens": tokens_in, "output_tokens": tokens_out,
                             "total_tokens": tokens_in + tokens_out}))
    return out


# ----------------------------------------------------------------------------------------- containment

@contextlib.contextmanager
def _contained(log_dir: str | None) -> Iterator[str]:
    """Inspect's ``eval()`` with the process as it was afterwards: the root logger, ``sys.excepthook``,
    ``sys.stdout``/``sys.stderr`` restored; its data directory (``XDG_DATA_HOME``) and, unless ``log_dir``, its
    logs in a temporary directory removed after. Yields the log directory."""
    root = logging.getLogger()
    saved_level, saved_handlers = root.level, list(root.handlers)
    saved_hook, saved_out, saved_err = sys.excepthook, sys.stdout, sys.stderr
    saved_env = {k: os.environ.get(k) for k in ("XDG_DATA_HOME", "INSPECT_LOG_DIR")}
    with tempfile.TemporaryDirectory(prefix="lmbench-inspect-") as scratch, warnings.catch_warnings():
        # deprecation notices raised while Inspect loads itself and its registered packages (inspect_evals) are not
        # the user's to act on
        warnings.filterwarnings("ignore", category=DeprecationWarning,
                                module=r"(inspect_ai|inspect_evals|pydantic)(\.|$)")
        os.environ["XDG_DATA_HOME"] = os.path.join(scratch, "data")
        logs = log_dir or os.path.join(scratch, "logs")
        try:
            yield logs
        finally:
            for handler in root.handlers[:]:
                if handler not in saved_handlers:
                    root.removeHandler(handler)
            root.setLevel(saved_level)
            sys.excepthook, sys.stdout, sys.stderr = saved_hook, saved_out, saved_err
            for key, value in saved_env.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


def _run(fn: Callable[[], Any]) -> Any:
    """``fn()`` here, or, when this thread already runs an event loop (Inspect's ``eval()`` cannot run inside
    one), in a thread of its own with this context (the meter, the role)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return fn()
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="lmbench-inspect") as pool:
        return pool.submit(contextvars.copy_context().run, fn).result()  # its exception raised again here


# ----------------------------------------------------------------------------------------- evaluation

def evaluate_inspect(task: InspectTask, model: Any, options: EvalOptions | None = None, *,
                     progress: LiveProgress | None = None, meter: Usage | None = None,
                     log_dir: str | None = None, resolve: Callable[[str], Any] | None = None,
                     **option_values: Any) -> TaskResult:
    """Run ``task`` with Inspect's ``eval()`` on ``model`` (our backend as ``lmbench/LABEL``) and score it as
    Inspect does. ``options``: ``model_name`` (the label), ``max_examples`` (Inspect's ``limit``), ``repeats``
    (Inspect's ``epochs``; its reducers apply), ``judges`` (the first binds Inspect's ``grader`` role),
    ``max_tokens`` (a default where the task sets none). ``log_dir``: keep Inspect's logs there (for its
    viewer); else they go to a temporary directory. ``resolve``: loads the model of a spec the task names itself
    as ``lmbench/SPEC`` (``model_roles``, a ``judge_model`` argument); its work is metered as the judge's."""
    from pytest_lmbench.core.options import EvalOptions
    from pytest_lmbench.core.pipeline import run_metered

    opts = EvalOptions.of(options, option_values)
    if resolve is not None:
        _RESOLVE.append(resolve)
    try:
        return run_metered(meter, lambda: _evaluate(task, model, opts, progress, log_dir))
    finally:
        if resolve is not None:
            _RESOLVE.remove(resolve)


def _evaluate(task: InspectTask, model: Any, opts: EvalOptions, progress: LiveProgress | None,
              log_dir: str | None) -> TaskResult:
    from pytest_lmbench.core.models.base import declared
    from pytest_lmbench.core.pipeline import ModelCalls

    inspect_ai = _inspect()
    started = time.perf_counter()
    _provider()
    calls = ModelCalls(model, progress, what_for=f"the Inspect task {task.name}")
    label = str(opts.model_name or calls.model.name)
    before = set(_MODELS)
    _MODELS[label] = calls
    roles: dict[str, str] = {}
    if opts.judges:  # Inspect's grader role; its own name, so a judge that is the candidate is metered as a judge
        name = declared(opts.judges[0]).name
        grader = f"judge:{name}"
        _MODELS[grader] = ModelCalls(opts.judges[0], None, role="judge", what_for=f"the judge {name}")
        roles["grader"] = f"{PROVIDER}/{grader}"
    epochs = opts.repeats.k if opts.repeats is not None and opts.repeats.on else None
    generate = {"max_tokens": opts.max_tokens} if opts.max_tokens is not None else {}
    from inspect_ai.model import get_model

    with _contained(log_dir) as logs:  # (get_model loads the entry points of Inspect's packages)
        # our models as fresh Model objects (not Inspect's memoized ones: a model of an earlier item must not answer)
        candidate = get_model(f"{PROVIDER}/{label}", memoize=False)
        bound = {role: get_model(name, memoize=False) for role, name in roles.items()}
        failure: Exception | None = None
        try:
            logs_found = _run(lambda: inspect_ai.eval(
                task.spec, model=candidate, model_roles=bound or None,
                task_args=dict(task.args), limit=opts.max_examples, epochs=epochs, log_dir=logs,
                log_format="json", display="none", ctl_server=False, score_display=False, **generate))
        except Exception as exc:  # the task could not be built or run: its dataset, its sandbox, its code
            failure = exc
        finally:
            mine = [n for n in _MODELS if n not in before]  # this item's: its own, the grader, resolved
            for name in mine:
                _MODELS.pop(name, None)
            unmet = sorted({note for name in mine for note in _UNMET.pop(name, ())})
            refused = _refusal(mine)  # ours, said before what Inspect kept (a follow-on error of its teardown)
        if failure is not None:
            raise ValueError(refused or _why(failure)) from None
        [log] = logs_found
        if log.status != "success":  # (read while its log file is still there)
            raise ValueError(refused or f"Inspect's eval ended with status {log.status!r}: "
                             f"{_last_line(_log_error(log))}")
    try:
        result = to_result(task, log, label, started)
    except ValueError as exc:  # no sample scored: all were refused
        raise ValueError(refused) if refused else exc from None
    result.notes.extend(unmet + ([f"some samples failed: {refused}"] if refused else []))
    return result


def _refusal(labels: Sequence[str]) -> str | None:
    """Why our provider refused one of these models' requests (the first), forgetting them all."""
    found = [why for name in labels if (why := _REFUSED.pop(name, None)) is not None]
    return found[0] if found else None


def _log_error(log: Any) -> str:
    """What failed in a log whose status is not success: the eval's error or a sample's, whichever is not a
    follow-on error of Inspect's teardown ("no running event loop")."""
    messages: list[str] = []
    for source in (log, _read_back(log)):  # the log file too: the log in memory can lack the first error
        if source is None:
            continue
        found = [e for e in [source.error, *(s.error for s in source.samples or [])] if e is not None]
        messages += [str(getattr(e, "message", "") or e) for e in found]
        real = [m for m in messages if not _teardown(m)]
        if real:
            return real[0]
    return (messages or [str(log.status)])[0]


def _read_back(log: Any) -> Any:
    """The log as Inspect wrote it to its file (None when it cannot be read)."""
    try:
        from inspect_ai.log import read_eval_log

        return read_eval_log(log.location)
    except Exception:  # noqa: BLE001 - the log in memory is all there is
        return None


def _why(exc: BaseException) -> str:
    """What went wrong in Inspect, in one line with what to do. Inspect's task groups wrap the first error in
    exception groups, and their teardown can add errors of its own ("no running event loop"): the error shown
    is the first in the chain that is neither."""
    chain: list[BaseException] = []
    todo = [exc]
    while todo:
        one = todo.pop(0)
        if any(one is seen for seen in chain):
            continue
        chain.append(one)
        todo.extend(getattr(one, "exceptions", None) or ())
        todo.extend(e for e in (one.__cause__, one.__context__) if e is not None)
    leaves = [e for e in chain if not getattr(e, "exceptions", None) and not _teardown(str(e))]
    exc = leaves[0] if leaves else exc
    text = f"{type(exc).__name__}: {_last_line(str(exc))}"
    lowered = text.lower()
    if any(word in lowered for word in ("offline", "on the hub", "huggingface", "hf_hub", "connection")):
        return (f"Inspect could not load the task's dataset ({text}): nothing is downloaded at run time; put the "
                "dataset in the local Hugging Face cache, or give the task local data")
    if "docker" in lowered or "sandbox" in lowered:
        return (f"the task needs a sandbox ({text}): pytest-lmbench runs tasks without one; run it with "
                "`inspect eval`")
    return f"Inspect could not run the task: {text}"


def _teardown(message: str) -> bool:
    """A follow-on error of Inspect's teardown after the real one ("no running event loop")."""
    return "event loop" in message


def _last_line(text: str, width: int = 400) -> str:
    """The last line of a message (an exception's most specific), cut to ``width``."""
    line = str(text).strip().splitlines()[-1] if str(text).strip() else ""
    return line if len(line) <= width else line[:width - 3] + "..."


def _float(value: Any) -> float | None:
    """A per-sample score value as Inspect's metrics read it (C/I/P/N, booleans, numbers); None when it is not
    a single value (a dict or a list)."""
    from inspect_ai.scorer import value_to_float

    if isinstance(value, (dict, list)):
        return None
    try:
        return float(value_to_float()(value))
    except (TypeError, ValueError):
        return None


def to_result(task: InspectTask, log: Any, model: str, started: float) -> TaskResult:
    """An Inspect log as a TaskResult: every metric of every scorer as ``SCORER/METRIC``; per example (one per
    sample id; epochs reduced by the task's reducer) the reduced value of each scorer, so the metrics that are
    means (accuracy, mean) get our interval."""
    from pytest_lmbench.core.pipeline import finish_result
    from pytest_lmbench.core.results import ExampleResult

    results = log.results
    if results is None or not results.scores:
        raise ValueError("Inspect's log has no scores: the task has no scorer, or no sample was scored")
    scores: dict[str, float] = {}
    scorers: list[str] = []
    undefined: list[str] = []
    for entry in results.scores:
        scorers.append(entry.name)
        for metric in entry.metrics.values():
            if isinstance(metric.value, (int, float)) and math.isfinite(metric.value):
                scores[f"{entry.name}/{metric.name}"] = float(metric.value)
            elif isinstance(metric.value, (int, float)):
                undefined.append(f"{entry.name}/{metric.name}")
    if not scores:
        raise ValueError(f"Inspect gave no score a value ({', '.join(undefined)} are NaN: no sample could be "
                         "scored, e.g. no grade could be read from the grader)")
    samples = list(log.samples or [])
    ids = list(dict.fromkeys(s.id for s in samples))
    reduced: dict[str, dict[Any, float]] = {}
    for reduction in log.reductions or []:
        values = {r.sample_id: v for r in reduction.samples if (v := _float(r.value)) is not None}
        reduced[reduction.scorer] = values
    by_id: dict[Any, list[Any]] = {}
    for s in samples:
        by_id.setdefault(s.id, []).append(s)
    examples: list[ExampleResult] = []
    per_example: dict[str, dict[int, float]] = {}
    for i, sample_id in enumerate(ids):
        epochs = by_id[sample_id]
        sample = next((s for s in epochs if s.epoch == 1), epochs[0])  # the first epoch's, as shown
        target = sample.target if isinstance(sample.target, list) else [sample.target]
        ex = ExampleResult(id=str(sample_id), index=i, prompt=_text(sample.input), targets=[str(t) for t in target],
                           response=sample.output.completion if sample.output is not None else None,
                           choices=list(sample.choices) if sample.choices else None)
        verdicts = {}
        for name, score in (sample.scores or {}).items():
            verdicts[name] = {"value": score.value, "answer": score.answer, "explanation": score.explanation}
        if len(epochs) > 1:
            ex.samples = [{"response": s.output.completion if s.output is not None else None,
                           "scores": {n: sc.value for n, sc in (s.scores or {}).items()}} for s in epochs]
        ex.scorer = verdicts
        for name in scorers:
            value = reduced.get(name, {}).get(sample_id)
            if value is None:
                continue
            for metric in MEAN_METRICS:
                if f"{name}/{metric}" in scores:
                    per_example.setdefault(f"{name}/{metric}", {})[i] = value
        examples.append(ex)
    preferred = next((f"{s}/{m}" for s in scorers for m in MEAN_METRICS if f"{s}/{m}" in scores),
                     next(iter(scores)))
    notes = [f"run by Inspect {_version()}: {len(ids)} samples"
             + (f" x {log.eval.config.epochs} epochs" if (log.eval.config.epochs or 1) > 1 else "")
             + f"; scores as Inspect's log names them (SCORER/METRIC); {', '.join(scorers)}"]
    if undefined:
        notes.append(f"{', '.join(undefined)}: NaN in Inspect's log (no sample could be scored, e.g. no grade could "
                     "be read from the grader), left out")
    errors = sum(1 for s in samples if s.error is not None)
    if errors:
        notes.append(f"{errors} sample(s) ended in an error (Inspect's fail_on_error allowed them)")
    result = finish_result(task=task.name, model=model, shots=0, examples=examples, scores=scores,
                           per_example=per_example, preferred=preferred, low=0.0, high=1.0, path=task.path,
                           notes=notes, started=started)
    return result


def _text(value: Any) -> str:
    """A sample's input as text (a string, or the text of its chat messages)."""
    if isinstance(value, str):
        return value
    return "\n".join(f"[{m.role}] {m.text}" for m in value)


def _version() -> str:
    import inspect_ai

    return str(getattr(inspect_ai, "__version__", "?"))
