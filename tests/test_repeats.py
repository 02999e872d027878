"""Repeated sampling: the estimators against hand-computed values, the reducers on a scripted model, clustered
intervals against the reference vectors, and repeats through the plugin (task files, the command line, the
marker, the answer cache, thresholds and the baseline)."""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path

import numpy as np
import pytest
from conftest import arith_task, mc_task, write_task
from scripted_model import GreedyOnly

from pytest_lmbench.core.evaluate import evaluate
from pytest_lmbench.core.models.cache import CachedModel, ResponseCache
from pytest_lmbench.core.repeats import Repeats, is_reducer, majority, option_sample, pass_at_k, pass_hat_k
from pytest_lmbench.core.results import ExampleResult, TaskResult
from pytest_lmbench.core.tasks.bigbench import load_task
from pytest_lmbench.core.uncertainty import sample_errors

RUN = ("-p", "no:cacheprovider")


# ------------------------------------------------------------------------------------------- estimators

@pytest.mark.parametrize("n, c, k, expected", [
    (5, 2, 1, 0.4),  # c / n
    (5, 2, 2, 1 - 3 / 10),  # 1 - C(3,2)/C(5,2)
    (5, 2, 3, 1 - 1 / 10),  # 1 - C(3,3)/C(5,3)
    (5, 2, 4, 1.0),  # n - c < k: some right sample is always drawn
    (4, 1, 4, 1.0),  # n = k with one right: all drawn
    (4, 0, 4, 0.0),  # n = k, none right
    (10, 0, 3, 0.0),  # c = 0
    (10, 10, 3, 1.0),  # c = n
    (10, 3, 5, 1 - 21 / 252),  # 1 - C(7,5)/C(10,5)
    (200, 1, 1, 0.005),
])
def test_pass_at_k_hand_values(n: int, c: int, k: int, expected: float) -> None:
    assert pass_at_k(n, c, k) == pytest.approx(expected, abs=1e-15)


@pytest.mark.parametrize("n, c, k, expected", [
    (5, 2, 2, 0.1),  # C(2,2)/C(5,2)
    (5, 2, 3, 0.0),  # fewer right than k
    (4, 4, 4, 1.0),  # n = k, all right
    (4, 3, 4, 0.0),  # n = k, one wrong
    (10, 3, 1, 0.3),
    (10, 0, 2, 0.0),
])
def test_pass_hat_k_hand_values(n: int, c: int, k: int, expected: float) -> None:
    assert pass_hat_k(n, c, k) == pytest.approx(expected, abs=1e-15)


def test_estimators_equal_counting_every_draw_of_k() -> None:
    """Unbiased: exactly the share of k-subsets of the n samples with at least one (all) right."""
    for n in range(1, 8):
        for c in range(n + 1):
            right = [True] * c + [False] * (n - c)
            for k in range(1, n + 1):
                draws = list(itertools.combinations(right, k))
                assert pass_at_k(n, c, k) == pytest.approx(sum(any(d) for d in draws) / len(draws), abs=1e-15)
                assert pass_hat_k(n, c, k) == pytest.approx(sum(all(d) for d in draws) / len(draws), abs=1e-15)


def test_bad_arguments_are_errors() -> None:
    for n, c, k in ((3, 4, 1), (3, 1, 4), (3, 1, 0), (3, -1, 1)):
        with pytest.raises(ValueError):
            pass_at_k(n, c, k)
    with pytest.raises(ValueError, match="repeats"):
        Repeats(k=0)
    with pytest.raises(ValueError, match="temperature"):
        Repeats(k=2, temperature=-1)


def test_majority_breaks_ties_by_the_answer_given_first() -> None:
    assert majority(["a", "b", "b"]) == 1
    assert majority(["b", "a", "a", "b"]) == 0  # 2-2: "b" came first
    assert majority(["x", "y", "z"]) == 0
    assert majority(["y", "x", "x", "y", "x"]) == 1  # "x" wins 3-2; its first sample is index 1
    assert majority(["only"]) == 0


