"""The session state of the plugin: configured models, thresholds, the model registry, the results gathered.

A leaf of the pytest layer: ``items``, ``functions``, ``distributed`` and the hooks in ``__init__`` import it,
it imports none of them. One ``LmbenchState`` per pytest config (in ``config.stash``), none in module globals,
so in-process pytester runs do not share it.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import os
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pytest_lmbench.core import gcpause
from pytest_lmbench.core.errors import ConfigError
from pytest_lmbench.core.gates import ThresholdRule, parse_threshold
from pytest_lmbench.core.models.chat import prompt_format
from pytest_lmbench.core.models.registry import ModelSpec, Registry, parse_spec, unique_labels
from pytest_lmbench.core.repeats import Repeats
from pytest_lmbench.core.usage import Usage

if TYPE_CHECKING:
    from pytest_lmbench.core.results import TaskResult

#: The test-report attribute that carries an item's result (pytest serialises extra report attributes).
RESULT_ATTR = "lmbench_result"
#: the examples an item will evaluate, set at collection where they are known: what --lm-shard balances
WEIGHT_ATTR = "lmbench_weight"
DEFAULT_MODEL = "smollm2"
DEFAULT_TASK_FILES = ["task.json"]
STATE_KEY = pytest.StashKey["LmbenchState"]()
#: --lm-inspect-task FILE.py@NAME: the tasks named in each file (absolute path -> names); a file not here runs all.
INSPECT_SELECTION = pytest.StashKey[dict[str, set[str]]]()


class LmbenchState:
    """Per-process state: configured models, thresholds, the model registry, and collected results."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        raw_specs = config.getoption("lm_model") or config.getini("lm_models") or [DEFAULT_MODEL]
        try:
            self.specs: list[ModelSpec] = [parse_spec(s) for s in raw_specs]
            for spec in self.specs:  # chat=1, system=, fewshot=, mc=, think_end=: bad values fail the run now
                prompt_format(spec.options, spec.public)
            judges = config.getoption("lm_judge") or config.getini("lm_judge")
            #: --lm-judge: the models that grade the answers of judged tasks (loaded on first use); several: a panel
            self.judge_specs: list[ModelSpec] = [parse_spec(j) for j in judges]
            for spec in self.judge_specs:
                prompt_format(spec.options, spec.public)
            #: --lm-judge-mode: every judged task judged this way (None: as its file says)
            self.judge_mode: str | None = config.getoption("lm_judge_mode")
            self.rules: list[ThresholdRule] = [parse_threshold(t, "lm_thresholds (ini)")
                                               for t in config.getini("lm_thresholds")]
            self.rules += [parse_threshold(t) for t in config.getoption("lm_threshold")]
        except ConfigError as exc:
            raise pytest.UsageError(str(exc)) from None
        self.labels = unique_labels(self.specs)
        self.shots: list[int] = sorted(set(config.getoption("lm_shots") or [0]))
        if any(s < 0 for s in self.shots):
            raise pytest.UsageError("--lm-shots must be 0 or more")
        self.max_examples: int | None = config.getoption("lm_max_examples")
        if self.max_examples is not None and self.max_examples < 1:
            raise pytest.UsageError("--lm-max-examples must be 1 or more")
        self.max_tokens: int | None = config.getoption("lm_max_tokens")
        if self.max_tokens is not None and self.max_tokens < 1:
            raise pytest.UsageError("--lm-max-tokens must be 1 or more")
        self._repeat_options(config)
        self.patterns: list[str] = list(config.getini("lm_task_files"))
        self.gate: str = config.getoption("lm_gate")
        self.strict: bool = config.getoption("lm_strict")
        self.alpha: float = config.getoption("lm_alpha")
        if not 0 < self.alpha < 1:
            raise pytest.UsageError(f"--lm-alpha {self.alpha}: must be between 0 and 1, e.g. 0.05")
        self.max_regression: float = config.getoption("lm_max_regression")
        if self.max_regression < 0:
            raise pytest.UsageError(f"--lm-max-regression {self.max_regression}: must be 0 or more, e.g. 0.02")
        self.baseline = None if _is_worker(config) else _load_baseline(config)
        self.compare_to: str | None = config.getoption("lm_compare")
        if self.compare_to is not None:
            by_spec = {s.public: label for s, label in zip(self.specs, self.labels)}
            self.compare_to = by_spec.get(self.compare_to, self.compare_to)
            if self.compare_to not in self.labels:
                raise pytest.UsageError(f"--lm-compare {self.compare_to}: not one of the models of this run "
                                        f"({', '.join(self.labels)})")
        self.cache_path: str | None = None if config.getoption("lm_no_cache") else cache_path(config)
        if self.cache_path and config.getoption("lm_cache_clear") and not _is_worker(config):
            try:
                _clear_cache(self.cache_path)
            except Exception as exc:  # sqlite3.Error, OSError
                raise pytest.UsageError(f"--lm-cache-clear: cannot clear the answer cache {self.cache_path}: "
                                        f"{exc}") from None
        self.registry = Registry(cache=self._open_cache if self.cache_path else None)
        self.registry.default_system = config.getoption("lm_system_prompt") or config.getini("lm_system_prompt") or None
        self._plugin_backends_loaded = False
        self.scorers: dict[str, Any] = {}  # extra generative scorers (pytest_lmbench_metrics), filled by model()
        self.results: list[TaskResult] = []
        #: the run-level results (``core/run.final_results``) once the session has finished, for the summary
        self.final: list[TaskResult] | None = None
        #: --lm-shard: {"index", "count", "items" (this share's), "total" (all shares')}, set at collection (on
        #: xdist workers, and sent to the controller in their workeroutput)
        self.shard: dict[str, int] | None = None
        self.session: pytest.Session | None = None
        self.spent = Usage()  # what the results gathered so far cost (the budgets' measure)
        self.stopped: str | None = None  # why a budget stopped the run

    def _repeat_options(self, config: pytest.Config) -> None:
        """--lm-repeats, --lm-temperature, --lm-pass-at and the budgets, checked."""
        self.repeats_k: int | None = config.getoption("lm_repeats")
        if self.repeats_k is not None and self.repeats_k < 1:
            raise pytest.UsageError(f"--lm-repeats {self.repeats_k}: must be 1 or more, e.g. 8")
        self.temperature: float | None = config.getoption("lm_temperature")
        if self.temperature is not None and not self.temperature >= 0:
            raise pytest.UsageError(f"--lm-temperature {self.temperature}: must be 0 or more, e.g. 1.0")
        text = config.getoption("lm_pass_at")
        self.pass_at: tuple[int, ...] | None = None
        if text:
            try:
                self.pass_at = tuple(int(x) for x in text.split(",") if x.strip())
            except ValueError:
                self.pass_at = ()
            if not self.pass_at or any(k < 1 for k in self.pass_at):
                raise pytest.UsageError(f"--lm-pass-at {text!r}: a comma-separated list of whole numbers of 1 or "
                                        "more, e.g. 1,5,10")
        self.baseline_metric: str | None = config.getoption("lm_baseline_metric")
        self.max_tokens_total: int | None = config.getoption("lm_max_tokens_total")
        if self.max_tokens_total is not None and self.max_tokens_total < 1:
            raise pytest.UsageError(f"--lm-max-tokens-total {self.max_tokens_total}: must be 1 or more")
        self.max_cost: float | None = config.getoption("lm_max_cost")
        if self.max_cost is not None:
            if not self.max_cost > 0:
                raise pytest.UsageError(f"--lm-max-cost {self.max_cost}: must be more than 0, e.g. 2.50")
            if not any("price_in" in s.options or "price_out" in s.options for s in self.specs):
                raise pytest.UsageError("--lm-max-cost needs prices to count cost: give them in the model spec, "
                                        "e.g. --lm-model 'openai:gpt-4o-mini?price_in=0.15&price_out=0.6' (per "
                                        "million tokens); or budget tokens with --lm-max-tokens-total")

    def repeats_for(self, from_file: dict[str, Any] | None) -> Repeats:
        """A task's repeats: the command line's, over its file's ``lmbench`` block, over the defaults."""
        base = Repeats(**{**from_file, "pass_at": tuple(from_file.get("pass_at") or ())}) if from_file else Repeats()
        try:
            return dataclasses.replace(
                base, k=self.repeats_k if self.repeats_k is not None else base.k,
                temperature=self.temperature if self.temperature is not None else base.temperature,
                pass_at=self.pass_at if self.pass_at is not None else base.pass_at)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        self.session = session

    def _check_budget(self, result: TaskResult) -> None:
        """Add an item's usage to the run's; past a budget, stop the run as -x does (pytest's shouldstop, and
        xdist's controller's: the items in flight finish, and under xdist those already handed to a worker;
        the report is written and marked incomplete)."""
        if result.usage:
            self.spent.merge(result.usage)
        if self.stopped is not None or self.session is None:
            return
        why = None
        if self.max_tokens_total is not None and self.spent.tokens > self.max_tokens_total:
            why = (f"{self.spent.tokens:,} tokens used, over --lm-max-tokens-total {self.max_tokens_total:,}")
        elif self.max_cost is not None and (self.spent.cost or 0.0) > self.max_cost:
            why = f"cost {self.spent.cost:.4f}, over --lm-max-cost {self.max_cost:g}"
        if why is not None:
            kept = "; the answers so far are in the answer cache: a rerun picks up from here" if self.cache_path else ""
            self.stopped = (f"lmbench budget: {why}; the run stopped after {result.task} [{result.model}] "
                            f"(report incomplete{kept})")
            self.session.shouldstop = self.stopped
            dsession = self.config.pluginmanager.get_plugin("dsession")  # xdist's controller keeps its own flag
            if dsession is not None and hasattr(dsession, "shouldstop"):
                dsession.shouldstop = self.stopped

    def cached_labels(self) -> set[str]:
        """Labels of the models whose answers go to the answer cache (backends described as cached, cache on).
        Called on the xdist controller, which loads no model: a backend it cannot describe counts as uncached."""
        if self.cache_path is None:
            return set()
        self._load_plugins()
        labels = set()
        for spec, label in zip(self.specs, self.labels):
            try:
                if self.registry.describe(spec).cached:
                    labels.add(label)
            except ConfigError:  # an unknown backend: its items errored already
                pass
        return labels

    def _open_cache(self) -> Any:
        from pytest_lmbench.core.models.cache import ResponseCache

        assert self.cache_path is not None
        try:
            return ResponseCache(self.cache_path)
        except Exception as exc:  # sqlite3.Error, OSError: the items that need it error with this one line
            raise ConfigError(f"--lm-cache-dir: cannot open the answer cache {self.cache_path}: {exc} "
                              "(fix the directory or run with --lm-no-cache)") from None

    def is_task_file(self, path: Path) -> bool:
        return any(fnmatch.fnmatch(path.name, p) for p in self.patterns)

    def _load_plugins(self) -> None:
        """Backends and scorers from other plugins' hooks, once per session."""
        if not self._plugin_backends_loaded:
            self._plugin_backends_loaded = True
            for extra in self.config.hook.pytest_lmbench_backends():
                for name, factory in (extra or {}).items():
                    self.registry.register(name, factory)
            for extra in self.config.hook.pytest_lmbench_metrics():
                self.scorers.update(extra or {})

    def model(self, spec: ModelSpec) -> Any:
        self._load_plugins()
        return self.registry.get(spec)

    def judge_specs_for(self, own: str | None = None) -> list[ModelSpec]:
        """The judges' specs: --lm-judge (a panel when repeated), else the task's own (``own``, a spec); empty
        when neither names one."""
        if self.judge_specs or own is None:
            return list(self.judge_specs)
        try:
            spec = parse_spec(own)
            prompt_format(spec.options, spec.public)
        except ConfigError as exc:
            raise ConfigError(f"lmbench.judge.model: {exc}") from None
        return [spec]

    def warn_self_judging(self, spec: ModelSpec, own: str | None, where: tuple[str, int]) -> None:
        """A SelfPreferenceWarning for each judge that is the model under test (``spec``'s backend and target,
        whatever its prompt format): judges tend to prefer their own answers. ``where``: the file and line the
        warning is shown at (the task file, the test function)."""
        from pytest_lmbench.core.scoring.judge import SelfPreferenceWarning

        for judge in self.judge_specs_for(own):
            if (judge.backend, judge.target) == (spec.backend, spec.target):
                warnings.warn_explicit(SelfPreferenceWarning(
                    f"the judge {judge.label} is the model under test {spec.label}: judges tend to prefer their "
                    "own answers (self-preference); grade with another model (--lm-judge)"),
                    SelfPreferenceWarning, where[0], where[1])

    def judges(self, own: str | None = None) -> tuple[Any, ...]:
        """The judge models (``judge_specs_for``), through the same registry and answer cache as the models
        under test."""
        return tuple(self.model(spec) for spec in self.judge_specs_for(own))

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        """pytest-xdist: a worker's share of --lm-shard (every worker computes the same one)."""
        shard = getattr(node, "workeroutput", {}).get("lmbench_shard")
        if shard is not None:
            self.shard = dict(shard)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Gather results on the process that writes the summary (the xdist controller, or the only one)."""
        data = getattr(report, "lmbench_result", None)
        if data is not None:
            from pytest_lmbench.core.results import TaskResult

            if isinstance(data, TaskResult):  # run in this process
                self.results.append(data)
            else:  # from an xdist worker
                with gcpause.paused():
                    self.results.append(TaskResult.from_dict(data))
            if not _is_worker(self.config):
                self._check_budget(self.results[-1])
        elif report.when == "???":  # pytest-xdist: the worker running this item crashed
            from pytest_lmbench.plugin.crashes import crashed_item_result

            lost = crashed_item_result(report, self.labels, cached=self.cached_labels())
            if lost is not None:
                self.results.append(lost)


def _load_baseline(config: pytest.Config) -> Any:
    """The --lm-baseline report, indexed; a usage error naming the file and what is wrong with it."""
    path = config.getoption("lm_baseline")
    if not path:
        if config.getoption("lm_baseline_model"):
            raise pytest.UsageError("--lm-baseline-model needs --lm-baseline PATH")
        return None
    from pytest_lmbench.core.compare import BaselineIndex
    from pytest_lmbench.core.results import ReportError, load_report

    full = os.path.join(str(config.invocation_params.dir), path)
    try:
        results = load_report(full, path)
        return BaselineIndex(results, path, config.getoption("lm_baseline_model"))
    except (ReportError, ValueError) as exc:
        raise pytest.UsageError(f"--lm-baseline {exc}") from None


def cache_path(config: pytest.Config) -> str:
    """The answer cache file: --lm-cache-dir, else lmbench/ under pytest's cache_dir (as cacheprovider finds it)."""
    directory = config.getoption("lm_cache_dir")
    if directory:
        base = Path(os.path.expanduser(directory))
        if not base.is_absolute():
            base = config.invocation_params.dir / base
    else:
        try:
            configured = str(config.getini("cache_dir"))
        except ValueError:  # -p no:cacheprovider: its ini option is not registered
            configured = ".pytest_cache"
        base = Path(os.path.expandvars(configured))
        base = (base if base.is_absolute() else config.rootpath / base) / "lmbench"
    return str(base / "answers.sqlite")


def _clear_cache(path: str) -> None:
    from pytest_lmbench.core.models.cache import ResponseCache

    if os.path.exists(path):
        cache = ResponseCache(path)
        cache.clear()
        cache.close()


def get_state(config: pytest.Config) -> LmbenchState:
    return config.stash[STATE_KEY]


def _is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def attach(report: pytest.TestReport, result: TaskResult) -> None:
    """Put an item's result on its test report: the TaskResult within one process, turned into builtin types
    when pytest serialises the report (``pytest_report_to_serializable`` in ``__init__``). The task file's digest
    goes with it (what a merge of split runs checks: the same task file everywhere)."""
    if result.path and result.source_digest is None:
        from pytest_lmbench.core.results import source_digest

        result.source_digest = source_digest(result.path)
    setattr(report, RESULT_ATTR, result)
