"""lm-evaluation-harness task configs as tasks: lm-eval builds and scores them, our backends answer.

Nothing of lm-eval's format is re-implemented here. Its ``TaskManager`` reads the YAML (``include``,
``!function``, Jinja, local ``datasets`` files), its ``Task`` builds the prompts, few-shot contexts and requests,
its evaluator applies filters and ``repeats`` and computes every metric with the task's own
``process_results`` and aggregations. What is ours: an ``lm_eval.api.model.LM`` that sends its requests to a
pytest-lmbench backend (through the answer cache, batched), and the turning of lm-eval's per-document metric
values into a :class:`TaskResult` with our error bars, thresholds and comparisons. Scores keep lm-eval's
names (``"acc,none"``, ``"exact_match,strict-match"``).

lm-eval is an optional dependency (extra ``lmeval``) and is imported only when such a file is met.
"""

from __future__ import annotations

import contextlib
import functools
import io
import logging
import os
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pytest_lmbench.core.errors import ConfigError, TaskFormatError
from pytest_lmbench.core.models.base import Answer
from pytest_lmbench.core.models.chat import after_thinking
from pytest_lmbench.core.options import EvalOptions
from pytest_lmbench.core.pipeline import ModelCalls, run_metered
from pytest_lmbench.core.results import ExampleResult, TaskResult
from pytest_lmbench.core.seeds import global_seeds
from pytest_lmbench.core.usage import Usage

LMEVAL_INSTALL = "pip install 'pytest-lmbench[lmeval]'"
_TOP_KEY = re.compile(r"^([A-Za-z_][\w]*)\s*:", re.MULTILINE)


def looks_like_lmeval(path: str) -> bool:
    """Whether a YAML file is an lm-eval task or group config, judged from its top-level keys without
    importing anything: ``task`` with ``dataset_path`` or ``include``, or ``group`` with ``task``. Other YAML
    files (CI configs, ...) are left alone."""
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            text = fh.read(256 * 1024)
    except OSError:
        return False
    keys = set(_TOP_KEY.findall(text))
    return ("task" in keys and bool(keys & {"dataset_path", "include"})) or {"group", "task"} <= keys


def _lm_eval() -> Any:
    from pytest_lmbench.core.tasks.offline import hf_offline

    hf_offline()  # a dataset that is not in the local Hugging Face cache is an error
    try:
        import lm_eval
        import lm_eval.evaluator  # noqa: F401
        import lm_eval.tasks  # noqa: F401
    except ImportError:
        raise ConfigError(f"lm-evaluation-harness task configs need lm_eval: {LMEVAL_INSTALL}") from None
    return lm_eval


@contextlib.contextmanager
def _quiet() -> Any:
    """lm-eval logs at INFO and prints progress bars; our summary says what happened."""
    logger = logging.getLogger("lm_eval")
    level = logger.level
    logger.setLevel(logging.ERROR)
    os.environ.setdefault("TQDM_DISABLE", "1")
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            yield
    finally:
        logger.setLevel(level)


@dataclass(frozen=True)
class LmevalTask:
    """One leaf task of a config file, as lm-eval names it."""

    name: str
    path: str  # the file collected (for a group's task: the group's config)
    num_fewshot: int  # the config's (0 when it sets none)
    group: str | None = None
    produced: tuple[str, ...] = ()  # the scores it computes, as lm-eval names them ("acc,none")
    family: tuple[str, ...] = ()  # for a group's task: every task of the group
    include: tuple[str, ...] = ()  # more directories of configs (--lm-eval-include)


@contextlib.contextmanager
def _chdir(path: str) -> Any:  # contextlib.chdir is Python 3.11+
    before = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(before)


#: lm-eval's simple_evaluate defaults (lm_eval/defaults.py): python's random 0, numpy, torch and few-shot 1234
RANDOM_SEED, OTHER_SEED, FEWSHOT_SEED = 0, 1234, 1234


def config_name(path: str) -> str:
    """The name a config file defines (its top-level ``group:``, else ``task:``), read as text: lm-eval's
    TaskManager loads configs by name from its include path."""
    with open(path, encoding="utf-8", errors="replace") as fh:
        text = fh.read()
    for key in ("group", "task"):
        m = re.search(rf"^{key}\s*:\s*['\"]?([^'\"\s#]+)", text, re.MULTILINE)
        if m:
            return m.group(1)
    raise TaskFormatError(path, "task", "no task or group name at the top level", "add `task: NAME`")


