"""Paired comparisons (pytest_lmbench.core.compare) and the --lm-baseline / --lm-compare options end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import write_task

from pytest_lmbench.core import stats as S
from pytest_lmbench.core.compare import BaselineIndex, apply_holm, compare, compare_with_baseline
from pytest_lmbench.core.results import ExampleResult, TaskResult

# ----------------------------------------------------------------------------------------- pure core


def _result(scores: list[float], *, model: str = "m", metric: str = "exact_str_match", ids: list[str] | None = None,
            task: str = "t", clusters: list[str] | None = None) -> TaskResult:
    ids = ids or [f"e{i}" for i in range(len(scores))]
    examples = [ExampleResult(id=ids[i], index=i, prompt=f"q{ids[i]}", targets=["a"], response="a" if s else "b",
                              scores={metric: float(s)}, score=float(s),
                              cluster=None if clusters is None else clusters[i]) for i, s in enumerate(scores)]
    return TaskResult(task=task, model=model, shots=0, n_examples=len(scores),
                      scores={metric: sum(scores) / len(scores)}, preferred_score=metric, low_score=0.0,
                      high_score=1.0, examples=examples)


BASE = [1, 1, 1, 0, 0, 1, 1, 0, 1, 1, 0, 1]
CAND = [1, 1, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1]


def test_binary_scores_get_exact_mcnemar_on_examples_matched_by_id() -> None:
    base = _result(BASE)
    # the candidate's examples in reverse order: matching is by id, not position
    order = list(reversed(range(12)))
    cand = _result([CAND[i] for i in order], ids=[f"e{i}" for i in order])
    comp = compare(cand, base, against="b")
    assert comp.method == "mcnemar" and comp.n_matched == 12 and not comp.mismatched
    assert comp.delta == pytest.approx(0.25) and comp.p_two_sided == pytest.approx(0.375)
    assert comp.p_worse == pytest.approx(31 / 32)
    assert comp.n_newly_failing == 1 and comp.n_newly_passing == 4
    assert comp.newly_failing[0]["id"] == "e6" and comp.newly_failing[0]["baseline_got"] == "a"
    # the other way round, the candidate is the one that got worse
    back = compare(base, _result(CAND), against="b")
    assert back.delta == pytest.approx(-0.25) and back.p_worse == pytest.approx(S.mcnemar_one_sided(4, 1))


def test_mismatched_example_sets_are_reported_and_compared_on_the_shared_ones() -> None:
    base = _result([1, 1, 0, 1, 1], ids=["a", "b", "c", "d", "e"])
    cand = _result([1, 0, 0, 1, 1, 1], ids=["a", "b", "c", "d", "x", "y"])
    comp = compare(cand, base, against="b")
    assert (comp.n_matched, comp.only_candidate, comp.only_baseline) == (4, 2, 1)
    assert "example sets differ: 4 shared, 2 only in this run, 1 only in the baseline" in comp.message
    assert comp.delta == pytest.approx(-0.25)  # on a, b, c, d only
    none = compare(_result([1, 1], ids=["p", "q"]), base, against="b")
    assert none.verdict == "not compared" and none.p_worse is None and "0 shared" in none.message


def test_duplicate_examples_pair_by_occurrence() -> None:
    base = _result([1, 0, 1], ids=["a", "a", "b"])
    cand = _result([1, 1, 1], ids=["a", "a", "b"])
    comp = compare(cand, base, against="b")
    assert comp.n_matched == 3 and comp.delta == pytest.approx(1 / 3)


def test_continuous_clustered_and_lower_is_better() -> None:
    base = _result([0.2, 0.4, 0.6, 0.8, 0.5, 0.3], metric="rougeLsum")
    cand = _result([0.1, 0.3, 0.6, 0.6, 0.4, 0.3], metric="rougeLsum")
    comp = compare(cand, base, against="b", max_regression=0.001)
    d = [c - b for b, c in zip([0.2, 0.4, 0.6, 0.8, 0.5, 0.3], [0.1, 0.3, 0.6, 0.6, 0.4, 0.3])]
    ref = S.paired_continuous([0] * 6, d, margin=0.1)  # rouge's range is 0-100: 0.001 of it is 0.1
    assert comp.method == "paired-t" and comp.margin == pytest.approx(0.1)
    assert comp.p_worse == pytest.approx(ref.p_worse) and comp.delta == pytest.approx(-0.5 / 6)
    clustered = compare(_result([1, 0, 1, 0], clusters=["q1", "q1", "q2", "q2"]),
                        _result([1, 1, 1, 1], clusters=["q1", "q1", "q2", "q2"]), against="b")
    assert clustered.method == "paired-t-clustered"
    # a lower-is-better preferred score: a higher candidate value is the worse one
    ece_base = _result([0.1, 0.2, 0.1, 0.3], metric="confidence_ece")
    ece_cand = _result([0.4, 0.5, 0.6, 0.5], metric="confidence_ece")
    worse = compare(ece_cand, ece_base, against="b")
    assert worse.delta == pytest.approx(0.325) and worse.p_worse < 0.05
    assert worse.ci95[0] < 0.325 < worse.ci95[1]
    assert compare(ece_base, ece_cand, against="b").p_worse > 0.95


def test_corpus_metric_uses_the_paired_bootstrap() -> None:
    refs = ["the cat sat on the mat", "a dog ran in the park", "birds fly south in winter", "it rained all day"]
    def bleu_result(responses: list[str]) -> TaskResult:
        ex = [ExampleResult(id=f"e{i}", index=i, prompt="p", targets=[t], response=r)
              for i, (t, r) in enumerate(zip(refs * 5, responses))]
        from pytest_lmbench.core.scoring.metrics import bleu

        return TaskResult(task="t", model="m", shots=0, n_examples=len(ex),
                          scores={"bleu": bleu([e.targets for e in ex], responses)}, preferred_score="bleu",
                          low_score=0.0, high_score=100.0, examples=ex)
    good = bleu_result(refs * 5)
    bad = bleu_result(["nothing like it"] * 20)
    comp = compare(bad, good, against="b")
    assert comp.method == "paired-bootstrap" and comp.delta == pytest.approx(bad.scores["bleu"] - 100.0)
    assert comp.p_worse == 0.0 and comp.ci95[1] < 0


def test_holm_across_items_decides_the_verdict() -> None:
    comps = [compare(_result([0] * 3 + [1] * 9), _result([1] * 12), against="b"),  # 3 newly wrong: p 1/8
             compare(_result([0] * 10 + [1] * 30), _result([1] * 40), against="b")]  # p 2^-10
    apply_holm(comps, 0.05)
    assert comps[0].p_worse == pytest.approx(1 / 8) and comps[0].p_adjusted == pytest.approx(1 / 8)
    assert comps[1].p_adjusted == pytest.approx(2 * 2 ** -10)
    assert [c.verdict for c in comps] == ["no regression", "regressed"]


def test_baseline_index_chooses_the_model() -> None:
    one = BaselineIndex([_result([1, 1], model="prod")], "b.json")
    assert one.find(_result([1, 1], model="cand"))[0].model == "prod"
    two = BaselineIndex([_result([1, 1], model="a"), _result([1, 1], model="b")], "b.json")
    found, why = two.find(_result([1, 1], model="c"))
    assert found is None and "several models (a, b)" in why and "--lm-baseline-model" in why
    assert two.find(_result([1, 1], model="b"))[0].model == "b"
    with pytest.raises(ValueError, match="no results for model 'z'"):
        BaselineIndex([_result([1, 1], model="a")], "b.json", model="z")
    missing = compare_with_baseline([_result([1, 1], task="new")], one, max_regression=0.0, alpha=0.05)
    assert missing[0].verdict == "not compared" and "not in the baseline b.json" in missing[0].message


# ------------------------------------------------------------------------------------------- plugin

MODELS = '''
import re
class Sometimes:
    """Right except on the examples whose number is below `wrong`."""
    def __init__(self, wrong=0):
        self.wrong = int(wrong)
    def generate(self, prompts, *, max_tokens, stop=None):
        out = []
        for p in prompts:
            n = int(re.findall(r"(\\d+)", p)[-1])
            out.append("x" if n < self.wrong else str(2 * n))
        return out
    def loglikelihood(self, requests):
        return [0.0 for _ in requests]
'''
RUN = ["-p", "no:cacheprovider"]


def _arith(root: Path, n: int) -> None:
    write_task(root, "arith/task.json", {
        "name": "arith", "description": "add", "keywords": ["arithmetic"], "metrics": ["exact_str_match"],
        "preferred_score": "exact_str_match",
        "examples": [{"input": f"{i} + {i} =", "target": str(2 * i)} for i in range(n)]})


def _model(wrong: int, name: str) -> str:
    return f"--lm-model=py:mymodels:Sometimes?wrong={wrong}&name={name}"


def test_baseline_gate_fails_a_regressed_run_and_passes_a_steady_one(pytester: pytest.Pytester) -> None:
    _arith(pytester.path, 60)
    pytester.makepyfile(mymodels=MODELS)
    pytester.syspathinsert()  # py:mymodels imports it by name
    base = pytester.runpytest(*RUN, _model(5, "prod"), "--lm-report=prod.json")
    assert base.ret == 0
    # xdist starts its workers as processes: a run with -n 2 is a process of its own
    worse = pytester.runpytest_subprocess(*RUN, "-n", "2", _model(20, "cand"), "--lm-baseline=prod.json",
                                          "--lm-report=cand.json")
    assert worse.ret == pytest.ExitCode.TESTS_FAILED
    worse.stdout.fnmatch_lines([
        "*arith*0.667*regressed*", "items: 1 regressed",
        "model cand vs prod.json (prod)*",
        "arith*60*0.917*0.667*-0.250*[[]-0.363, -0.137[]]*<0.001*regressed*",
        "regressed: significantly worse than the baseline*",
        "*15 example(s) newly wrong (0 newly right); the first 3:",
        "*#5 prompt: *5 + 5 =*", "*got: *'x'", "*baseline: '10'"])
    row = json.loads((pytester.path / "cand.json").read_text())["results"][0]
    assert row["outcome"] == "regressed"
    comp = row["comparisons"][0]
    assert comp["method"] == "mcnemar" and comp["n_matched"] == 60 and comp["n_newly_failing"] == 15
    assert comp["p_worse"] == pytest.approx(S.mcnemar_one_sided(15, 0))
    steady = pytester.runpytest(*RUN, _model(6, "cand"), "--lm-baseline=prod.json")
    assert steady.ret == 0
    steady.stdout.fnmatch_lines(["arith*60*0.917*0.900*-0.017*ok*"])
    # an allowed drop of 0.3 tolerates the 0.25 drop
    tolerant = pytester.runpytest(*RUN, _model(20, "cand"), "--lm-baseline=prod.json",
                                  "--lm-max-regression=0.3")
    assert tolerant.ret == 0


def test_mismatched_examples_are_reported(pytester: pytest.Pytester) -> None:
    _arith(pytester.path, 30)
    pytester.makepyfile(mymodels=MODELS)
    pytester.syspathinsert()  # py:mymodels imports it by name
    assert pytester.runpytest(*RUN, _model(0, "prod"), "--lm-report=prod.json").ret == 0
    _arith(pytester.path, 40)
    result = pytester.runpytest(*RUN, _model(0, "cand"), "--lm-baseline=prod.json")
    assert result.ret == 0
    result.stdout.fnmatch_lines(["arith*30*ok[*]*",
                                 "[*] arith: example sets differ: 30 shared, 10 only in this run, 0 only in the*"])


@pytest.mark.parametrize("content, message", [
    (None, "--lm-baseline nope.json: no such file"),
    ("{not json", "--lm-baseline nope.json: not valid JSON (line 1"),
    ('{"results": 3}', "--lm-baseline nope.json: not a pytest-lmbench report"),
    ('{"schema_version": 99, "results": []}', "schema_version 99 is not one this pytest-lmbench reads"),
])
def test_bad_baseline_file_is_a_usage_error(pytester: pytest.Pytester, content: str | None, message: str) -> None:
    _arith(pytester.path, 3)
    if content is not None:
        (pytester.path / "nope.json").write_text(content)
    result = pytester.runpytest(*RUN, "--lm-model=dummy:oracle", "--lm-baseline=nope.json")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*{message}*"])
    assert "Traceback" not in result.stderr.str()


def test_compare_models_in_one_run_is_informative(pytester: pytest.Pytester) -> None:
    _arith(pytester.path, 40)
    pytester.makepyfile(mymodels=MODELS)
    pytester.syspathinsert()  # py:mymodels imports it by name
    result = pytester.runpytest(*RUN, _model(0, "big"), _model(15, "small"), "--lm-compare=big",
                                "--lm-report=r.json")
    assert result.ret == 0  # a worse model in --lm-compare does not fail the run
    result.stdout.fnmatch_lines(["model small vs model big (informative: does not gate)*",
                                 "arith*40*1*0.625*-0.375*worse*",
                                 "vs another model of this run, p is the two-sided p-value*"])
    rows = {r["model"]: r for r in json.loads((pytester.path / "r.json").read_text())["results"]}
    assert rows["small"]["comparisons"][0]["p_two_sided"] == pytest.approx(S.mcnemar_exact(15, 0))
    assert rows["big"]["comparisons"] == []
    bad = pytester.runpytest(*RUN, _model(0, "big"), "--lm-compare=huge")
    assert bad.ret == pytest.ExitCode.USAGE_ERROR
    bad.stderr.fnmatch_lines(["*--lm-compare huge: not one of the models of this run (big)*"])


def test_a_judge_score_pairs_the_examples_read_in_both_runs() -> None:
    """judge_score is defined only where the judge's verdict was read: unread examples on either side are left
    out of the pairing (never counted as 0)."""
    base = _result([0.5, 0.75, 0.25, 0.5, 1.0, 0.5], metric="judge_score")
    cand = _result([0.75, 1.0, 0.5, 0.75, 1.0, 0.75], metric="judge_score")
    del cand.examples[2].scores["judge_score"]  # unread in this run
    del base.examples[4].scores["judge_score"]  # unread in the baseline
    comp = compare(cand, base, against="b")
    assert comp.n_matched == 6 and comp.method == "paired-t"
    assert comp.delta == pytest.approx((0.25 + 0.25 + 0.25 + 0.25) / 4)  # examples 0, 1, 3, 5
    assert comp.message == "compared on the 4 of 6 shared examples with judge_score in both runs"
