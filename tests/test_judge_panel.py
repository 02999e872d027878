"""Judge panels and --lm-judge-mode (issue 29, part 5): several judges' scores, the panel's mean, the agreement
between them (Krippendorff's alpha, against the ``krippendorff`` package and Krippendorff's own worked example),
through JSON tasks, test functions and the validation item."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from pytest_lmbench.core.judging import panel_agreement
from pytest_lmbench.core.scoring import metrics as M
from pytest_lmbench.core.scoring.judge import JudgeSpec, krippendorff_alpha, panel_scores, with_mode

#: Krippendorff (2011), "Computing Krippendorff's alpha-reliability", the worked example: 4 observers, 12 units.
KRIPPENDORFF_2011 = [[1, 2, 3, 3, 2, 1, 4, 1, 2, None, None, None],
                     [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, None, 3],
                     [None, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, None],
                     [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, None]]


def test_alpha_equals_krippendorffs_worked_example_and_the_package() -> None:
    assert krippendorff_alpha(KRIPPENDORFF_2011, [1, 2, 3, 4, 5]) == pytest.approx(0.815, abs=5e-4)
    package = pytest.importorskip("krippendorff")
    np = pytest.importorskip("numpy")
    rng = np.random.default_rng(0)
    for _ in range(10):
        data = rng.integers(1, 6, size=(3, 25)).astype(float)
        data[rng.random(data.shape) < 0.2] = np.nan
        ours = krippendorff_alpha([[None if math.isnan(x) else int(x) for x in row] for row in data],
                                  [1, 2, 3, 4, 5])
        assert ours == pytest.approx(package.alpha(reliability_data=data, level_of_measurement="ordinal",
                                                   value_domain=[1, 2, 3, 4, 5]))
    outcomes = [[0.0, 1.0, 0.5, 1.0], [0.0, 1.0, 1.0, 1.0]]  # pairwise: lost, won, tie as an ordered scale
    assert krippendorff_alpha(outcomes, [0.0, 0.5, 1.0]) == pytest.approx(package.alpha(
        reliability_data=np.array(outcomes), level_of_measurement="ordinal", value_domain=[0.0, 0.5, 1.0]))


def test_alpha_is_undefined_without_pairs_or_disagreement_and_has_an_interval() -> None:
    assert math.isnan(krippendorff_alpha([[1, None], [None, 2]], [1, 2]))  # no unit graded twice
    assert math.isnan(krippendorff_alpha([[3, 3], [3, 3]], [1, 2, 3]))  # one value: nothing to expect
    alpha, error = panel_agreement(KRIPPENDORFF_2011, [1, 2, 3, 4, 5])
    assert error is not None and error["method"] == "bootstrap"
    assert -1.0 <= error["ci95"][0] <= alpha <= error["ci95"][1] <= 1.0


def test_panel_scores_by_hand() -> None:
    one = ({"judge_score": 0.5, "judge_unparsed": 0.0}, {"judge_score": {0: 0.25, 1: 0.75},
                                                        "judge_unparsed": {0: 0.0, 1: 0.0}})
    two = ({"judge_score": 1.0, "judge_unparsed": 0.5}, {"judge_score": {1: 1.0}, "judge_unparsed": {0: 1.0, 1: 0.0}})
    assert panel_scores([one], 2) == one  # one judge: its scores as they are
    scores, per = panel_scores([one, two], 2)
    assert scores["judge_score@1"] == 0.5 and scores["judge_score@2"] == 1.0
    assert per["judge_score"] == {0: 0.25, 1: 0.875}  # example 0: only judge 1 read it
    assert scores["judge_score"] == pytest.approx((0.25 + 0.875) / 2)
    assert scores["judge_unparsed"] == 0.25 and scores["judge_unparsed@2"] == 0.5


def test_the_metric_table_knows_a_panel_judges_scores() -> None:
    assert M.is_sparse("judge_score@2") and "judge_unparsed@3" in M.LOWER_IS_BETTER
    assert M.SHORT_METRIC.get("judge_score_weighted@2") == "judge_weighted@2"
    assert M.SCORE_RANGES.get("judge_win_rate@1") == (0.0, 1.0) and "judge_score@x" not in M.SCORE_RANGES
    assert "mean@5" not in M.SCORE_RANGES  # the reducers' @ is not a judge's


def test_a_mode_the_template_does_not_fit_is_refused() -> None:
    spec = JudgeSpec(rubric="Polite?")
    assert with_mode(spec, "pairwise").mode == "pairwise"
    with pytest.raises(ValueError, match=r"judge.template: is written for single judging.*\{answer_a\}"):
        with_mode(JudgeSpec(rubric="Polite?", template="Grade {answer}"), "pairwise")


JUDGES = '''
class Judge:
    name = "first"
    def loglikelihood(self, requests):
        return [-abs(int(c[-1]) - 4) for _, c in requests]
    def generate(self, prompts, *, max_tokens, stop=None):
        return ["fine\\nGRADE: 4" if "q3" not in p else "GRADE: 2" for p in prompts]

class Other:
    name = "second"
    def loglikelihood(self, requests):
        return [-abs(int(c[-1]) - 5) for _, c in requests]
    def generate(self, prompts, *, max_tokens, stop=None):
        return ["no idea" if "q0" in p else "GRADE: 1" if "q3" in p else "GRADE: 5" for p in prompts]

class Pairs:
    name = "pairs"
    def loglikelihood(self, requests):
        return [0.0 for _ in requests]
    def generate(self, prompts, *, max_tokens, stop=None):
        return ["VERDICT: A" for _ in prompts]
'''


def _judged_task(tmp_path: Path, **judge: object) -> Path:
    task = {"name": "polite", "description": "answer politely", "keywords": ["judged"], "metrics": [],
            "preferred_score": "judge_score",
            "lmbench": {"judge": {"rubric": "Is it polite?", "max_unparsed": 0.5, **judge}},
            "examples": [{"input": f"q{i}", "target": f"answer {i}"} for i in range(4)]}
    path = tmp_path / "polite" / "task.json"
    path.parent.mkdir()
    path.write_text(json.dumps(task))
    return path


def test_a_panel_reports_each_judge_their_mean_and_their_agreement(pytester: pytest.Pytester) -> None:
    _judged_task(pytester.path)
    pytester.makepyfile(judges=JUDGES)
    result = pytester.runpytest("--lm-model=dummy:oracle", "--lm-judge=py:judges.py:Judge",
                                "--lm-judge=py:judges.py:Other", "--lm-threshold=judge_score@2=0.9",
                                "--lm-report=r.json", "--lm-html=r.html", "--junitxml=j.xml", "-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)  # the second judge's own score is under its threshold
    result.stdout.fnmatch_lines(["*judge_score@2 = 0.6667 < threshold 0.9*", "*examples judged below the best*",
                                 "*judged:   py:judges.py:Judge: grade 4 ('fine GRADE: 4'); py:judges.py:Other: "
                                 "unread ('no idea')"])
    [r] = json.loads((pytester.path / "r.json").read_text())["results"]
    scores = r["scores"]
    assert scores["judge_score@1"] == pytest.approx((0.75 * 3 + 0.25) / 4)  # 4, 4, 4, 2 on 1..5
    assert scores["judge_score@2"] == pytest.approx(2 / 3)  # unread, 5, 5, 1
    assert scores["judge_unparsed@2"] == 0.25 and scores["judge_unparsed"] == 0.125
    assert scores["judge_score"] == pytest.approx((0.75 + 0.875 + 0.875 + 0.125) / 4)  # per example, then mean
    assert scores["judge_alpha"] == pytest.approx(krippendorff_alpha([[4, 4, 4, 2], [None, 5, 5, 1]],
                                                                     [1, 2, 3, 4, 5]))
    assert scores["judge_alpha"] == pytest.approx(6 / 11)  # by hand: 1 - D_o / D_e
    assert "ci95" in r["errors"]["judge_alpha"] and "ci95" in r["errors"]["judge_score@2"]
    assert [v["judge"] for v in r["examples"][0]["judge"]["panel"]] == ["py:judges.py:Judge",
                                                                        "py:judges.py:Other"]
    assert r["examples"][0]["judge"]["panel"][1]["grade"] is None
    assert "judged by a panel of 1: py:judges.py:Judge, 2: py:judges.py:Other" in " ".join(r["notes"])
    assert r["usage"]["roles"]["judge"]["model_calls"] == 2 * 4 + 4 * 5 + 3 * 5  # verdicts, then weighted grades
    junit = (pytester.path / "j.xml").read_text()
    assert 'name="lmbench.judge_alpha" value="0.545454' in junit and 'name="lmbench.judge_unparsed"' in junit
    assert "judge_score@2" in (pytester.path / "r.html").read_text()  # the missed threshold, in the HTML too


def test_a_test_function_is_graded_by_the_panel(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(judges=JUDGES)
    pytester.makepyfile(test_replies='''
def test_replies(lm, lmbench):
    for i in range(4):
        verdict = lmbench.judge(f"answer {i}", input=f"q{i}", rubric="Is it polite?", max_unparsed=0.5)
        assert verdict.grade in (2, 4)  # the first judge's
''')
    result = pytester.runpytest("--lm-model=dummy:random", "--lm-judge=py:judges.py:Judge",
                                "--lm-judge=py:judges.py:Other", "--lm-report=r.json", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    [r] = json.loads((pytester.path / "r.json").read_text())["results"]
    assert r["scores"]["judge_score"] == pytest.approx(0.65625)
    assert r["scores"]["judge_alpha"] == pytest.approx(6 / 11)
    assert r["examples"][3]["judge"]["panel"][1]["grade"] == 1


def test_each_judge_of_a_panel_is_validated(pytester: pytest.Pytester) -> None:
    path = _judged_task(pytester.path, validation="human.jsonl")
    (path.parent / "human.jsonl").write_text("".join(json.dumps({"input": f"q{i}", "answer": "a", "human_score": g})
                                                     + "\n" for i, g in enumerate([4, 4, 3, 2])))
    pytester.makepyfile(judges=JUDGES)
    result = pytester.runpytest("--lm-model=dummy:oracle", "--lm-judge=py:judges.py:Judge",
                                "--lm-judge=py:judges.py:Other", "--collect-only", "-q", "-p", "no:cacheprovider")
    result.stdout.fnmatch_lines(["*polite:judge?py:judges.py:Judge?", "*polite:judge?py:judges.py:Other?"])


def test_judge_mode_pairwise_overrides_the_task_file(pytester: pytest.Pytester) -> None:
    _judged_task(pytester.path)
    pytester.makepyfile(judges=JUDGES)
    result = pytester.runpytest("--lm-model=dummy:oracle", "--lm-judge=py:judges.py:Pairs", "--lm-judge-mode=pairwise",
                                "--lm-report=r.json", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    [r] = json.loads((pytester.path / "r.json").read_text())["results"]
    assert r["preferred_score"] == "judge_win_rate" and "judge_score" not in r["scores"]
    assert r["scores"]["judge_swap_inconsistency"] == 1.0  # "A" whatever the order: every pair a tie
    path = _judged_task(pytester.path / "sub" if (pytester.path / "sub").mkdir() is None else pytester.path,
                        template="Grade {answer}")
    result = pytester.runpytest(str(path), "--lm-model=dummy:oracle", "--lm-judge=py:judges.py:Pairs",
                                "--lm-judge-mode=pairwise", "-p", "no:cacheprovider")
    result.stdout.fnmatch_lines(["*polite/task.json: lmbench.judge.template: is written for single judging*"])
    assert "Traceback" not in result.stdout.str()


SAMPLING_JUDGES = '''
import re
from pytest_lmbench.core.models.base import BaseModel

def _answer(prompt):
    return re.search(r"<<<ANSWER(?: A)?\\n(.*?)\\nANSWER", prompt, re.S).group(1)

def _verdict(prompt, grade):
    """A pairwise prompt gets a verdict that moves with the grade it would give."""
    return "VERDICT: " + "ABT"[grade % 3].replace("T", "TIE") if "VERDICT" in prompt else f"GRADE: {grade}"

def _score(continuation, best):
    last = continuation[-1]
    return -abs(int(last) - best) if last.isdigit() else -0.5 * "ABE".index(last)

class ByLength(BaseModel):
    """Grades an answer by its length: 1 + len % 5 (greedy only)."""
    name = "by-length"
    def loglikelihood(self, requests):
        return [_score(c, 3) for _, c in requests]
    def generate(self, prompts, *, max_tokens, stop=None):
        return [_verdict(p, 1 + len(_answer(p)) % 5) for p in prompts]

class Noisy(BaseModel):
    """Samples its verdicts: the grade moves with the seed."""
    name = "noisy"
    supports_sampling = True
    def loglikelihood(self, requests):
        return [[-3.0, -2.0, -0.5, -1.0, -3.0][int(c[-1]) - 1] if c[-1].isdigit() else _score(c, 0)
                for _, c in requests]
    def generate(self, prompts, *, max_tokens, stop=None, temperature=0.0, seed=0):
        return [_verdict(p, 1 + (len(_answer(p)) + (seed if temperature else 0)) % 5) for p in prompts]
'''


def _report(pytester: pytest.Pytester, *args: str) -> dict:
    result = pytester.runpytest("--lm-report=r.json", "-p", "no:cacheprovider", *args)
    result.assert_outcomes(passed=1)
    [r] = json.loads((pytester.path / "r.json").read_text())["results"]
    return r


def test_repeats_judge_every_sampled_answer_and_cluster_by_example(pytester: pytest.Pytester) -> None:
    _judged_task(pytester.path)
    pytester.makepyfile(judges=SAMPLING_JUDGES)
    r = _report(pytester, "--lm-model=dummy:random", "--lm-judge=py:judges.py:ByLength", "--lm-repeats=3")
    means = []
    for ex in r["examples"]:
        answers = [s["response"] for s in ex["samples"]]
        grades = [v["grade"] for v in ex["judge"]["samples"]]
        assert len(answers) == 3 and grades == [1 + len(a) % 5 for a in answers]  # each sample judged
        means.append(sum((g - 1) / 4 for g in grades) / 3)
        assert ex["scores"]["judge_score"] == pytest.approx(means[-1])
    assert r["scores"]["judge_score"] == pytest.approx(sum(means) / 4)
    assert r["usage"]["roles"]["judge"]["model_calls"] == 12 + 12 * 5
    assert r["repeats"]["k"] == 3 and "mean over each example's 3 judged samples" in " ".join(r["notes"])
    # the interval is over the 4 examples' means (clustered by example), not over 12 verdicts
    from pytest_lmbench.core.uncertainty import _mean_errors

    expected = _mean_errors("judge_score", means, None, (0.0, 1.0))
    assert r["errors"]["judge_score"]["ci95"] == pytest.approx(expected["ci95"])


def test_judge_samples_average_the_judges_own_noise(pytester: pytest.Pytester) -> None:
    _judged_task(pytester.path, judge_samples=3, verdict="prefill")
    pytester.makepyfile(judges=SAMPLING_JUDGES)
    r = _report(pytester, "--lm-model=dummy:oracle", "--lm-judge=py:judges.py:Noisy")
    for ex in r["examples"]:
        grades = [v["grade"] for v in ex["judge"]["samples"]]
        assert len(grades) == 3 and ex["scores"]["judge_score"] == pytest.approx(sum((g - 1) / 4 for g in grades) / 3)
    drawn = [v["grade"] for ex in r["examples"] for v in ex["judge"]["samples"]]
    assert len(set(drawn)) > 1  # drawn from the judge's probabilities, not its most likely grade
    assert r["usage"]["roles"]["judge"]["model_calls"] == 4 * 5  # the draws share one scoring of the grades
    again = _report(pytester, "--lm-model=dummy:oracle", "--lm-judge=py:judges.py:Noisy")
    assert [ex["judge"] for ex in again["examples"]] == [ex["judge"] for ex in r["examples"]]  # seeded draws
    # text verdicts are sampled from the judge; one that cannot sample is told so
    path = pytester.path / "polite" / "task.json"
    task = json.loads(path.read_text())
    task["lmbench"]["judge"]["verdict"] = "text"
    path.write_text(json.dumps(task))
    r = _report(pytester, "--lm-model=dummy:oracle", "--lm-judge=py:judges.py:Noisy")
    for ex in r["examples"]:
        assert [v["grade"] for v in ex["judge"]["samples"]] == [1 + (len(ex["response"]) + s) % 5 for s in
                                                                 (42, 43, 44)]
    result = pytester.runpytest("--lm-model=dummy:oracle", "--lm-judge=py:judges.py:ByLength", "-p",
                                "no:cacheprovider")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*the judge py:judges.py:ByLength samples (temperature > 0)*"])


def _strip(path: Path) -> dict:
    data = json.loads(path.read_text())
    for r in data["results"]:
        r.pop("eval_seconds"), r.pop("model_load_seconds")
        r.pop("cache", None)
    return data


CACHED_BACKENDS = """
from pytest_lmbench.core.models.dummy import RandomModel
from pytest_lmbench.core.models.spec import Backend
import judges