def _load(path: str, name: str | None = None, include: Sequence[str] = ()) -> dict[str, Any]:
    """lm-eval's TaskManager.load of the task or group ``name`` (default: the one the file at ``path`` defines),
    with the file's directory and ``include`` (``--lm-eval-include``) as include paths; lm-eval's own registry
    is not searched (it takes seconds to index and its datasets are not here). Relative ``data_files`` are found
    next to the config (or in an include directory) first, so a suite runs from any directory, then, as lm-eval
    itself finds them, in the working directory."""
    lm_eval = _lm_eval()
    here = os.path.dirname(os.path.abspath(path))
    dirs = [here] + [os.path.abspath(d) for d in include]
    name = name or config_name(path)
    with _quiet():
        for where in [*dirs, None]:
            manager = lm_eval.tasks.TaskManager(include_path=dirs, include_defaults=False)  # fresh each time
            try:
                if where is None:
                    return manager.load(name)
                with _chdir(where):
                    return manager.load(name)
            except FileNotFoundError:
                if where is None:
                    raise
    raise AssertionError("unreachable")  # the last attempt returns or raises


def find_configs(names: Sequence[str], include: Sequence[str] = ()) -> list[str]:
    """The config files that define these task or group names, in lm-eval's own index of its registry and the
    ``include`` directories (``--lm-eval-task NAME``). An unknown name, or a tag (which names several tasks),
    is a ConfigError saying what to do."""
    lm_eval = _lm_eval()
    with _quiet():
        manager = lm_eval.tasks.TaskManager(include_path=[os.path.abspath(d) for d in include] or None)
    index = getattr(manager, "_index", None)  # name -> entry with its yaml_path (lm-eval's TaskIndex)
    if index is None:
        raise ConfigError("--lm-eval-task: this lm_eval has no task index to find configs by name in; "
                          "give the config files' paths instead")
    out = []
    for name in names:
        entry = index.get(name)
        if entry is None:
            import difflib

            close = difflib.get_close_matches(name, manager.all_tasks, n=5)
            raise ConfigError(f"--lm-eval-task {name}: lm-eval knows no task or group of that name"
                              + (f" (similar: {', '.join(close)})" if close else "")
                              + "; add the directory of its config with --lm-eval-include DIR")
        if entry.yaml_path is None:
            raise ConfigError(f"--lm-eval-task {name}: a tag, not a task or group with a config file of its own; "
                              "name its tasks or groups instead")
        out.append(str(entry.yaml_path))
    return out


def read_config(path: str, include: Sequence[str] = ()) -> list[LmevalTask]:
    """The tasks a config file defines (a group's leaf tasks), loaded by lm-eval's own TaskManager with the
    file's directory (and ``include``) as include paths; a config lm-eval rejects is a TaskFormatError naming
    the file."""
    try:
        loaded = _load(path, None, include)
    except ConfigError:
        raise
    except Exception as exc:  # lm-eval raises ValueError, KeyError, TypeError, yaml errors, ...
        offline = re.search(r"reach '([^']+)' on the Hub", str(exc))
        if offline or "OfflineModeIsEnabled" in str(exc):
            dataset = offline.group(1) if offline else "its dataset"
            raise TaskFormatError(path, "dataset_path", f"the dataset {dataset} is not in the local Hugging Face "
                                  "cache, and nothing is downloaded at run time (HF_DATASETS_OFFLINE=1)",
                                  "fetch it once while online: HF_DATASETS_OFFLINE=0 python -c \"import datasets; "
                                  f"datasets.load_dataset('{dataset}', NAME)\" with the config's dataset_name "
                                  "as NAME, or point the config at local data_files") from None
        raise TaskFormatError(path, None, f"lm-eval cannot load this config: {type(exc).__name__}: {exc}",
                              "check it with `lm_eval --tasks " + os.path.abspath(path) + " --limit 1`") from None
    groups = loaded.get("group_map") or {}
    top = config_name(path) if config_name(path) in groups else None
    family = tuple(loaded["tasks"]) if top else ()
    out = []
    for task_name, task in loaded["tasks"].items():
        shots = task.config.num_fewshot
        filters = [f.name for f in getattr(task, "_filters", [])] or ["none"]
        produced = tuple(f"{m},{f}" for m in getattr(task, "_metric_fn_list", {}) for f in filters)
        out.append(LmevalTask(name=task_name, path=os.path.abspath(path), num_fewshot=int(shots or 0),
                              group=top if top else None, produced=produced, family=family, include=tuple(include)))
    if not out:
        raise TaskFormatError(path, None, "the config defines no task", "give it a `task:` name")
    return out


