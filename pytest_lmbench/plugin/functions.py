"""Test-function tasks: the ``lm`` and ``lmbench`` fixtures and the ``@pytest.mark.lmbench`` marker.

``lm`` is the model under test, parametrized over the configured models (node ids show the model label);
``lmbench`` records per-example results. When the test body returns, the records become a task result
(score, calibration, examples) that is judged against the thresholds of the marker, the ini file and the
command line, exactly like a JSON task; the item fails with a readable message when a threshold is missed,
and an ``assert`` in the body fails it as in any test.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import pytest

from pytest_lmbench.core.errors import BackendError, ConfigError, LmbenchError
from pytest_lmbench.plugin.state import attach, get_state

if TYPE_CHECKING:  # the evaluation core is imported when a test uses the fixtures, not with the plugin
    from pytest_lmbench.core.lm import LM
    from pytest_lmbench.core.models.cache import CacheCounter  # noqa: F401 (named in CACHE_KEY)
    from pytest_lmbench.core.recorder import Recorder, TaskRecorder
    from pytest_lmbench.core.repeats import Repeats
    from pytest_lmbench.core.results import TaskResult
    from pytest_lmbench.core.usage import Usage  # noqa: F401 (named in USAGE_KEY)

RECORDER_KEY = pytest.StashKey["Recorder"]()
RESULT_KEY = pytest.StashKey["TaskResult"]()
CACHE_KEY = pytest.StashKey["CacheCounter"]()
USAGE_KEY = pytest.StashKey["Usage"]()
MARKER_KEYS = {"metric", "threshold", "keywords", "name", "repeats", "temperature", "seed", "pass_at", "judge"}
REPEAT_KEYS = ("repeats", "temperature", "seed", "pass_at")


def _state(config: pytest.Config):
    return get_state(config)


def _marker_options(item: pytest.Item) -> dict[str, Any]:
    marker = item.get_closest_marker("lmbench")
    if marker is None:
        return {}
    if marker.args:
        raise ConfigError(f"{item.nodeid}: @pytest.mark.lmbench takes keyword arguments only "
                          f"({', '.join(sorted(MARKER_KEYS))})")
    unknown = set(marker.kwargs) - MARKER_KEYS
    if unknown:
        raise ConfigError(f"{item.nodeid}: @pytest.mark.lmbench got unknown argument(s) {sorted(unknown)}; "
                          f"known: {', '.join(sorted(MARKER_KEYS))}")
    return dict(marker.kwargs)


def _location(item: pytest.Item) -> tuple[str, int]:
    """The test function's file and line (1-based), where warnings about it are shown."""
    path, line, _ = item.location
    return str(item.config.rootpath / path), (line or 0) + 1


def task_name(item: pytest.Item) -> str:
    name = _marker_options(item).get("name")
    if name:
        return str(name)
    original = getattr(item, "originalname", item.name)
    name = original.removeprefix("test_")
    callspec = getattr(item, "callspec", None)
    if callspec is not None:  # the author's own parameters (not the model) name variants of the task
        extra = [str(v) for k, v in callspec.params.items() if k != "lm"]
        if extra:
            name += "[" + "-".join(extra) + "]"
    return name


def _marker_thresholds(item: pytest.Item, preferred: str) -> dict[str, float]:
    value = _marker_options(item).get("threshold")
    if value is None:
        return {}
    items: list[tuple[Any, Any]] = list(value.items()) if isinstance(value, dict) else [(preferred, value)]
    out = {}
    for metric, number in items:
        try:
            out[str(metric)] = float(number)
        except (TypeError, ValueError):
            raise ConfigError(f"{item.nodeid}: @pytest.mark.lmbench threshold for {metric!r} must be a number, "
                              f"not {number!r}") from None
    return out


