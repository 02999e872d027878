"""The pytest layer: options, collection of task files, result hand-off and the end-of-run report.

pytest imports this module (the ``pytest11`` entry point) in every run of an environment where the package is
installed, so it imports only what every run needs; the evaluation core (numpy and all) is imported by the
hooks that meet a task file or a result (measured by bench/bench_import.py, guarded by tests/test_lazy_import.py).

Only this module, ``items`` and ``report/`` know pytest. Results travel from items to the summary on the test
report (``lmbench_result``): the ``TaskResult`` itself within one process, and as its builtin-typed dict when
the report is serialised (sent from an xdist worker to the controller, or written by a report-log plugin).
"""

from __future__ import annotations

import fnmatch
import os
import signal
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pytest_lmbench.core import gcpause
from pytest_lmbench.core.gates import GATES
from pytest_lmbench.plugin import hookspecs
from pytest_lmbench.plugin.state import (
    DEFAULT_MODEL,
    DEFAULT_TASK_FILES,
    STATE_KEY,
    LmbenchState,
    _is_worker,
    get_state,
)

if TYPE_CHECKING:
    from pytest_lmbench.core.results import TaskResult



def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    pluginmanager.add_hookspecs(hookspecs)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("lmbench", "language-model evaluation (pytest-lmbench)")
    group.addoption("--lm-model", action="append", default=[], metavar="SPEC",
                    help="model to evaluate, BACKEND:TARGET?key=value (repeatable). "
                         f"Default: ini lm_models, else {DEFAULT_MODEL}.")
    group.addoption("--lm-shots", action="append", type=int, default=[], metavar="N",
                    help="few-shot count (repeatable; default 0)")
    group.addoption("--lm-max-examples", type=int, default=None, metavar="N",
                    help="evaluate at most N examples per task, subsampled as BIG-bench does "
                         "(a parent's N is split evenly over its subtasks)")
    group.addoption("--lm-threshold", action="append", default=[], metavar="[TASK_GLOB:]METRIC=VALUE",
                    help="pass/fail threshold (repeatable), e.g. multiple_choice_grade=0.5")
    group.addoption("--lm-report", default=None, metavar="PATH", help="write the JSON report here")
    group.addoption("--lm-shard", default=None, metavar="I/N",
                    help="run the I-th of N deterministic shares of the items, balanced by example count (the same "
                         "share under xdist); merge the shards' reports with `python -m pytest_lmbench merge`")
    group.addoption("--lm-html", default=None, metavar="PATH",
                    help="write a self-contained HTML report with plots here (no network needed to view it)")
    group.addoption("--lm-gate", choices=list(GATES), default="lower",
                    help="lower (default): a threshold passes only when the one-sided 95%% bound of the score "
                         "clears it (a score that clears it by noise only is 'inconclusive'); point: the score "
                         "itself")
    group.addoption("--lm-strict", action="store_true", default=False,
                    help="inconclusive threshold results fail their items")
    group.addoption("--lm-baseline", default=None, metavar="PATH",
                    help="an earlier --lm-report to gate against: items whose preferred score is significantly "
                         "worse on the same examples (paired test, Holm-corrected) fail the run")
    group.addoption("--lm-baseline-model", default=None, metavar="LABEL",
                    help="the model of the baseline report to compare with, when it has several")
    group.addoption("--lm-max-regression", type=float, default=0.0, metavar="FRACTION",
                    help="allowed drop before a regression fails, as a fraction of the metric's range "
                         "(0.02 = 2 points of a 0-1 grade, 2 BLEU points; default 0)")
    group.addoption("--lm-alpha", type=float, default=0.05, metavar="ALPHA",
                    help="significance level of the baseline gate, over all compared items (default 0.05)")
    group.addoption("--lm-judge", action="append", default=[], metavar="SPEC",
                    help="the model that grades the answers of tasks with a judge (lmbench.judge), any model spec, "
                         "e.g. 'smollm2?chat=1' or 'openai:gpt-4o-mini?chat=1'; repeat it for a panel of judges "
                         "(ini: lm_judge)")
    group.addoption("--lm-judge-mode", default=None, choices=("single", "pairwise"),
                    help="judge every judged task this way, whatever its file says: 'single' grades each answer on "
                         "the task's scale, 'pairwise' compares it with the --lm-compare model's (or the target)")
    group.addoption("--lm-compare", default=None, metavar="MODEL",
                    help="with several --lm-model: every other model's paired difference against this one")
    group.addoption("--lm-cache-dir", default=None, metavar="DIR",
                    help="where model answers are cached (default: lmbench/ under pytest's cache_dir)")
    group.addoption("--lm-no-cache", action="store_true", default=False,
                    help="call the models for every request; read and write no cached answers")
    group.addoption("--lm-cache-clear", action="store_true", default=False,
                    help="empty the answer cache before the run")
    group.addoption("--lm-max-tokens", type=int, default=None, metavar="N",
                    help="maximum generated tokens per example (default 64)")
    group.addoption("--lm-repeats", type=int, default=None, metavar="K",
                    help="answer every example K times (temperature --lm-temperature, repeat i with seed "
                         "seed + i) and report mean@K, maj@K, pass@k and pass^k; overrides the task files' "
                         "lmbench.repeats")
    group.addoption("--lm-temperature", type=float, default=None, metavar="T",
                    help="sampling temperature of the repeats (default: the task file's, else 1.0)")
    group.addoption("--lm-pass-at", default=None, metavar="K1,K2,...",
                    help="the k of pass@k and pass^k to report, e.g. 1,5,10 (default: 1 and K)")
    group.addoption("--lm-baseline-metric", default=None, metavar="METRIC",
                    help="compare with the baseline on this score (e.g. maj@8) where both results have it, "
                         "instead of the preferred score")
    group.addoption("--lm-max-tokens-total", type=int, default=None, metavar="N",
                    help="stop the run cleanly (incomplete report) once its models have used N tokens, prompt "
                         "and generated")
    group.addoption("--lm-max-cost", type=float, default=None, metavar="AMOUNT",
                    help="stop the run cleanly (incomplete report) once it has cost AMOUNT, by the prices of "
                         "openai: models (?price_in=&price_out=, per million tokens)")
    group.addoption("--lm-eval-task", action="append", default=[], metavar="NAME",
                    help="an lm-evaluation-harness task or group by name, from its registry or --lm-eval-include; "
                         "its config file is collected (repeatable)")
    group.addoption("--lm-inspect-task", action="append", default=[], metavar="FILE.py@NAME",
                    help="an Inspect task: FILE.py@NAME (one task of a file), FILE.py (all of them) or PACKAGE/NAME "
                         "(a task of an installed package, e.g. inspect_evals/writingbench); repeatable")
    group.addoption("--lm-inspect-arg", action="append", default=[], metavar="KEY=VALUE",
                    help="a task argument for every Inspect task (Inspect's -T KEY=VALUE); repeat it for more")
    group.addoption("--lm-inspect-log-dir", default=None, metavar="DIR",
                    help="keep Inspect's logs here, for Inspect's own viewer (default: a temporary directory)")
    group.addoption("--lm-eval-include", action="append", default=[], metavar="DIR",
                    help="a directory of lm-evaluation-harness configs that collected configs include or name, as "
                         "lm_eval --include_path (repeatable)")
    group.addoption("--lm-allow-code-execution", action="store_true", default=False,
                    help="run BIG-bench programmatic tasks that execute code the model wrote (program_synthesis, "
                         "python_programming_challenge); without it they are skipped")
    group.addoption("--lm-system-prompt", default=None, metavar="TEXT",
                    help="system turn of chat models (chat=1) whose spec has no system=; ini: lm_system_prompt")
    parser.addini("lm_system_prompt", default=None, help="system turn of chat models (see --lm-system-prompt)")
    parser.addini("lm_task_files", type="args", default=DEFAULT_TASK_FILES,
                  help="glob patterns of task files to collect (default: task.json)")
    parser.addini("lm_models", type="linelist", default=[], help="models to evaluate (one spec per line)")
    parser.addini("lm_inspect_files", type="args", default=["inspect_*.py"],
                  help="glob patterns of Inspect task files (.py with @task functions) to collect (default: "
                       "inspect_*.py); a file named on the command line is collected whatever its name")
    parser.addini("lm_judge", type="linelist", default=[],
                  help="the judge model's spec, one per line for a panel (see --lm-judge)")
    parser.addini("lm_thresholds", type="linelist", default=[],
                  help="thresholds, one [TASK_GLOB:]METRIC=VALUE per line")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "lmbench(metric=None, threshold=None, keywords=(), name=None): a "
                            "language-model evaluation item (added to every task item; on a test function it "
                            "names the metric, the pass threshold and the BIG-bench keywords of its task)")
    _add_named_lmeval_configs(config)
    _add_named_inspect_tasks(config)
    state = LmbenchState(config)
    config.stash[STATE_KEY] = state
    _stop_cleanly_on_sigterm(state)
    config.pluginmanager.register(state, "lmbench-state")
    from pytest_lmbench.plugin import functions

    if not config.pluginmanager.is_registered(functions):
        config.pluginmanager.register(functions, "lmbench-functions")
    if config.getoption("lm_shard", None):
        from pytest_lmbench.plugin import shard

        shard.parse_shard(config.getoption("lm_shard"))  # a usage error before anything is collected
        if not config.pluginmanager.is_registered(shard):
            config.pluginmanager.register(shard, "lmbench-shard")
    if config.pluginmanager.has_plugin("xdist") and not _is_worker(config) and _distributed(config):
        from pytest_lmbench.plugin import distributed

        if not config.pluginmanager.is_registered(distributed):
            config.pluginmanager.register(distributed, "lmbench-distributed")