def test_reducer_names() -> None:
    assert all(is_reducer(n) for n in ("mean@8", "maj@8", "pass@1", "pass@10", "pass^3"))
    assert not any(is_reducer(n) for n in ("exact_str_match", "pass@", "maj@x", "mean", "pass^"))
    assert Repeats(k=8).ks() == [1, 8]
    assert Repeats(k=8, pass_at=(1, 5, 10)).ks() == [1, 5]
    assert Repeats(k=8, pass_at=(1, 5, 10)).skipped_ks() == [10]
    assert Repeats(k=3, seed=7).seeds() == [7, 8, 9]


def test_option_sample_follows_the_probabilities_and_repeats_exactly() -> None:
    lp = list(np.log([0.6, 0.3, 0.1]))
    draws = [option_sample(lp, 1.0, seed, "ex") for seed in range(4000)]
    freq = np.bincount(draws, minlength=3) / len(draws)
    assert freq == pytest.approx([0.6, 0.3, 0.1], abs=0.03)
    assert draws[:50] == [option_sample(lp, 1.0, seed, "ex") for seed in range(50)]  # seeded: reruns repeat
    assert option_sample(lp, 0.0, 5, "ex") == 0  # temperature 0: the most likely option
    sharp = [option_sample(lp, 0.2, seed, "ex") for seed in range(500)]
    assert sharp.count(0) > 450  # low temperature concentrates on the most likely option


# ------------------------------------------------------------------------------------- clustered intervals

def test_mean_at_k_interval_clusters_the_samples_of_an_example() -> None:
    """The reference vector: correct = [1,1,0,1,1,0,1,0,0,0] with clusters [0,0,0,1,1,2,2,3,3,3] has a clustered
    standard error of 0.2160246899469287 (with the C/(C-1) correction); here the clusters are the examples."""
    correct = [1, 1, 0, 1, 1, 0, 1, 0, 0, 0]
    clusters = [0, 0, 0, 1, 1, 2, 2, 3, 3, 3]
    examples = []
    for c in range(4):
        samples = [{"score": float(x)} for x, g in zip(correct, clusters) if g == c]
        examples.append(ExampleResult(id=f"e{c}", index=c, prompt="", targets=[], samples=samples))
    result = TaskResult(task="t", model="m", shots=0, n_examples=4, scores={"mean@3": 0.5},
                        preferred_score="exact_str_match", low_score=0.0, high_score=1.0, examples=examples)
    entry = sample_errors(result)
    assert entry is not None
    assert entry["stderr"] == pytest.approx(0.2160246899469287, rel=1e-12)
    assert entry["method"].startswith("clustered")


# ------------------------------------------------------------------------------------------ scripted model

class SeedScripted:
    """Answers generation request (prompt, seed) from a script; log-likelihoods from a table."""

    supports_sampling = True

    def __init__(self, script: dict[str, list[str]], logprobs: dict[str, float] | None = None) -> None:
        self.script, self.logprobs = script, logprobs or {}
        self.calls: list[tuple[str, float, int]] = []

    def generate(self, prompts, *, max_tokens, stop=None, temperature=0.0, seed=0):
        out = []
        for p in prompts:
            key = next(k for k in self.script if k in p)
            self.calls.append((key, temperature, seed))
            out.append(self.script[key][seed % len(self.script[key])])
        return out

    def loglikelihood(self, requests):
        return [self.logprobs.get(t, -5.0) for _, t in requests]


def _arith(tmp_path: Path, **extra) -> object:
    data = arith_task(n=3, **extra)
    return load_task(str(write_task(tmp_path, "arith/task.json", data)))