class _Requests:
    """lm-eval's model API over a pytest-lmbench model (built lazily: ``lm_eval.api.model.LM`` is its base): lm-eval's
    request objects turned into our calls, which go through the shared ``pipeline.ModelCalls``."""

    def __init__(self, model: Any, progress: Any = None) -> None:
        # progress: the live line (start/advance/finish), restarted for each kind of request lm-eval sends
        self.calls = ModelCalls(model, progress)
        self.model = self.calls.model
        self.output_type = "multiple_choice"  # the task's (set before the evaluator runs)
        self.task: Any = None  # the lm-eval Task (its doc_to_target / doc_to_choice show dummy:oracle answers)

    def _show_answers(self, requests: Sequence[Any]) -> None:
        """The ``sees_answers`` capability (``dummy:oracle``): each request's context with the document's answer."""
        if not self.model.sees_answers or self.task is None:
            return
        answers: list[Answer] = []
        for r in requests:
            target = self.task.doc_to_target(r.doc)
            if self.output_type == "multiple_choice":
                choices = [str(c) for c in self.task.doc_to_choice(r.doc)]
                gold = choices[target] if isinstance(target, int) else str(target)
                delimiter = str(r.args[1])[:len(str(r.args[1])) - len(str(r.args[1]).lstrip())]
                answers.append((str(r.args[0]), {delimiter + c: float(c == gold) for c in choices}, None))
            else:
                text = target[0] if isinstance(target, list) else target
                answers.append((str(r.args[0]), None, str(text)))
        self.model.set_answer_key(answers)

    def loglikelihood(self, requests: Sequence[Any]) -> list[tuple[float, bool]]:
        self.calls.start(len(requests))
        self._show_answers(requests)
        pairs = [(str(r.args[0]), str(r.args[1])) for r in requests]
        if self.output_type == "loglikelihood":  # lm-eval's "acc" of such tasks reads is_greedy
            return self.calls.loglikelihood_greedy(pairs)
        # multiple_choice: lm-eval keeps only the log-likelihoods (the flag is never read)
        return [(v, False) for v in self.calls.loglikelihood(pairs)]

    def loglikelihood_rolling(self, requests: Sequence[Any]) -> list[float]:
        return self.calls.loglikelihood_rolling([str(r.args[0]) for r in requests])

    def generate_until(self, requests: Sequence[Any]) -> list[str]:
        self.calls.start(len(requests))
        self._show_answers(requests)
        out: list[str | None] = [None] * len(requests)
        groups: dict[str, list[int]] = {}
        for i, r in enumerate(requests):
            groups.setdefault(repr(sorted((r.args[1] or {}).items())), []).append(i)
        for indices in groups.values():
            kwargs = dict(requests[indices[0]].args[1] or {})
            until = kwargs.pop("until", None)
            until = [until] if isinstance(until, str) else list(until or [])
            max_tokens = int(kwargs.pop("max_gen_toks", 256))
            temperature = float(kwargs.pop("temperature", 0.0) or 0.0)
            if kwargs.pop("do_sample", False) and temperature == 0.0:
                temperature = 1.0
            if not temperature:
                texts = self.calls.generate([str(requests[i].args[0]) for i in indices], max_tokens=max_tokens,
                                            stop=until or None)
                for i, text in zip(indices, texts):
                    out[i] = text
                continue
            if not self.model.supports_sampling:
                raise ConfigError("this task samples (temperature > 0 or do_sample in generation_kwargs); the "
                                  "model's backend generates greedily only")
            # lm-eval sends a request `repeats` times: the k-th copy of a prompt is drawn with seed + k, so the
            # repeats are independent samples (and never one cached answer served k times), and reruns repeat
            seed = int(kwargs.pop("seed", 0) or 0)
            seen: dict[str, int] = {}
            rounds: dict[int, list[int]] = {}
            for i in indices:
                k = seen.get(str(requests[i].args[0]), 0)
                seen[str(requests[i].args[0])] = k + 1
                rounds.setdefault(k, []).append(i)
            for k, batch in sorted(rounds.items()):
                texts = self.calls.generate([str(requests[i].args[0]) for i in batch], max_tokens=max_tokens,
                                            stop=until or None, temperature=temperature, seed=seed + k)
                for i, text in zip(batch, texts):
                    out[i] = text
        think_end = self.model.prompt_format.think_end  # a reasoning model's answer: what follows its thinking
        return [after_thinking(t or "", think_end)[0] for t in out]