def _add_named_lmeval_configs(config: pytest.Config) -> None:
    """``--lm-eval-task NAME``: the config file that defines NAME (lm-eval's registry, --lm-eval-include) is
    collected like any config under the given paths; with no paths on the command line, it is all that is
    collected. Each process (xdist workers too) finds the same files."""
    names = config.getoption("lm_eval_task", None)
    if not names:
        return
    from pytest_lmbench.core.errors import LmbenchError
    from pytest_lmbench.core.tasks.lmeval import find_configs

    try:
        paths = find_configs(names, config.getoption("lm_eval_include") or [])
    except LmbenchError as exc:
        raise pytest.UsageError(str(exc)) from None
    _collect_named(config, paths)


def _add_named_inspect_tasks(config: pytest.Config) -> None:
    """``--lm-inspect-task``: each named task's file is collected like a file named on the command line (only
    the named task of it, with ``@NAME``); with no paths on the command line, they are all that is collected."""
    names = config.getoption("lm_inspect_task", None)
    if not names:
        return
    from pytest_lmbench.core.errors import LmbenchError
    from pytest_lmbench.core.tasks.inspect_tasks import find_inspect_task
    from pytest_lmbench.plugin.state import INSPECT_SELECTION

    selection: dict[str, set[str]] = {}
    paths = []
    for name in names:
        try:
            path, task = find_inspect_task(name, str(config.invocation_params.dir))
        except LmbenchError as exc:
            raise pytest.UsageError(str(exc)) from None
        if path not in paths:
            paths.append(path)
        if task is not None:
            selection.setdefault(path, set()).add(task)
    config.stash[INSPECT_SELECTION] = selection
    _collect_named(config, paths)