def test_reducers_on_a_scripted_model(tmp_path: Path) -> None:
    # targets: "0", "2", "4"; four samples each (seeds 0..3)
    model = SeedScripted({"0 + 0": ["0", "0", "0", "0"],  # 4/4 right
                          "1 + 1": ["2", "3", "3", "2"],  # 2/4, tie 2-2: "2" came first -> maj right
                          "2 + 2": ["5", "4", "5", "6"]})  # 1/4, majority "5" -> wrong
    result = evaluate(_arith(tmp_path), model, repeats=Repeats(k=4, temperature=0.7))
    s = result.scores
    assert s["exact_str_match"] == pytest.approx((1 + 0.5 + 0.25) / 3)
    assert s["mean@4"] == pytest.approx((1 + 0.5 + 0.25) / 3)
    assert s["maj@4"] == pytest.approx(2 / 3)
    assert s["pass@1"] == pytest.approx((1 + 0.5 + 0.25) / 3)
    assert s["pass@4"] == pytest.approx(1.0)
    assert s["pass^4"] == pytest.approx(1 / 3)
    per = [ex.scores for ex in result.examples]
    assert [p["maj@4"] for p in per] == [1.0, 1.0, 0.0]
    assert [p["pass^4"] for p in per] == [1.0, 0.0, 0.0]
    assert [ex.response for ex in result.examples] == ["0", "2", "5"]  # the majority answers
    assert result.repeats == {"k": 4, "temperature": 0.7, "seeds": [0, 1, 2, 3], "pass_at": [1, 4],
                              "metric": "exact_str_match"}
    assert sorted({(t, s) for _, t, s in model.calls}) == [(0.7, 0), (0.7, 1), (0.7, 2), (0.7, 3)]
    # error bars: mean@K clustered over samples (here = the per-example means'), maj@K per example (Wilson)
    assert result.errors["mean@4"]["stderr"] == pytest.approx(np.std([1, 0.5, 0.25], ddof=1) / math.sqrt(3))
    assert result.errors["maj@4"]["method"] == "wilson"
    assert len(result.examples[1].samples or []) == 4


def test_pass_at_k_beyond_the_repeats_is_noted_not_reported(tmp_path: Path) -> None:
    model = SeedScripted({"+": ["0", "2"]})
    result = evaluate(_arith(tmp_path), model, repeats=Repeats(k=2, pass_at=(1, 2, 5)))
    assert "pass@5" not in result.scores and "pass@2" in result.scores
    assert any("pass@5 need more than 2 samples" in n for n in result.notes)


def test_multiple_choice_samples_its_options(tmp_path: Path) -> None:
    task = load_task(str(write_task(tmp_path, "c/task.json", mc_task(n=4))))
    model = SeedScripted({}, {"red": -0.1, "green": -1.0, "blue": -2.0, "black": -0.5, "white": -3.0,
                              "pink": -1.0, "grey": -2.0, "brown": -2.0})
    greedy = evaluate(task, model)
    result = evaluate(task, model, repeats=Repeats(k=16))
    assert result.scores["multiple_choice_grade"] == greedy.scores["multiple_choice_grade"]  # BIG-bench's, argmax
    again = evaluate(task, model, repeats=Repeats(k=16))
    assert [ex.samples for ex in again.examples] == [ex.samples for ex in result.examples]  # seeded
    for ex in result.examples:
        picks = [s["picked"] for s in ex.samples or []]
        assert set(picks) <= set(ex.choices or [])
        assert ex.scores["mean@16"] == pytest.approx(np.mean([(ex.target_scores or {})[p] for p in picks]))
    assert {"mean@16", "maj@16", "pass@1", "pass@16", "pass^16"} <= set(result.scores)


def test_each_repeat_has_its_own_cache_entry(tmp_path: Path) -> None:
    """A repeat is never answered with another repeat's answer: the cache keys them apart, and a rerun is
    served every repeat from the cache."""
    cache = ResponseCache(str(tmp_path / "c.sqlite"))
    model = SeedScripted({"0 + 0": ["a", "b", "c"], "1 + 1": ["d", "e", "f"], "2 + 2": ["g", "h", "i"]})
    cached = CachedModel("scripted", lambda: model, cache, supports_sampling=True)
    task = _arith(tmp_path)
    first = evaluate(task, cached, repeats=Repeats(k=3))
    assert cache.count() == 9
    assert [[s["response"] for s in ex.samples or []] for ex in first.examples] == [
        ["a", "b", "c"], ["d", "e", "f"], ["g", "h", "i"]]
    calls = len(model.calls)
    second = evaluate(task, cached, repeats=Repeats(k=3))
    assert len(model.calls) == calls  # all from the cache
    assert [ex.samples for ex in second.examples] == [ex.samples for ex in first.examples]
    assert second.usage is not None and second.usage["cache_hits"] == 9 and second.usage["model_calls"] == 0
    more = evaluate(task, cached, repeats=Repeats(k=4))  # one more repeat: only it is asked
    assert len(model.calls) == calls + 3
    assert [s["response"] for s in (more.examples[0].samples or [])] == ["a", "b", "c", "a"]
    cache.close()