def evaluate_lmeval(task: LmevalTask, model: Any, options: EvalOptions | None = None, *, progress: Any = None,
                    meter: Usage | None = None, limit: int | None = None, **option_values: Any) -> TaskResult:
    """Run one lm-eval task on ``model`` through lm-eval's own evaluator and return its result with our error
    bars. ``options.shots`` overrides the config's ``num_fewshot``; ``options.max_examples`` (or ``limit``) is
    lm-eval's ``--limit``; ``progress``: the live line (``evaluate``'s protocol), told of each kind of request
    lm-eval sends; ``meter``: what the model's work cost is added to it, as ``evaluate`` does."""
    opts = EvalOptions.of(options, option_values if limit is None else {**option_values, "max_examples": limit})
    return run_metered(meter, lambda: _evaluate_lmeval(task, model, opts, progress))


def _evaluate_lmeval(task: LmevalTask, model: Any, opts: EvalOptions, progress: Any) -> TaskResult:
    lm_eval = _lm_eval()
    from lm_eval.api.model import LM

    requests = _Requests(model, progress)
    model, fmt = requests.model, requests.model.prompt_format

    class Adapter(LM):  # type: ignore[misc,valid-type]
        def loglikelihood(self, reqs: Any) -> Any:
            return requests.loglikelihood(reqs)

        def loglikelihood_rolling(self, reqs: Any) -> Any:
            return requests.loglikelihood_rolling(reqs)

        def generate_until(self, reqs: Any) -> Any:
            return requests.generate_until(reqs)

        def apply_chat_template(self, chat_history: Any, add_generation_prompt: bool = True) -> str:
            if not add_generation_prompt:  # a task's gen_prefix opens the assistant's turn
                raise ConfigError(f"{task.name}: its gen_prefix needs a chat template rendered without the "
                                  "generation prompt, which chat=1 models here do not offer")
            return model.render(chat_history)

        @property
        def tokenizer_name(self) -> str:
            return fmt.template or "chat"

    start = time.perf_counter()
    loaded = _load(task.path, task.name, task.include)
    with _quiet():
        lm_task = loaded["tasks"][task.name]
        n_shots = task.num_fewshot if opts.shots is None else opts.shots
        lm_task.set_config(key="num_fewshot", value=n_shots)
        # seeded as lm-eval's simple_evaluate seeds a run (its defaults): the few-shot sampler, and the global
        # generators that task code may use; the global states are put back afterwards
        lm_task.set_fewshot_seed(seed=FEWSHOT_SEED)
        requests.output_type, requests.task = lm_task.OUTPUT_TYPE, lm_task
        # chat=1: lm-eval's own --apply_chat_template path (system instruction, few-shot as turns), rendered
        # by the model's template
        chat = fmt.chat and model.template is not None
        if fmt.chat and not chat:
            raise ConfigError(f"{task.name}: lm-eval tasks on a chat model need its template here (chat=1 on "
                              "smollm2, llamacpp: or hf:); a server's chat API gives no prompt log-probabilities")
        try:
            with global_seeds(RANDOM_SEED, OTHER_SEED, torch=OTHER_SEED):
                results = lm_eval.evaluator.evaluate(
                    lm=Adapter(), task_dict={"tasks": {task.name: lm_task}, "groups": {}, "group_map": {}},
                    limit=opts.max_examples, bootstrap_iters=0, log_samples=True, apply_chat_template=chat,
                    fewshot_as_multiturn=chat and fmt.fewshot == "multiturn",
                    system_instruction=fmt.system if chat else None)
        finally:
            requests.calls.finish()
    if results is None:
        raise ConfigError(f"lm-eval returned no results for {task.name}")
    result = to_result(task, results, n_shots, str(opts.model_name or model.name), start)
    result.prompt_format = fmt.describe()
    return result


