"""What a run costs: the meter, the backends' counts (the openai backend against a stub server here; llama.cpp
and hf in their own modules, llama_cpp.server in test_llama_server), the reports, and the budgets that stop a
run cleanly."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from conftest import arith_task, mc_task, write_task
from scripted_model import GreedyOnly
from test_openai import echo_completion, fake_server, model

from pytest_lmbench.core.evaluate import evaluate
from pytest_lmbench.core.models.dummy import RandomModel
from pytest_lmbench.core.tasks.bigbench import load_task
from pytest_lmbench.core.usage import Usage, current, metering, short
from pytest_lmbench.report.progress import LiveProgress

RUN = ("-p", "no:cacheprovider")


def test_meter_is_per_context_and_merges() -> None:
    assert current() is None
    a, b = Usage(), Usage()
    seen: list[Usage | None] = []

    def other_thread() -> None:
        seen.append(current())  # a thread of its own has no meter unless it opens one

    with metering(a):
        assert current() is a
        t = threading.Thread(target=other_thread)
        t.start()
        t.join()
        with metering(b):
            assert current() is b
        assert current() is a
    assert current() is None and seen == [None]
    a.add_tokens(prompt=10, generated=5)
    a.add_calls(3, 2.0)
    a.add_hits(4)
    b.merge(a.to_dict())
    b.merge({"prompt_tokens": 1, "cost": 0.5, "tokens_counted": False})
    d = b.to_dict()
    assert d == {"prompt_tokens": 11, "generated_tokens": 5, "model_calls": 3, "model_seconds": 2.0,
                 "cache_hits": 4, "tokens_per_second": 8.0, "cost": 0.5, "tokens_counted": False}
    assert short(a.to_dict()) == "15 tokens (10 in, 5 out), 3 calls, 2.0 s, 8 tok/s, 4 cached"


def test_evaluation_records_usage(tmp_path: Path) -> None:
    """The dummy backends count words as tokens: the counts are known by hand."""
    task = load_task(str(write_task(tmp_path, "a/task.json", arith_task(n=3))))
    result = evaluate(task, RandomModel(seed=1), max_tokens=3)
    usage = result.usage or {}
    prompts = [ex.prompt for ex in result.examples]
    assert usage["prompt_tokens"] == sum(len(p.split()) for p in prompts)
    assert usage["generated_tokens"] == sum(len((ex.raw_response or "").split()) for ex in result.examples)
    assert usage["model_calls"] == 3 and usage["cache_hits"] == 0 and usage["cost"] is None
    mc = load_task(str(write_task(tmp_path, "b/task.json", mc_task(n=2))))
    usage = evaluate(mc, RandomModel(seed=1)).usage or {}
    assert usage["model_calls"] == 6 and usage["generated_tokens"] == 0  # 2 examples x 3 options


def test_a_backend_that_does_not_meter_is_timed_with_tokens_unknown(tmp_path: Path) -> None:
    task = load_task(str(write_task(tmp_path, "a/task.json", arith_task(n=3))))
    usage = evaluate(task, GreedyOnly()).usage or {}
    assert usage["model_calls"] == 3 and usage["tokens_counted"] is False and usage["prompt_tokens"] == 0
    assert "tokens" not in short(usage)


def _usage_completion(text: str, prompt_tokens: int, completion_tokens: int) -> bytes:
    return json.dumps({"choices": [{"text": text, "index": 0}], "usage": {
        "prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens}}).encode()


def test_openai_usage_is_the_servers_and_prices_give_the_cost() -> None:
    def answer(body: dict) -> tuple[int, dict, bytes, float]:
        words = len(body["prompt"].split())
        return 200, {}, _usage_completion("Paris", words * 3, 2), 0.0

    with fake_server([], answer) as (base, _):
        m = model(base, price_in=2.0, price_out=10.0, concurrency=4)
        with metering(Usage()) as meter:
            m.generate(["a b", "c d e", "f"], max_tokens=4)
        m.close()
    assert meter.prompt_tokens == (2 + 3 + 1) * 3 and meter.generated_tokens == 6
    assert meter.model_calls == 3  # metered from the pool threads too
    assert meter.cost == pytest.approx((18 * 2.0 + 6 * 10.0) / 1e6)
    with fake_server([], lambda body: (200, {}, echo_completion(body["prompt"]), 0.0)) as (base, _):
        m = model(base)
        with metering(Usage()) as meter:
            m.loglikelihood([("The capital is", " Paris")])
        m.close()
    assert meter.tokens_counted is False  # the server said nothing of usage: the counts are marked unknown


def test_bad_prices_are_config_errors() -> None:
    from pytest_lmbench.core.errors import ConfigError
    from pytest_lmbench.core.models.openai import OpenAIModel

    with pytest.raises(ConfigError, match="price_in=-1"):
        OpenAIModel("m", base_url="http://127.0.0.1:9/v1", price_in=-1.0)


def test_prices_are_not_part_of_the_cache_identity() -> None:
    from pytest_lmbench.core.models.openai import OPENAI
    from pytest_lmbench.core.models.registry import parse_spec

    plain = OPENAI.identity(parse_spec("openai:m?base_url=http://h/v1"), lambda p: "", [])
    priced = OPENAI.identity(parse_spec("openai:m?base_url=http://h/v1&price_in=1&price_out=2"), lambda p: "", [])
    assert plain == priced


def test_progress_line_shows_tokens_and_cost() -> None:
    meter = Usage()
    line = LiveProgress(lambda s: None, "capitals [m]", 200, usage=meter)
    line.start(10)
    line.done = 4
    assert "tokens" not in line.text(2.0)
    meter.add_tokens(prompt=1200, generated=34)
    meter.add_cost(0.0123)
    assert line.text(2.0).endswith(", 1,234 tokens, $0.0123")
    assert "tokens" not in line.text(2.0, room=60)  # narrow: the counts and time matter more


# -------------------------------------------------------------------------------------------- the plugin

def test_reports_carry_usage(pytester: pytest.Pytester) -> None:
    write_task(pytester.path, "a/task.json", arith_task())
    result = pytester.runpytest(*RUN, "--lm-model=dummy:random", "--lm-report=r.json", "--junitxml=j.xml",
                                "--lm-html=r.html")
    result.assert_outcomes(passed=1)
    r = json.loads((pytester.path / "r.json").read_text())["results"][0]
    assert r["usage"]["model_calls"] == 6 and r["usage"]["prompt_tokens"] > 0
    out = result.stdout.str()
    assert "cost: " in out and "lmbench cost: " in out and "6 calls" in out
    junit = (pytester.path / "j.xml").read_text()
    assert 'name="lmbench.usage.model_calls" value="6"' in junit
    assert 'name="lmbench.usage.prompt_tokens"' in junit
    assert "cost: " in (pytester.path / "r.html").read_text()


def test_token_budget_stops_the_run_cleanly(pytester: pytest.Pytester) -> None:
    for name in ("a", "b", "c"):
        write_task(pytester.path, f"{name}/task.json", arith_task(name))
    result = pytester.runpytest(*RUN, "--lm-model=dummy:random", "--lm-report=r.json", "--lm-max-tokens-total=10")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.assert_outcomes(passed=1)  # the first item ran; the budget stopped the others
    out = result.stdout.str()
    assert "over --lm-max-tokens-total 10" in out and "report incomplete" in out
    report = json.loads((pytester.path / "r.json").read_text())
    assert report["complete"] is False and len(report["results"]) == 1


def test_cost_budget_needs_and_uses_prices(pytester: pytest.Pytester) -> None:
    """Against a stub server whose every answer costs 1000 prompt tokens at 1 per million: 0.001 each."""
    write_task(pytester.path, "a/task.json", arith_task("a", n=3))
    write_task(pytester.path, "b/task.json", arith_task("b", n=3))
    with fake_server([], lambda body: (200, {}, _usage_completion("0", 1000, 1), 0.0)) as (base, _):
        spec = f"openai:m?base_url={base}&price_in=1&price_out=0&name=m"
        result = pytester.runpytest(*RUN, "--lm-no-cache", f"--lm-model={spec}", "--lm-report=r.json",
                                    "--lm-max-cost=0.002")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    assert "cost 0.0030, over --lm-max-cost 0.002" in result.stdout.str()
    report = json.loads((pytester.path / "r.json").read_text())
    assert report["complete"] is False and report["results"][0]["usage"]["cost"] == pytest.approx(0.003)


def test_an_errored_item_keeps_what_it_cost_and_py_models_are_timed(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(flaky="""
        class Flaky:
            def loglikelihood(self, requests):
                return [-1.0 for _ in requests]

            def generate(self, prompts, *, max_tokens, stop=None):
                raise ConnectionError("gone")
    """)
    pytester.syspathinsert()
    data = mc_task(n=2)
    data["metrics"] = ["multiple_choice_grade", "exact_str_match"]
    for ex in data["examples"]:
        ex["target"] = "red"
    write_task(pytester.path, "a/task.json", data)
    pytester.makepyfile(test_fn="""
        def test_fn(lm, lmbench):
            lmbench.record(lm.loglikelihood("a", "b") < 0, input="a")
    """)
    result = pytester.runpytest(*RUN, "--lm-model=py:flaky:Flaky?name=f", "--lm-report=r.json")
    result.assert_outcomes(passed=1, errors=1)
    rows = {r["task"]: r for r in json.loads((pytester.path / "r.json").read_text())["results"]}
    errored = rows["colors"]
    assert errored["outcome"] == "error" and errored["usage"]["model_calls"] == 6 + 2  # options, then generation
    assert errored["usage"]["tokens_counted"] is False  # a py: class counts no tokens; its calls are timed
    fn = rows["fn"]["usage"]
    assert fn["model_calls"] == 1 and fn["tokens_counted"] is False