# ---------------------------------------------------------------------------------------------- the plugin

SCRIPTED = """
class Scripted:
    supports_sampling = True
    SCRIPT = {"0 + 0": "0000", "1 + 1": "2332", "2 + 2": "5456", "3 + 3": "6666", "4 + 4": "8181",
              "5 + 5": "1234"}

    def generate(self, prompts, *, max_tokens, stop=None, temperature=0.0, seed=0):
        out = []
        for p in prompts:
            key = next(k for k in self.SCRIPT if k in p)
            answers = self.SCRIPT[key]
            out.append(answers[seed % 4] if temperature > 0 else answers[0])
        return out

    def loglikelihood(self, requests):
        return [-1.0 for _ in requests]
"""


def _report(pytester: pytest.Pytester, name: str = "r.json") -> dict:
    return json.loads((pytester.path / name).read_text())


def test_command_line_repeats_reach_json_tasks(pytester: pytest.Pytester) -> None:
    write_task(pytester.path, "a/task.json", arith_task())
    pytester.makepyfile(scripted=SCRIPTED)
    pytester.syspathinsert()
    result = pytester.runpytest(*RUN, "--lm-model=py:scripted:Scripted", "--lm-repeats=4", "--lm-pass-at=1,2,4",
                                "--lm-report=r.json", "--lm-threshold=pass@4=0.5", "--lm-gate=point",
                                "--lm-html=r.html", "--junitxml=j.xml")
    result.assert_outcomes(passed=1)
    r = _report(pytester)["results"][0]
    # right answers of the 4 samples of each example: "0000" 4, "2332" 2, "5456" 1, "6666" 4, "8181" 2, "1234" 0
    rights = [4, 2, 1, 4, 2, 0]
    assert r["scores"]["mean@4"] == pytest.approx(sum(rights) / 24)
    assert r["scores"]["pass@1"] == pytest.approx(sum(rights) / 24)
    assert r["scores"]["pass@2"] == pytest.approx(np.mean([pass_at_k(4, c, 2) for c in rights]))
    assert r["scores"]["pass@4"] == pytest.approx(5 / 6)
    assert r["scores"]["pass^4"] == pytest.approx(2 / 6)
    # majority: 0 ok; "2332" -> 2-2, "2" first: ok; "5456" -> "5": wrong; ok; "8181" -> "8" first: ok; wrong
    assert r["scores"]["maj@4"] == pytest.approx(4 / 6)
    assert r["threshold"] == {"pass@4": 0.5}
    assert r["repeats"]["k"] == 4 and r["repeats"]["seeds"] == [0, 1, 2, 3]
    assert r["errors"]["mean@4"]["stderr"] is not None
    out = result.stdout.str()
    assert "maj@4" in out and "pass^4" in out  # the repeats block of the summary
    html = (pytester.path / "r.html").read_text()
    assert '<table class="repeats">' in html and "pass^4" in html
    junit = (pytester.path / "j.xml").read_text()
    assert 'name="lmbench.repeats" value="4"' in junit and 'name="lmbench.maj@4" value="0.6666666666666666"' in junit