#: set once the files named by --lm-eval-task/--lm-inspect-task replaced pytest's default paths
_NAMED_ONLY = pytest.StashKey[bool]()


def _collect_named(config: pytest.Config, paths: list[str]) -> None:
    """Collect ``paths`` too; with no paths on the command line, only the files named by options (both
    options' files: the second adds to the first's)."""
    if config.args_source != pytest.Config.ArgsSource.ARGS and not config.stash.get(_NAMED_ONLY, False):
        config.args[:] = paths
        config.stash[_NAMED_ONLY] = True
    else:
        config.args.extend(p for p in paths if p not in config.args)


def _distributed(config: pytest.Config) -> bool:
    """Whether this run hands items to xdist workers (its scheduler hook is registered only then: importing
    xdist's schedulers costs every other run start-up time)."""
    option = config.option
    return (getattr(option, "dist", "no") != "no" or bool(getattr(option, "numprocesses", None))
            or bool(getattr(option, "tx", None)))


def _stop_cleanly_on_sigterm(state: LmbenchState) -> None:
    """SIGTERM (a CI job cancelled, a pod evicted) stops the run as Ctrl-C does, so the session still ends:
    the report is written, marked incomplete, and the answers so far are in the cache for the next run."""
    if _is_worker(state.config) or threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        return  # someone else handles it

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt("SIGTERM")

    signal.signal(signal.SIGTERM, interrupt)
    state.restore_sigterm = True  # type: ignore[attr-defined]