def to_result(task: LmevalTask, results: dict[str, Any], shots: int, model: str, start: float) -> TaskResult:
    """lm-eval's results and logged samples of one task as a TaskResult: scores under lm-eval's names, the
    preferred one the task's first metric with its first filter, each document an example with its per-metric
    values (the values our error bars are computed from)."""
    from pytest_lmbench.core.pipeline import finish_result

    scores_in = results["results"][task.name]
    samples = sorted(results.get("samples", {}).get(task.name, []), key=lambda s: (s["filter"], s["doc_id"]))
    higher = results.get("higher_is_better", {}).get(task.name, {})
    names = [k for k in scores_in if "," in k and not k.split(",")[0].endswith("_stderr")
             and isinstance(scores_in[k], (int, float))]
    if not names:
        raise ConfigError(f"lm-eval computed no scores for {task.name}")
    config = results.get("configs", {}).get(task.name, {})  # the task's config as lm-eval resolved it
    configured = [m["metric"] for m in config.get("metric_list") or [] if isinstance(m.get("metric"), str)]
    missing = [m for m in configured if not any(n.split(",")[0] == m for n in names)]
    if missing:  # lm-eval passes over a metric it does not know
        raise TaskFormatError(task.path, "metric_list", f"lm-eval computed no {', '.join(missing)} for "
                              f"{task.name} (it computed {', '.join(sorted({n.split(',')[0] for n in names}))})",
                              "check the metric's name against lm-eval's metrics for this output_type")
    first = (config.get("metric_list") or [{}])[0].get("metric")
    first_metric = first if isinstance(first, str) else names[0].split(",")[0]
    # the config's filter order (lm-eval's logged samples come grouped by filter, not in that order)
    listed = [f["name"] for f in config.get("filter_list") or [] if isinstance(f, dict)
              and isinstance(f.get("name"), str)]
    seen = list(dict.fromkeys(s["filter"] for s in samples))
    filters = [f for f in listed if f in seen] + [f for f in seen if f not in listed] or ["none"]
    mc = config.get("output_type") == "multiple_choice"
    preferred = f"{first_metric},{filters[0]}" if f"{first_metric},{filters[0]}" in names else names[0]
    scores = {k: float(scores_in[k]) for k in names}
    by_doc: dict[int, ExampleResult] = {}
    per_example: dict[str, dict[int, float]] = {}
    notes: list[str] = []
    for s in samples:
        doc_id = int(s["doc_id"])
        ex = by_doc.get(doc_id)
        if ex is None:
            args = s.get("arguments") or [[""]]
            target = s.get("target")
            options = [str(a[1]) for a in args if len(a) > 1 and isinstance(a[1], str)] if mc else None
            if options and isinstance(target, int) and 0 <= target < len(options):
                target = options[target]  # the option, not its index
            ex = by_doc[doc_id] = ExampleResult(
                id=str(s.get("doc_hash") or doc_id), index=doc_id, prompt=str(args[0][0]) if args and args[0] else "",
                targets=[str(t) for t in target] if isinstance(target, list) else [str(target)], choices=options)
            resps = s.get("resps") or []
            if mc and options and len(resps) == len(options):  # each option's log-likelihood, as the model gave it
                from pytest_lmbench.core.scoring.metrics import normalize_log_probs

                ex.target_log_probs = [float(r[0][0]) for r in resps]
                ex.log_probs = [float(x) for x in normalize_log_probs([ex.target_log_probs])[0]]
            elif resps and resps[0] and isinstance(resps[0][0], str):
                ex.raw_response = str(resps[0][0])
        filtered = s.get("filtered_resps") or []
        if filtered and isinstance(filtered[0], str) and s["filter"] == filters[0]:
            ex.response = str(filtered[0])
        for metric in s.get("metrics", []):
            value = s.get(metric)
            if isinstance(value, bool) or isinstance(value, (int, float)):
                per_example.setdefault(f"{metric},{s['filter']}", {})[doc_id] = float(value)
    examples = [by_doc[i] for i in sorted(by_doc)]
    index = {ex.index: pos for pos, ex in enumerate(examples)}
    dense = {m: {index[d]: v for d, v in vals.items()} for m, vals in per_example.items()
             if m in scores and len(vals) == len(examples)}
    corpus = [m for m in scores if m not in dense]
    if corpus:
        notes.append("no per-document values (a corpus-level aggregation), so no error bars: " + ", ".join(corpus))
    down = [m for m in scores if higher.get(m.split(",")[0]) is False]
    if down:
        notes.append("lower is better for " + ", ".join(down))
    low, high = (0.0, 1.0)
    value = scores[preferred]
    if not (0.0 <= value <= 1.0) or any(not 0.0 <= v <= 1.0 for v in dense.get(preferred, {}).values()):
        low, high = (0.0, max(1.0, abs(value)))
        notes.append(f"{preferred} is not a proportion: its normalized score is relative to {high:g}")
    result = finish_result(task=task.name, model=model, shots=shots, examples=examples, scores=scores,
                           per_example=dense, preferred=preferred, low=low, high=high, path=task.path,
                           parent=task.group, notes=notes, started=start)
    if task.group:
        result.parent_kind = "lmeval"  # its group is aggregated by lm-eval's rules (aggregate_group)
    return result