def test_task_file_repeats_and_thresholds_on_reducers(pytester: pytest.Pytester) -> None:
    write_task(pytester.path, "a/task.json", arith_task(lmbench={"repeats": 4, "temperature": 0.5,
                                                                 "threshold": {"maj@4": 0.9}}))
    pytester.makepyfile(scripted=SCRIPTED)
    pytester.syspathinsert()
    result = pytester.runpytest(*RUN, "--lm-model=py:scripted:Scripted", "--lm-report=r.json", "--lm-gate=point")
    result.assert_outcomes(failed=1)
    r = _report(pytester)["results"][0]
    assert r["repeats"]["temperature"] == 0.5 and r["scores"]["maj@4"] == pytest.approx(4 / 6)
    assert "maj@4" in r["message"]
    # the failing examples show the majority answer and every sample
    assert "examples wrong in some of their 4 samples" in r["message"]
    assert "samples:  '5', '4', '5', '6' (right in 1 of 4)" in r["message"]
    # the command line wins over the file
    result = pytester.runpytest(*RUN, "--lm-model=py:scripted:Scripted", "--lm-report=r.json", "--lm-repeats=1")
    r = _report(pytester)["results"][0]
    assert r["repeats"] is None and "maj@4" not in r["scores"]


@pytest.mark.parametrize("block, field", [
    ({"repeats": 0}, "lmbench.repeats"), ({"repeats": "8"}, "lmbench.repeats"),
    ({"repeats": 2, "temperature": -1}, "lmbench.temperature"), ({"repeats": 2, "pass_at": [0]}, "lmbench.pass_at"),
    ({"repeats": 2, "seed": 1.5}, "lmbench.seed"),
])
def test_bad_repeats_in_a_task_file_name_the_field(pytester: pytest.Pytester, block: dict, field: str) -> None:
    write_task(pytester.path, "a/task.json", arith_task(lmbench=block))
    result = pytester.runpytest(*RUN, "--lm-model=dummy:oracle")
    result.assert_outcomes(errors=1)
    assert field in result.stdout.str() and "Traceback" not in result.stdout.str()