def pytest_unconfigure(config: pytest.Config) -> None:
    state = config.stash.get(STATE_KEY, None)
    if state is not None:
        state.registry.close()
        if getattr(state, "restore_sigterm", False):
            signal.signal(signal.SIGTERM, signal.SIG_DFL)


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """BIG-bench's own test modules inside its task directories (``test_solutions.py``) test the task code with
    BIG-bench's development dependencies; a run over ``benchmark_tasks/`` collects the tasks, not those, unless
    one is named on the command line."""
    if collection_path.suffix != ".py" or not collection_path.name.startswith("test") \
            or "benchmark_tasks" not in collection_path.parts[:-1]:
        return None
    parts = collection_path.parts
    i = len(parts) - 1 - parts[::-1].index("benchmark_tasks")
    if i == 0 or parts[i - 1] != "bigbench" or any(Path(a).resolve() == collection_path.resolve()
                                                   for a in config.args if os.path.exists(a.split("::")[0])):
        return None
    return True


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if file_path.suffix == ".py" and file_path.name != "task.py":
        return _inspect_file(file_path, parent, python=False)
    if file_path.name == "task.py":
        if parent.session.isinitpath(file_path) and parent.config.pluginmanager.has_plugin("python"):
            return None  # named on the command line: pytest's python plugin asks pytest_pycollect_makemodule
        return _programmatic_file(file_path, parent)
    if file_path.suffix in (".yaml", ".yml"):
        from pytest_lmbench.core.tasks.lmeval import looks_like_lmeval

        if not looks_like_lmeval(str(file_path)):
            return None  # other YAML files are left alone
        from pytest_lmbench.plugin.items import LmevalFile

        return LmevalFile.from_parent(parent, path=file_path)
    state = get_state(parent.config)
    if not state.is_task_file(file_path):
        return None
    from pytest_lmbench.core.tasks.bigbench import is_parent_task_file
    from pytest_lmbench.plugin.items import TaskFile

    # A subtask file is collected through its parent (to be named parent:child and aggregated),
    # unless the user named it explicitly on the command line.
    sibling_parent = file_path.parent.parent / file_path.name
    if sibling_parent.is_file() and is_parent_task_file(sibling_parent) and not parent.session.isinitpath(file_path):
        return None
    return TaskFile.from_parent(parent, path=file_path)


@pytest.hookimpl(tryfirst=True)
def pytest_pycollect_makemodule(module_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    """A programmatic task's ``task.py`` is a task, not a test module: pytest would import it (and fail without
    its checkout on ``sys.path``) when it is named on the command line or matches ``python_files``."""
    if module_path.name != "task.py":
        return _inspect_file(module_path, parent, python=True)
    collector = _programmatic_file(module_path, parent)
    if collector is None or parent.session.isinitpath(module_path):
        return collector
    from pytest_lmbench.plugin.items import CollectedElsewhere

    return CollectedElsewhere.from_parent(parent, path=module_path)  # pytest_collect_file collected it


def _inspect_file(file_path: Path, parent: pytest.Collector, *, python: bool) -> pytest.Collector | None:
    """An Inspect task file: a ``.py`` file with top-level ``@task`` functions, named on the command line or
    matching ini ``lm_inspect_files`` (judged by parsing it; neither it nor Inspect is imported here). ``python``:
    asked by pytest's python plugin (the file is named on the command line or matches ``python_files``), which
    would otherwise import it as a test module."""
    patterns = parent.config.getini("lm_inspect_files")
    named = parent.session.isinitpath(file_path)
    if not named and not any(fnmatch.fnmatch(file_path.name, p) or file_path.match(p) for p in patterns):
        return None
    if not python and named and parent.config.pluginmanager.has_plugin("python"):
        return None  # pytest's python plugin asks pytest_pycollect_makemodule for it
    from pytest_lmbench.core.tasks.inspect_tasks import looks_like_inspect

    if not looks_like_inspect(str(file_path)):
        return None
    from pytest_lmbench.plugin.items import CollectedElsewhere, InspectFile

    if python and not named:  # it matches python_files and lm_inspect_files: pytest_collect_file collected it
        return CollectedElsewhere.from_parent(parent, path=file_path)
    return InspectFile.from_parent(parent, path=file_path)


def _programmatic_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    """A BIG-bench programmatic task (``benchmark_tasks/NAME/task.py`` with no ``task.json``), judged from the
    file alone."""
    if file_path.parent.parent.name != "benchmark_tasks" or (file_path.parent / "task.json").exists():
        return None
    from pytest_lmbench.core.errors import TaskFormatError
    from pytest_lmbench.core.tasks.programmatic import find_programmatic
    from pytest_lmbench.plugin.items import ProgrammaticFile

    try:
        task = find_programmatic(str(file_path))
    except TaskFormatError as exc:
        return ProgrammaticFile.from_parent(parent, path=file_path, task=None, error=exc)
    return None if task is None else ProgrammaticFile.from_parent(parent, path=file_path, task=task, error=None)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):
    report = yield
    items = sys.modules.get("pytest_lmbench.plugin.items")  # not imported: no task file was collected
    if items is not None and isinstance(item, (items.TaskItem, items.InvalidTaskFile)):  # LmevalItem too
        item.attach_result(report, call)
    else:
        from pytest_lmbench.plugin.functions import attach_function_result

        attach_function_result(item, report, call)
    data = getattr(report, "lmbench_result", None)
    if data is not None:
        from pytest_lmbench.report.junit import junit_properties

        item.user_properties.extend(junit_properties(data))  # on the teardown report, which junitxml reads
    return report