@functools.lru_cache(maxsize=16)
def _group(path: str, group: str, include: tuple[str, ...], mtime_ns: int) -> Any:
    """lm-eval's Group object of a group config, loaded once for all the models of a run (loading builds its
    tasks, datasets included); ``mtime_ns`` keys a changed file afresh."""
    return _load(path, group, include)["groups"][group]


def aggregate_group(path: str, group: str, results: list[TaskResult], family: Sequence[str],
                    include: Sequence[str] = ()) -> TaskResult:
    """A group's aggregate for one model and shot count, computed by lm-eval's own ``Group.aggregate`` from its
    tasks' scores, sizes and standard errors (its ``aggregate_metric_list``: mean, weighted by size or not,
    with lm-eval's pooled standard error). The interval is normal (±1.96 SE) around it."""
    from pytest_lmbench.core.results import ErrorBar, aggregate_outcome

    grp = _group(path, group, tuple(include), os.stat(path).st_mtime_ns)
    task_metrics: dict[str, dict[str, Any]] = {}
    for r in results:
        row: dict[str, Any] = {"sample_len": r.n_examples}
        for metric, value in r.scores.items():
            if "," not in metric:
                continue
            row[metric] = value
            stderr = (r.errors.get(metric) or {}).get("stderr")
            if stderr is not None:
                name, _, filt = metric.partition(",")
                row[f"{name}_stderr,{filt}"] = stderr
        task_metrics[r.task] = row
    with _quiet():
        metrics = grp.aggregate(task_metrics)
    scores = {k: float(v) for k, v in metrics.items()
              if "," in k and "_stderr," not in k and isinstance(v, (int, float))}
    names = [r.task for r in results]
    complete = set(family) <= set(names)
    notes = [] if complete else [f"aggregate over {len(names)} of {len(family)} tasks (others were not run)"]
    if len({r.shots for r in results}) > 1:
        notes.append("tasks at their configs' shot counts: " + ", ".join(f"{r.task} {r.shots}" for r in results))
    if not scores:
        notes.append(f"the group {group} has no aggregate_metric_list: lm-eval reports no group score")
    first = results[0]
    preferred = next(iter(scores), "")
    errors: dict[str, ErrorBar] = {}
    for k, v in scores.items():
        name, _, filt = k.partition(",")
        se = metrics.get(f"{name}_stderr,{filt}")
        if isinstance(se, (int, float)):
            errors[k] = ErrorBar(stderr=float(se), ci95=[v - 1.96 * float(se), v + 1.96 * float(se)],
                                 method="lm-eval pooled" if len(results) > 1 else "lm-eval")
    out = TaskResult(task=group, model=first.model, shots=max(r.shots for r in results),
                     n_examples=sum(r.n_examples for r in results),
                     scores=scores, preferred_score=preferred, low_score=0.0, high_score=1.0,
                     model_spec=first.model_spec, aggregate=True, subtasks=names, complete=complete, notes=notes,
                     outcome=aggregate_outcome(results), path=path, errors=errors)
    return out