def pytest_lmbench_backends():
    # the dummy model and the scripted judges as real backends are: behind the answer cache
    return {"rand": Backend(name="rand", factory=lambda spec: RandomModel(seed=len(spec.target)), cached=True,
                            sampling=True),
            "noisy": Backend(name="noisy", factory=lambda spec: judges.Noisy(), cached=True, sampling=True),
            "bylength": Backend(name="bylength", factory=lambda spec: judges.ByLength(), cached=True)}
"""


@pytest.mark.slow
def test_judged_runs_give_the_same_report_under_xdist_and_from_the_cache(pytester: pytest.Pytester) -> None:
    """Single and pairwise judging, a panel, judge samples, repeats, the validation items and a test function:
    ``-n 2`` writes the report ``-n 0`` does, and a rerun from the answer cache asks neither the models nor the
    judges anything and writes it again."""
    single = _judged_task(pytester.path, judge_samples=2, verdict="prefill", validation="human.jsonl")
    (single.parent / "human.jsonl").write_text("".join(json.dumps({"input": f"q{i}", "answer": "so" * i,
                                                                   "human_score": g}) + "\n"
                                                       for i, g in enumerate([4, 4, 3, 2])))
    pairwise = pytester.path / "pairs"
    pairwise.mkdir()
    _judged_task(pairwise, mode="pairwise")
    task = json.loads((pairwise / "polite" / "task.json").read_text())
    task.update(name="pairs", preferred_score="judge_win_rate")
    (pairwise / "polite" / "task.json").write_text(json.dumps(task))
    pytester.makepyfile(judges=SAMPLING_JUDGES)
    pytester.makeconftest(CACHED_BACKENDS)
    pytester.makepyfile(test_replies='''
def test_replies(lm, lmbench):
    for i in range(3):
        lmbench.judge(lm.generate(f"q{i}", max_tokens=4), input=f"q{i}", rubric="Polite?", max_unparsed=0.5)
''')
    args = ("--lm-model=rand:a", "--lm-model=rand:bb", "--lm-judge=noisy:j", "--lm-judge=bylength:j",
            "--lm-compare=rand:a", "--lm-repeats=2", "-p", "no:randomly", "--lm-cache-dir=cache")
    pytester.runpytest(*args, "--lm-report=serial.json", "-n", "0").assert_outcomes(passed=8)
    pytester.runpytest_subprocess(*args, "--lm-report=parallel.json", "-n", "2", "--lm-no-cache").assert_outcomes(
        passed=8)
    serial, parallel = _strip(pytester.path / "serial.json"), _strip(pytester.path / "parallel.json")
    for data in (serial, parallel):
        for r in data["results"]:
            r.pop("usage")  # cache hits and misses aside
    assert serial == parallel
    names = {f"{r['task']}[{r['model']}]" for r in serial["results"]}
    assert {"polite:judge[bylength:j]", "polite:judge[noisy:j]", "pairs[rand:bb]", "replies[rand:a]"} <= names
    scores = {f"{r['task']}[{r['model']}]": r["scores"] for r in serial["results"]}
    assert "judge_alpha" in scores["polite[rand:bb]"] and "judge_win_rate@2" in scores["pairs[rand:bb]"]
    assert "judge_score@2" in scores["replies[rand:a]"] and scores["replies[rand:a]"]["judge_unparsed"] == 0.0
    replies = next(r for r in serial["results"] if r["task"] == "replies")
    assert [len(s["judge"]["panel"]) for s in replies["examples"][0]["samples"]] == [2, 2]  # each repeat judged
    pytester.runpytest(*args, "--lm-report=again.json", "-n", "0").assert_outcomes(passed=8)
    again = _strip(pytester.path / "again.json")
    for r in again["results"]:
        assert r["usage"].get("model_calls", 0) == 0, r["task"]
        assert all(role.get("model_calls", 0) == 0 for role in r["usage"].get("roles", {}).values()), r["task"]
        r.pop("usage")
    assert again == serial


def test_a_judge_that_is_the_model_under_test_is_warned_about(pytester: pytest.Pytester) -> None:
    _judged_task(pytester.path)
    pytester.makepyfile(judges=JUDGES)
    pytester.makepyfile(test_replies='''
def test_replies(lm, lmbench):
    lmbench.judge("hello", input="q1", rubric="Polite?")
''')
    result = pytester.runpytest("--lm-model=py:judges.py:Judge", "--lm-model=dummy:oracle",
                                "--lm-judge=py:judges.py:Judge", "--lm-report=r.json", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(["*SelfPreferenceWarning: the judge py:judges.py:Judge is the model under test "
                                 "py:judges.py:Judge: judges tend to prefer their own answers*"])
    # the task's item and the function's on that model; none on the other model
    assert result.stdout.str().count("SelfPreferenceWarning") == 2
    notes = {r["model"]: " ".join(r["notes"]) for r in json.loads((pytester.path / "r.json").read_text())["results"]
             if r["task"] == "polite"}
    assert "self-preference" in notes["py:judges.py:Judge"] and "self-preference" not in notes["dummy:oracle"]


BROKEN_JUDGES = '''
class Raises:
    name = "raises"
    def loglikelihood(self, requests):
        return [0.0 for _ in requests]
    def generate(self, prompts, *, max_tokens, stop=None):
        raise TimeoutError("the judge's server did not answer in 30 s")

class Short:
    name = "short"
    def loglikelihood(self, requests):
        return [0.0]
    def generate(self, prompts, *, max_tokens, stop=None):
        return ["GRADE: 3"]

class Garbage:
    name = "garbage"
    def loglikelihood(self, requests):
        return [0.0 for _ in requests]
    def generate(self, prompts, *, max_tokens, stop=None):
        return ["\\x00\\ufffd GRADE: seven" for _ in prompts]
'''


@pytest.mark.parametrize(("judge", "message"), [
    ("Raises", "the judge py:judges.py:Raises: the model's generate() raised TimeoutError: the judge's server did "
               "not answer in 30 s"),
    ("Short", "the judge py:judges.py:Short: the model's generate() returned 1 answers for 4 requests"),
    ("Garbage", "*the judge py:judges.py:Garbage gave no readable verdict on 4 of 4 answers*"),
])
def test_a_judge_that_fails_or_answers_garbage_is_a_clear_error(pytester: pytest.Pytester, judge: str,
                                                                message: str) -> None:
    _judged_task(pytester.path)
    pytester.makepyfile(judges=BROKEN_JUDGES)
    result = pytester.runpytest("--lm-model=dummy:oracle", f"--lm-judge=py:judges.py:{judge}", "-p",
                                "no:cacheprovider")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines([message])
    assert "Traceback" not in result.stdout.str()


def test_a_test_function_samples_the_judges_verdicts(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(judges=SAMPLING_JUDGES)
    pytester.makepyfile(test_replies='''
def test_replies(lmbench):
    for i in range(3):
        verdict = lmbench.judge("answer " * i, input=f"q{i}", rubric="Polite?", samples=3, verdict="prefill")
        assert verdict.grade is not None  # the first sample's
''')
    r = _report(pytester, "--lm-model=dummy:oracle", "--lm-judge=py:judges.py:Noisy",
                "--lm-judge=py:judges.py:ByLength")
    for ex in r["examples"]:
        noisy, by_length = ex["judge"]["panel"]
        grades = [v["grade"] for v in noisy["samples"]]
        assert len(grades) == 3 and len(by_length["samples"]) == 3
        per_judge = [sum((g - 1) / 4 for g in grades) / 3,
                     sum((v["grade"] - 1) / 4 for v in by_length["samples"]) / 3]
        assert ex["scores"]["judge_score"] == pytest.approx(sum(per_judge) / 2)
    assert "judge_score@2" in r["scores"]