@pytest.hookimpl(wrapper=True)
def pytest_report_to_serializable(config: pytest.Config, report: Any):
    """A result crosses process boundaries (xdist's execnet, report logs) as builtin types only: converted
    here, when a report is serialised, so that a run in one process never pays for it."""
    data = yield
    if isinstance(data, dict) and data.get("lmbench_result") is not None \
            and not isinstance(data["lmbench_result"], dict):  # a TaskResult
        data = dict(data)
        with gcpause.paused():
            data["lmbench_result"] = data["lmbench_result"].to_dict()
    return data


def final_results(state: LmbenchState) -> list[TaskResult]:
    """The run's results with its comparisons and aggregates (``core/run.final_results``), from this session's
    results and options."""
    if not state.results:
        return []  # nothing evaluated: the core is not imported
    from pytest_lmbench.core.run import final_results as run_results

    return run_results(state.results, baseline=state.baseline, max_regression=state.max_regression,
                       alpha=state.alpha, baseline_metric=state.baseline_metric, compare_to=state.compare_to,
                       lmeval_include=state.config.getoption("lm_eval_include") or ())


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    if _is_worker(config):
        shard = get_state(config).shard
        if shard is not None:  # what the controller, which never collects, writes into the report
            config.workeroutput["lmbench_shard"] = shard  # type: ignore[attr-defined]
        return
    with gcpause.paused():  # the reports of every example: many objects, no cycles
        _finish(session, config, exitstatus)


def _finish(session: pytest.Session, config: pytest.Config, exitstatus: int) -> None:
    state = get_state(config)
    results = state.final = final_results(state)
    if any(r.outcome == "regressed" for r in results) and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    with gcpause.resumed():  # other plugins' code runs with the collector as usual
        for r in results:
            config.hook.pytest_lmbench_result(result=r)
    html_path, path = config.getoption("lm_html"), config.getoption("lm_report")
    if not results and not html_path and not path:
        return  # nothing was evaluated and nothing is to be written: the core is never imported
    from pytest_lmbench.core.aggregates import model_aggregates
    from pytest_lmbench.core.results import Report, write_text_atomic

    aggregates = model_aggregates(results)
    step_summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if step_summary and results:
        from pytest_lmbench.report.markdown import render_markdown

        with open(step_summary, "a", encoding="utf-8") as fh:
            fh.write(render_markdown(results, aggregates) + "\n")
    complete = exitstatus not in (pytest.ExitCode.INTERRUPTED, pytest.ExitCode.INTERNAL_ERROR)
    if html_path:
        from pytest_lmbench.report.html import render_html

        write_text_atomic(os.path.join(str(config.invocation_params.dir), html_path),
                          render_html(results, aggregates, models=state.labels, meta={"complete": complete},
                                      baseline=state.baseline))
    if path:
        Report(complete=complete, models=[s.public for s in state.specs], shots=state.shots,
               max_examples=state.max_examples, aggregates=[g.to_dict() for g in aggregates],
               results=results, extra={"shard": state.shard} if state.shard is not None else {}
               ).save(os.path.join(str(config.invocation_params.dir), path))


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    if _is_worker(config):
        return
    state = get_state(config)
    results = state.final or final_results(state)
    if not results:
        return
    from pytest_lmbench.report.terminal import render_summary, summary_lines

    tw = config.get_terminal_writer()
    terminalreporter.section("lmbench summary", sep="=")
    terminalreporter.write(render_summary(results, width=tw.fullwidth, color=tw.hasmarkup,
                                          verbose=config.get_verbosity(), models=state.labels))
    budget = state.max_tokens_total is not None or state.max_cost is not None
    for line, markup in summary_lines(results, cache_path=state.cache_path, budget=budget, stopped=state.stopped,
                                      width=tw.fullwidth):
        terminalreporter.write_line(line, **markup)
    for label, option in (("report", "lm_report"), ("html", "lm_html")):
        if config.getoption(option):
            terminalreporter.write_line(f"lmbench {label}: {config.getoption(option)}")
