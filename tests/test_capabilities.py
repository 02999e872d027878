"""Declared model capabilities (``models/base.py``), the one adapter foreign task formats call models through
(``pipeline.ModelCalls``), options as one object (``options.EvalOptions``) and usage metered by role."""

from __future__ import annotations

import ast
import os
from collections.abc import Sequence
from pathlib import Path

import pytest
from conftest import arith_task, write_task

from pytest_lmbench.core import usage
from pytest_lmbench.core.errors import BackendError, ConfigError
from pytest_lmbench.core.evaluate import evaluate
from pytest_lmbench.core.models.base import CAPABILITIES, METHOD_CAPABILITIES, BaseModel, Declared, declared
from pytest_lmbench.core.models.cache import CachedModel, ResponseCache
from pytest_lmbench.core.models.chat import FramedModel, PromptFormat, TemplateChat
from pytest_lmbench.core.models.dummy import OracleModel, RandomModel
from pytest_lmbench.core.models.registry import Registry, builtin, parse_spec
from pytest_lmbench.core.options import EvalOptions
from pytest_lmbench.core.pipeline import ModelCalls
from pytest_lmbench.core.tasks.bigbench import load_task

CORE = Path(__file__).resolve().parent.parent / "pytest_lmbench" / "core"


class TwoMethods:
    """A third-party model written to the two-method protocol, no base class, no flags."""

    def loglikelihood(self, requests: Sequence[tuple[str, str]]) -> list[float]:
        return [-float(len(t)) for _, t in requests]

    def generate(self, prompts: Sequence[str], *, max_tokens: int, stop: Sequence[str] | None = None) -> list[str]:
        return ["x" for _ in prompts]


class Flagged(TwoMethods):
    """Declares capabilities the old way: flags and methods on a plain class."""

    name = "flagged"
    supports_sampling = True
    reports_progress = True

    def loglikelihood_rolling(self, texts: Sequence[str]) -> list[float]:
        return [-1.0 for _ in texts]


def test_every_capability_has_a_default_on_the_base() -> None:
    model = BaseModel()
    assert {flag: getattr(model, flag) for flag in CAPABILITIES} == dict.fromkeys(CAPABILITIES, False)
    assert model.prompt_format == PromptFormat() and model.template is None
    with pytest.raises(ConfigError, match="greedy"):
        model.loglikelihood_greedy([("a", "b")])
    with pytest.raises(ConfigError, match="whole texts"):
        model.loglikelihood_rolling(["a"])
    with pytest.raises(ConfigError, match="chat=1"):
        model.chat([[{"role": "user", "content": "hi"}]], max_tokens=1)
    assert model.render([{"role": "user", "content": "hi"}]) == "[user] hi"


def test_a_method_a_subclass_defines_declares_its_capability_unless_it_says_otherwise() -> None:
    class Rolling(BaseModel):
        def loglikelihood_rolling(self, texts: Sequence[str]) -> list[float]:
            return [0.0 for _ in texts]

    class NotReally(Rolling):
        scores_rolling = False

    assert Rolling.scores_rolling and not Rolling.checks_greedy
    assert not NotReally.scores_rolling
    assert OracleModel.sees_answers and OracleModel.checks_greedy and OracleModel.scores_rolling
    assert not RandomModel.sees_answers and RandomModel.checks_greedy
    assert set(METHOD_CAPABILITIES.values()) <= set(CAPABILITIES)


def test_an_outside_object_is_declared_once_from_its_flags_and_methods() -> None:
    plain, flagged = declared(TwoMethods()), declared(Flagged())
    assert isinstance(plain, Declared) and plain.name == "TwoMethods"
    assert not any(getattr(plain, flag) for flag in CAPABILITIES)
    assert flagged.supports_sampling and flagged.reports_progress and flagged.scores_rolling
    assert not flagged.checks_greedy and not flagged.supports_chat
    assert flagged.loglikelihood_rolling(["t"]) == [-1.0]
    with pytest.raises(ConfigError, match="greedy"):
        flagged.loglikelihood_greedy([("a", "b")])
    oracle = OracleModel()
    assert declared(oracle) is oracle  # a BaseModel is taken as it is


