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
                                "--lm-report=r.json", "-p", "no:cacheprovider")
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