def _repeats(item: pytest.Item) -> Repeats:
    """The repeats of a test-function task: the marker's (``repeats``, ``temperature``, ``seed``, ``pass_at``)
    under the command line's, as for task files."""
    from pytest_lmbench.core.repeats import Repeats  # noqa: F811 (the runtime import of the name typed above)

    options = _marker_options(item)
    given = {key: options[key] for key in REPEAT_KEYS if key in options}
    if given:
        try:
            if "repeats" in given:
                given["k"] = int(given.pop("repeats"))
            if "temperature" in given:
                given["temperature"] = float(given["temperature"])
            if "seed" in given:
                given["seed"] = int(given["seed"])
            if "pass_at" in given:
                value = given["pass_at"]
                given["pass_at"] = tuple(int(k) for k in ([value] if isinstance(value, int) else value))
            Repeats(**given)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{item.nodeid}: @pytest.mark.lmbench repeats: {exc} (e.g. repeats=8, "
                              "temperature=1.0, seed=0, pass_at=[1, 5])") from None
    return _state(item.config).repeats_for(given or None)


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """A task with repeats runs its body K times: repeat i with ``lm.sampling`` = (temperature, seed + i), its
    records marked as repeat i (``Recorder.result`` matches them up). Other tests run as pytest runs them."""
    recorder = pyfuncitem.stash.get(RECORDER_KEY, None)
    if recorder is None:
        if "repeats" in _marker_options(pyfuncitem):
            raise ConfigError(f"{pyfuncitem.nodeid}: @pytest.mark.lmbench(repeats=...) repeats what the test records; "
                              "take the lmbench fixture and record each example (lmbench.record(...))")
        return None
    repeats = _repeats(pyfuncitem)
    if not repeats.on:
        return None
    from pytest_lmbench.core.lm import LM

    lm = pyfuncitem.funcargs.get("lm")
    kwargs = {name: pyfuncitem.funcargs[name] for name in pyfuncitem._fixtureinfo.argnames}
    recorder.repeats = repeats
    try:
        for i, seed in enumerate(repeats.seeds()):
            recorder.repeat = i
            if isinstance(lm, LM):
                lm.sampling, lm.repeat, lm.repeats_k = (repeats.temperature, seed), i, repeats.k
            pyfuncitem.obj(**kwargs)
    finally:
        if isinstance(lm, LM):
            lm.sampling, lm.repeat, lm.repeats_k = None, 0, 1
    return True


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "lm" not in metafunc.fixturenames:
        return
    for marker in metafunc.definition.iter_markers("parametrize"):
        names = marker.args[0] if marker.args else marker.kwargs.get("argnames", "")
        if "lm" in ([n.strip() for n in names.split(",")] if isinstance(names, str) else list(names)):
            return  # the author chose the models
    state = _state(metafunc.config)
    metafunc.parametrize("lm", list(range(len(state.specs))), indirect=True, ids=list(state.labels))


@pytest.fixture
def lm(request: pytest.FixtureRequest) -> LM:
    """The model under test (one item per configured model)."""
    from pytest_lmbench.core.lm import LM
    from pytest_lmbench.core.models.base import DEFAULT_MAX_TOKENS
    from pytest_lmbench.core.models.cache import CacheCounter
    from pytest_lmbench.core.usage import Usage  # noqa: F811 (the runtime import of the name typed above)

    state = _state(request.config)
    index = getattr(request, "param", 0)
    if isinstance(index, str):  # the author parametrized lm with spec strings
        from pytest_lmbench.core.models.registry import parse_spec

        spec = parse_spec(index)
        label = spec.label
    else:
        spec, label = state.specs[index], state.labels[index]
    model = state.model(spec)
    request.node.stash[CACHE_KEY] = CacheCounter(model)
    request.node.stash[USAGE_KEY] = Usage()
    return LM(model, label, max_tokens=state.max_tokens or DEFAULT_MAX_TOKENS)