def test_framing_mirrors_the_model_beneath_and_chats_only_with_chat_on() -> None:
    inner = RandomModel(seed=1)
    framed = FramedModel(inner, PromptFormat(mc="letters"), name="r")
    assert framed.checks_greedy and framed.scores_rolling and framed.supports_sampling and framed.meters_usage
    assert not framed.supports_chat and not framed.sees_answers
    with pytest.raises(ConfigError, match="chat=1"):
        framed.chat([[{"role": "user", "content": "hi"}]], max_tokens=1)

    class Template:
        source, origin = "{{ messages }}", "test"

        def render(self, messages):  # noqa: ANN001, ANN202
            return "|".join(m["content"] for m in messages)

    chat = TemplateChat(inner, Template(), PromptFormat(chat=True), name="r")
    assert chat.supports_chat and chat.template is not None
    assert chat.render([{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]) == "a|b"


def test_the_answer_cache_declares_its_backends_capabilities_without_loading(tmp_path: Path) -> None:
    cache = ResponseCache(str(tmp_path / "c.sqlite"))

    def never() -> BaseModel:
        raise AssertionError("loaded")

    try:
        for name, greedy, chats in (("smollm2", True, False), ("openai", False, True), ("hf", False, False)):
            backend = builtin(name)
            assert backend is not None
            model = CachedModel("id", never, cache, capabilities=backend.declared())
            assert (model.checks_greedy, model.scores_rolling) == (greedy, greedy), name
            assert model.supports_chat == chats and model.supports_sampling and model.batches, name
            assert not model.loaded
    finally:
        cache.close()


def test_the_registry_hands_out_declared_models(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "mine.py").write_text("class M:\n    supports_sampling = True\n"
                                      "    def loglikelihood(self, r):\n        return [0.0] * len(r)\n"
                                      "    def generate(self, p, *, max_tokens, stop=None):\n"
                                      "        return [''] * len(p)\n")
    monkeypatch.chdir(tmp_path)
    registry = Registry()
    model = registry.get(parse_spec("py:mine.py:M"))
    assert isinstance(model, Declared) and model.supports_sampling and not model.checks_greedy
    assert model.loglikelihood([("a", "b")]) == [0.0]


def test_no_model_is_probed_for_attributes_in_the_core() -> None:
    """Callers ask declared capabilities; ``getattr`` on a model is left only in ``Declared`` (the one place an
    outside object's attributes are read) and in wrappers' ``__getattr__`` (forwarding, not probing)."""
    found = []
    for path in sorted(CORE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        allowed: set[int] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef) and node.name == "Declared" or \
                    isinstance(node, ast.FunctionDef) and node.name == "__getattr__":
                allowed |= {n.lineno for n in ast.walk(node) if hasattr(n, "lineno")}
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and \
                    node.func.id in ("getattr", "hasattr") and node.args and node.lineno not in allowed:
                target = ast.unparse(node.args[0])
                if target in ("model", "self.model", "self._model", "lm", "self.lm"):
                    found.append(f"{os.path.relpath(path, CORE)}:{node.lineno}: {ast.unparse(node)}")
    assert found == []


def test_the_probe_check_catches_a_probe(tmp_path: Path) -> None:
    """The scan above is not vacuous: the same rule finds a probe written the way the old code wrote them."""
    tree = ast.parse("def f(model):\n    return getattr(model, 'supports_sampling', False)\n")
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)]
    assert [ast.unparse(c.args[0]) for c in calls if c.func.id == "getattr"] == ["model"]


class Miscounting(BaseModel):
    def loglikelihood(self, requests: Sequence[tuple[str, str]]) -> list[float]:
        return [0.0]

    def generate(self, prompts: Sequence[str], *, max_tokens: int, stop: Sequence[str] | None = None) -> list[str]:
        raise RuntimeError("server gone")


def test_model_calls_wrap_errors_count_answers_and_keep_the_first_failure() -> None:
    calls = ModelCalls(Miscounting())
    with pytest.raises(BackendError, match="returned 1 answers for 2 requests"):
        calls.loglikelihood([("a", "b"), ("c", "d")])
    first = calls.failure
    with pytest.raises(BackendError, match="generate\\(\\) raised RuntimeError: server gone"):
        calls.generate(["p"], max_tokens=2)
    assert calls.failure is first and first is not None
    with pytest.raises(ConfigError, match="greedy one"):
        calls.loglikelihood_greedy([("a", "b")])
    with pytest.raises(ConfigError, match="greedily only"):
        calls.generate(["p"], max_tokens=2, temperature=0.5)
    assert calls.loglikelihood([]) == []