@pytest.mark.parametrize("args, message", [
    (["--lm-repeats=0"], "--lm-repeats 0"), (["--lm-pass-at=1,x"], "--lm-pass-at"),
    (["--lm-temperature=-2"], "--lm-temperature"), (["--lm-max-cost=1"], "needs prices"),
])
def test_bad_repeat_options_are_usage_errors(pytester: pytest.Pytester, args: list[str], message: str) -> None:
    write_task(pytester.path, "a/task.json", arith_task())
    result = pytester.runpytest(*RUN, "--lm-model=dummy:oracle", *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert message in result.stderr.str()


def test_function_task_with_the_repeats_marker(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(scripted=SCRIPTED)
    pytester.syspathinsert()
    pytester.makepyfile(test_fn="""
        import pytest

        @pytest.mark.lmbench(repeats=4, temperature=0.9, pass_at=[1, 4])
        def test_sums(lm, lmbench):
            assert lm.sampling is not None and lm.sampling[0] == 0.9
            for i in range(6):
                answer = lm.generate(f"{i} + {i} =")
                lmbench.record(input=f"{i} + {i}", target=str(2 * i), response=answer, id=str(i))

        @pytest.mark.lmbench(repeats=3)
        def test_own_seeds(lm, lmbench):
            # a seed the body passes itself: shifted per repeat, so each repeat draws new samples
            texts = lm.generate("2 + 2 =", temperature=0.5, n=2, seed=1)
            lmbench.record(input="2 + 2", target="4", response=" ".join(texts))

        def test_choice(lm, lmbench):
            choice = lm.choose("pick", ["a", "b"])
            lmbench.record_choice(choice, "a")
    """)
    result = pytester.runpytest(*RUN, "--lm-model=py:scripted:Scripted", "--lm-report=r.json")
    result.assert_outcomes(passed=3)
    results = {r["task"]: r for r in _report(pytester)["results"]}
    # repeat i shifts the body's seeds 1, 2 by i * 1,000,003 (3 mod 4); "5456"[seed % 4] is the answer
    assert [s["response"] for s in results["own_seeds"]["examples"][0]["samples"]] == ["4 5", "5 4", "6 5"]
    r = results["sums"]
    rights = [4, 2, 1, 4, 2, 0]
    assert r["scores"]["mean@4"] == pytest.approx(sum(rights) / 24)
    assert r["scores"]["maj@4"] == pytest.approx(4 / 6)
    assert r["scores"]["pass^4"] == pytest.approx(2 / 6)
    assert r["repeats"]["temperature"] == 0.9
    assert results["choice"]["repeats"] is None  # no marker, no --lm-repeats


def test_function_task_whose_repeats_record_different_examples_is_an_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_fn="""
        import pytest
        runs = []

        @pytest.mark.lmbench(repeats=2)
        def test_uneven(lm, lmbench):
            runs.append(1)
            for i in range(len(runs)):
                lmbench.record(1.0, input=str(i))
    """)
    result = pytester.runpytest(*RUN, "--lm-model=dummy:random")
    result.assert_outcomes(failed=1)
    assert "repeat 1 recorded 2 example(s), repeat 0 1" in result.stdout.str()


def test_baseline_compared_on_a_reducer(pytester: pytest.Pytester) -> None:
    write_task(pytester.path, "a/task.json", arith_task())
    pytester.makepyfile(scripted=SCRIPTED)
    pytester.syspathinsert()
    base = ("--lm-model=py:scripted:Scripted?name=m", "--lm-repeats=4")
    pytester.runpytest(*RUN, *base, "--lm-report=base.json").assert_outcomes(passed=1)
    result = pytester.runpytest(*RUN, *base, "--lm-baseline=base.json", "--lm-baseline-metric=maj@4",
                                "--lm-report=r.json")
    result.assert_outcomes(passed=1)
    comp = _report(pytester)["results"][0]["comparisons"][0]
    assert comp["metric"] == "maj@4" and comp["delta"] == 0.0 and comp["verdict"] == "no regression"


# --------------------------------------------------------------------------- what repeats sample, and when not

def test_a_task_of_both_kinds_samples_what_its_preferred_score_is_about(tmp_path: Path) -> None:
    """Multiple choice and generation in one task: the repeats sample the kind the preferred score is of; the
    other runs once, as without repeats."""
    data = mc_task(n=3)
    data["metrics"] = ["multiple_choice_grade", "exact_str_match"]
    for ex in data["examples"]:
        ex["target"] = max(ex["target_scores"], key=ex["target_scores"].get)
    task = load_task(str(write_task(tmp_path, "both/task.json", data)))
    model = SeedScripted({"color": ["red", "blue"]}, {"red": -0.2, "green": -0.4})
    result = evaluate(task, model, repeats=Repeats(k=4))
    assert all(len(ex.samples or []) == 4 and "picked" in (ex.samples or [{}])[0] for ex in result.examples)
    assert {seed for _, _, seed in model.calls} == {0}  # generation asked once, greedily (no seed passed: 0)
    data["preferred_score"] = "exact_str_match"
    task = load_task(str(write_task(tmp_path, "both2/task.json", data)))
    model.calls.clear()
    result = evaluate(task, model, repeats=Repeats(k=4))
    assert all([s.get("response") for s in ex.samples or []] for ex in result.examples)
    assert sorted({seed for _, _, seed in model.calls}) == [0, 1, 2, 3]
    assert "picked" not in (result.examples[0].samples or [{}])[0]


@pytest.mark.parametrize("metrics, preferred, why", [
    (["log_likelihood"], "log_likelihood", "computed from log-probabilities"),
    (["bleu"], "bleu", "a corpus statistic"),
    (["multiple_choice_grade"], "expected_calibration_error", "computed from log-probabilities"),
])
def test_a_preferred_score_no_sample_has_is_a_clear_error_before_any_request(
        tmp_path: Path, metrics: list[str], preferred: str, why: str) -> None:
    data = arith_task(n=3) if "multiple_choice_grade" not in metrics else mc_task(n=3)
    data["metrics"], data["preferred_score"] = metrics, preferred
    task = load_task(str(write_task(tmp_path, "t/task.json", data)))
    model = SeedScripted({"+": ["0"]})
    with pytest.raises(ValueError, match=why):
        evaluate(task, model, repeats=Repeats(k=3))
    assert model.calls == []


@pytest.mark.parametrize("temperature", [1.0, 0.0])
def test_greedy_only_backends_cannot_repeat_generation(tmp_path: Path, temperature: float) -> None:
    with pytest.raises(ValueError, match="greedy generation only"):
        evaluate(_arith(tmp_path), GreedyOnly(), repeats=Repeats(k=3, temperature=temperature))
    mc = load_task(str(write_task(tmp_path, "c/task.json", mc_task(n=2))))
    assert "mean@3" in evaluate(mc, GreedyOnly(), repeats=Repeats(k=3)).scores  # options are drawn here


def test_unreadable_answers_get_no_vote() -> None:
    assert majority([None, None, "a"]) == 2
    assert majority([None, None]) == 0


def test_function_task_choices_and_samples_under_repeats(pytester: pytest.Pytester) -> None:
    """lm.choose draws its pick in each repeat and the reducers grade the drawn picks (the grade stays the most
    likely option's); lm.generate(n=2) with no seed draws new samples in every repeat."""
    pytester.makepyfile(spread="""
        class Spread:
            supports_sampling = True

            def loglikelihood(self, requests):
                return [{"a": -0.7, "b": -0.9, "c": -1.2}[t] for _, t in requests]

            def generate(self, prompts, *, max_tokens, stop=None, temperature=0.0, seed=0):
                return [f"s{seed}" for _ in prompts]
    """)
    pytester.syspathinsert()
    pytester.makepyfile(test_fn="""
        import pytest

        @pytest.mark.lmbench(repeats=16)
        def test_pick(lm, lmbench):
            for i in range(5):
                lmbench.record_choice(lm.choose(f"q{i}", ["a", "b", "c"]), "a", id=str(i))

        @pytest.mark.lmbench(repeats=3)
        def test_draws(lm, lmbench):
            lmbench.record(1.0, input="x", response=" ".join(lm.generate("p", n=2)))
    """)
    result = pytester.runpytest(*RUN, "--lm-model=py:spread:Spread", "--lm-report=r.json")
    result.assert_outcomes(passed=2)
    rows = {r["task"]: r for r in _report(pytester)["results"]}
    pick = rows["pick"]
    assert pick["scores"]["multiple_choice_grade"] == 1.0  # "a" is the most likely option
    picks = [s["picked"] for ex in pick["examples"] for s in ex["samples"]]
    assert set(picks) == {"a", "b", "c"}  # drawn: p = 0.41, 0.34, 0.25
    assert pick["scores"]["mean@16"] == pytest.approx(picks.count("a") / len(picks))
    assert pick["scores"]["mean@16"] < 0.7
    draws = [s["response"] for s in rows["draws"]["examples"][0]["samples"]]
    assert draws == ["s0 s3", "s1 s4", "s2 s5"]  # repeat r, sample j: seed r + 3j, never another repeat's


def test_repeats_marker_without_the_recorder_is_an_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_fn="""
        import pytest

        @pytest.mark.lmbench(repeats=3)
        def test_nothing(lm):
            lm.generate("x")
    """)
    result = pytester.runpytest(*RUN, "--lm-model=dummy:random")
    result.assert_outcomes(failed=1)
    assert "needs the lmbench fixture" in result.stdout.str() or "take the lmbench fixture" in result.stdout.str()


def test_progress_counts_the_repeated_requests(tmp_path: Path) -> None:
    class Counting:
        def start(self, total: int) -> None:
            self.total, self.done = total, 0

        def advance(self, n: int = 1) -> None:
            self.done += n

        def finish(self) -> None:
            pass

    progress = Counting()
    model = SeedScripted({"+": ["0", "2", "4"]})
    evaluate(_arith(tmp_path), model, repeats=Repeats(k=3), progress=progress)
    assert progress.total == 9  # 3 examples x 3 repeats
    data = mc_task(n=2)
    data["metrics"] = ["multiple_choice_grade", "exact_str_match"]
    for ex in data["examples"]:
        ex["target"] = "red"
    both = load_task(str(write_task(tmp_path, "both/task.json", data)))
    evaluate(both, SeedScripted({"color": ["red"]}), repeats=Repeats(k=5), progress=progress)
    assert progress.total == 2 * 3 + 2  # options once (drawn from), generation once