@pytest.fixture
def lmbench(request: pytest.FixtureRequest) -> TaskRecorder:
    """Records per-example results; the item is scored, judged and reported like a JSON task."""
    from pytest_lmbench.core.recorder import TaskRecorder

    item = request.node
    options = _marker_options(item)
    label = request.getfixturevalue("lm").label if "lm" in item.fixturenames else "-"
    keywords = options.get("keywords", ())
    if isinstance(keywords, str):
        keywords = [keywords]
    recorder = TaskRecorder(task_name(item), label, metric=options.get("metric"), keywords=list(keywords),
                            path=str(item.path), base_dir=os.path.dirname(str(item.path)))
    state = _state(item.config)

    own = options.get("judge")  # @pytest.mark.lmbench(judge=SPEC): the function's own judge; --lm-judge wins
    if own is not None and not isinstance(own, str):
        raise ConfigError(f"{item.nodeid}: @pytest.mark.lmbench(judge=...) must be a model spec, e.g. "
                          f"'smollm2?chat=1', not {own!r}")

    warned: list[bool] = []

    def judges() -> tuple[Any, ...]:  # loaded when the body first asks for a verdict
        if label in state.labels and not warned:  # once per item
            warned.append(True)
            state.warn_self_judging(state.specs[state.labels.index(label)], own, _location(item))
        return state.judges(own)

    recorder.judge_models = judges
    item.stash[RECORDER_KEY] = recorder
    return recorder


def _finish(item: pytest.Item, recorder: Recorder, body_error: BaseException | None) -> TaskResult | None:
    """Score the records, judge them, keep the result on the item. Returns it (None if nothing was recorded
    and the body failed anyway)."""
    from pytest_lmbench.core.gates import judge, resolve_thresholds
    from pytest_lmbench.core.lm import LM

    state = _state(item.config)
    if not recorder.records:
        if body_error is not None:
            return None
        raise LmbenchError(f"{task_name(item)} recorded no examples: call lmbench.record(...) or "
                           "lmbench.record_choice(...) for each example")
    result = recorder.result(scorers=state.scorers)
    thresholds = resolve_thresholds(result.task, set(result.scores),
                                    _marker_thresholds(item, result.preferred_score), state.rules)
    result.nodeid = item.nodeid
    result.threshold = thresholds
    counter = item.stash.get(CACHE_KEY, None)
    result.cache = counter.counts() if counter is not None else None
    meter = item.stash.get(USAGE_KEY, None)
    result.usage = dict(meter.to_dict()) if meter is not None else None
    lm = item.funcargs.get("lm") if hasattr(item, "funcargs") else None
    if isinstance(lm, LM):
        spec = next((s for s, lab in zip(state.specs, state.labels) if lab == lm.label), None)
        if spec is not None:
            result.model_spec = spec.public
            result.model_load_seconds = state.registry.load_seconds.get(spec.raw)
            result.model_info = state.registry.model_info(spec)
    if body_error is None:
        result.outcome, result.message = judge(result, thresholds, state.gate)
    else:
        result.outcome = "error" if isinstance(body_error, (BackendError, ConfigError)) else "failed"
        result.message = f"{type(body_error).__name__}: {body_error}"
    item.stash[RESULT_KEY] = result
    return result


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item):
    meter = item.stash.get(USAGE_KEY, None)
    try:
        if meter is None:
            outcome = yield
        else:
            from pytest_lmbench.core.usage import metering

            with metering(meter):  # what the body's model calls cost
                outcome = yield
    except BaseException as exc:
        recorder = item.stash.get(RECORDER_KEY, None)
        if recorder is not None and isinstance(exc, Exception) and recorder.records:
            try:
                _finish(item, recorder, exc)
            except LmbenchError:
                pass  # the body's own failure is the one to show
        raise
    recorder = item.stash.get(RECORDER_KEY, None)
    if recorder is not None:
        problem = None
        try:
            result = _finish(item, recorder, None)
        except LmbenchError as exc:
            problem, result = str(exc), None
        if problem is not None:
            pytest.fail(problem, pytrace=False)
        if result is not None and (result.outcome == "failed" or
                                   (result.outcome == "inconclusive" and _state(item.config).strict)):
            pytest.fail(result.message or "threshold missed", pytrace=False)
    return outcome


def attach_function_result(item: pytest.Item, report: pytest.TestReport, call: pytest.CallInfo[None]) -> None:
    """Put a test-function task's result on its call report. Our own errors (a bad marker, a model that does
    not load) raised in the fixtures or the body show as their message, without a traceback, as for JSON tasks."""
    if report.failed and call.excinfo is not None and isinstance(call.excinfo.value, LmbenchError):
        report.longrepr = str(call.excinfo.value)
    if report.when != "call":
        return
    result = item.stash.get(RESULT_KEY, None)
    if result is not None:
        attach(report, result)