def test_model_calls_report_progress_and_meter_a_role() -> None:
    class Live:
        def __init__(self) -> None:
            self.done = 0

        def start(self, total: int) -> None:
            self.total = total

        def advance(self, n: int = 1) -> None:
            self.done += n

        def finish(self) -> None:
            pass

    live, meter = Live(), usage.Usage()
    judge = ModelCalls(RandomModel(seed=0), live, role="judge")
    with usage.metering(meter):
        judge.start(3)
        judge.loglikelihood([("a", "b"), ("a", "c")])
        judge.loglikelihood_greedy([("a", "b")])  # does not report progress itself: counted when it returns
    assert live.done == 3
    assert meter.prompt_tokens == 0 and meter.roles["judge"].prompt_tokens > 0
    assert meter.to_dict()["roles"]["judge"]["prompt_tokens"] == meter.roles["judge"].prompt_tokens


def test_usage_by_role_stays_apart_and_merges() -> None:
    meter = usage.Usage()
    with usage.metering(meter):
        usage.current().add_tokens(3, 4)  # type: ignore[union-attr]
        with usage.acting_as("judge"):
            usage.current().add_tokens(10, 1)  # type: ignore[union-attr]
            with usage.metering(inner := usage.Usage()):  # a new evaluation starts as the candidate again
                assert usage.current() is inner
        assert usage.current() is meter
    assert (meter.prompt_tokens, meter.roles["judge"].prompt_tokens) == (3, 10)
    assert "roles" not in usage.Usage().to_dict()  # reports of runs without other models are unchanged
    total = usage.Usage()
    total.merge(meter.to_dict())
    total.merge(meter)
    assert (total.prompt_tokens, total.roles["judge"].generated_tokens) == (6, 2)


def test_options_are_one_object_and_keywords_still_work(tmp_path: Path) -> None:
    task = load_task(str(write_task(tmp_path, "a/task.json", arith_task(n=6))))
    by_object = evaluate(task, RandomModel(seed=2), EvalOptions(shots=1, max_examples=4, max_tokens=5))
    by_keywords = evaluate(task, RandomModel(seed=2), shots=1, max_examples=4, max_tokens=5)
    assert by_object.shots == by_keywords.shots == 1 and by_object.n_examples == 4
    assert [e.raw_response for e in by_object.examples] == [e.raw_response for e in by_keywords.examples]
    assert by_object.scores == by_keywords.scores
    with pytest.raises(TypeError, match="unknown evaluation option.*'shot'"):
        evaluate(task, RandomModel(seed=2), shot=1)
    assert EvalOptions.of(EvalOptions(shots=2), {"max_tokens": 3}) == EvalOptions(shots=2, max_tokens=3)


def test_bigbench_model_api_calls_through_the_shared_adapter(monkeypatch: pytest.MonkeyPatch) -> None:
    """BIG-bench's model API over our backends without BIG-bench's code: a stand-in for the two names the adapter
    takes from the checkout (its post-processing and ModelData), so what is ours is checked everywhere --
    one backend call per list, the first failure kept even when the task swallows it, the role's meter."""
    import types

    from pytest_lmbench.core.tasks.programmatic import BigbenchModel

    utils = types.ModuleType("bigbench.models.model_utils")
    utils.postprocess_output = lambda text, max_length, stop_string, output_regex: text  # type: ignore[attr-defined]
    api = types.ModuleType("bigbench.api.model")
    api.ModelData = lambda **kw: types.SimpleNamespace(**kw)  # type: ignore[attr-defined]
    for name, module in (("bigbench", types.ModuleType("bigbench")), ("bigbench.models", types.ModuleType("x")),
                         ("bigbench.api", types.ModuleType("y")), ("bigbench.models.model_utils", utils),
                         ("bigbench.api.model", api)):
        monkeypatch.setitem(__import__("sys").modules, name, module)

    meter = usage.Usage()
    adapter = BigbenchModel(TwoMethods(), "m")
    with usage.metering(meter):
        assert adapter.cond_log_prob(["A", "B"], [["x", "yy"], ["z"]], absolute_normalization=True) == \
            [[-1.0, -2.0], [-1.0]]
        assert adapter.generate_text(["p", "q"]) == ["x", "x"]
    assert meter.model_calls == 5 and not meter.tokens_counted  # timed by the harness: a two-method model
    assert len(adapter.calls) == 4 and adapter.model_data().model_name == "m"

    broken = BigbenchModel(Miscounting(), "m")
    with pytest.raises(BackendError):
        broken.generate_text("p")
    try:  # a task that catches the failure and goes on: the failure is still kept
        broken.cond_log_prob("c", ["a", "b"])
    except BackendError:
        pass
    assert broken.requests.failure is not None and "server gone" in str(broken.requests.failure)
