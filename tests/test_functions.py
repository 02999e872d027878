"""Test-function tasks: the ``lm`` and ``lmbench`` fixtures, the marker, thresholds, reports (pytester)."""

from __future__ import annotations

import json

import pytest
from conftest import write_task

# A deterministic model for these tests: prefers the option or answer that appears in the prompt after
# "hint:", else the shortest option; samples cycle through "a", "b", "a".
MODEL = '''
class HintModel:
    supports_sampling = True

    def _hint(self, text):
        return text.split("hint:")[-1].strip().split()[0] if "hint:" in text else ""

    def loglikelihood(self, requests):
        return [0.0 if t.strip() == self._hint(c) else -1.0 - len(t) for c, t in requests]

    def generate(self, prompts, *, max_tokens, stop=None, temperature=0.0, seed=0):
        if temperature > 0:
            return ["ab"[seed % 3 == 1] for _ in prompts]
        return [self._hint(p) or "?" for p in prompts]
'''


@pytest.fixture
def hint_model(pytester: pytest.Pytester) -> str:
    pytester.makepyfile(hintmodel=MODEL)
    return "py:hintmodel.py:HintModel?name=hint"


def test_recording_gives_a_task_row_and_report(pytester: pytest.Pytester, hint_model: str) -> None:
    pytester.makepyfile(test_tasks='''
        import pytest

        QUESTIONS = [("2+2? hint: 4", ["3", "4", "22"], "4"), ("capital? hint: Paris", ["Rome", "Paris"], "Paris"),
                     ("odd one?", ["cat", "mouse", "fish"], "fish"), ("color? hint: red", ["blue", "red"], "blue")]

        @pytest.mark.lmbench(keywords=["arithmetic"])
        def test_quiz(lm, lmbench):
            for prompt, options, answer in QUESTIONS:
                lmbench.record_choice(lm.choose(prompt, options), answer)

        @pytest.mark.lmbench(metric="exact_str_match", threshold=0.5)
        def test_echo(lm, lmbench):
            prompts = ["say hint: yes", "say hint: no", "say nothing"]
            for prompt, response, target in zip(prompts, lm.generate(prompts), ["yes", "no", "maybe"]):
                lmbench.record(input=prompt, target=target, response=response)
    ''')
    result = pytester.runpytest("--lm-model", hint_model, "--lm-report", "r.json", "-v",
                                "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*test_quiz?hint? PASSED*", "*test_echo?hint? PASSED*"])
    result.stdout.fnmatch_lines(["*quiz*mc_grade*0.500*scored*"])
    report = json.loads((pytester.path / "r.json").read_text())
    rows = {r["task"]: r for r in report["results"]}
    quiz = rows["quiz"]
    assert quiz["scores"]["multiple_choice_grade"] == pytest.approx(0.5)
    assert quiz["n_examples"] == 4 and quiz["model"] == "hint" and quiz["keywords"] == ["arithmetic"]
    assert "expected_calibration_error" in quiz["scores"] and quiz["reliability"]
    assert quiz["low_score"] == pytest.approx((1 / 3 + 1 / 2 + 1 / 3 + 1 / 2) / 4)
    assert [e["chosen"] if "chosen" in e else e["response"] for e in quiz["examples"]] == ["4", "Paris", "cat", "red"]
    echo = rows["echo"]
    # 2/3 clears 0.5, but with n=3 its one-sided 95% lower bound does not: inconclusive, not a failure
    assert echo["scores"]["exact_str_match"] == pytest.approx(2 / 3) and echo["outcome"] == "inconclusive"
    assert echo["threshold"] == {"exact_str_match": 0.5}


def test_threshold_failure_is_readable_and_assert_still_works(pytester: pytest.Pytester, hint_model: str) -> None:
    pytester.makepyfile(test_tasks='''
        import pytest

        @pytest.mark.lmbench(threshold=0.9)
        def test_quiz(lm, lmbench):
            for prompt, answer in [("q hint: a", "a"), ("q hint: b", "c"), ("q hint: c", "a")]:
                lmbench.record_choice(lm.choose(prompt, ["a", "b", "c"]), answer)

        @pytest.mark.lmbench(threshold=0.1)
        def test_asserts(lm, lmbench):
            choice = lm.choose("q hint: a", ["a", "b"])
            lmbench.record_choice(choice, "a")
            assert choice.option == "b", "the model picked " + choice.option

        def test_records_nothing(lm, lmbench):
            pass
    ''')
    result = pytester.runpytest("--lm-model", hint_model, "-p", "no:cacheprovider", "--lm-report",
                                "r.json")
    result.assert_outcomes(failed=3)
    out = result.stdout.str()
    assert "quiz [hint, 0-shot, n=3]: multiple_choice_grade = 0.3333 < threshold 0.9" in out
    assert "2 of 3 examples wrong" in out
    assert "def test_quiz" not in out  # no traceback for a missed threshold
    assert "AssertionError: the model picked a" in out
    assert "records_nothing recorded no examples" in out
    rows = {r["task"]: r for r in json.loads((pytester.path / "r.json").read_text())["results"]}
    assert rows["quiz"]["outcome"] == "failed" and rows["asserts"]["outcome"] == "failed"
    assert "AssertionError" in rows["asserts"]["message"]


def test_several_models_and_cli_thresholds(pytester: pytest.Pytester, hint_model: str) -> None:
    pytester.makepyfile(test_tasks='''
        def test_quiz(lm, lmbench):
            for prompt, answer in [("q hint: a", "a"), ("q hint: b", "b"), ("q", "cc")]:
                lmbench.record_choice(lm.choose(prompt, ["a", "b", "cc"]), answer)
    ''')
    result = pytester.runpytest("--lm-model", hint_model, "--lm-model", "dummy:random?seed=3",
                                "--lm-threshold", "qu*:multiple_choice_grade=0.6", "-v",
                                "-p", "no:cacheprovider", "--lm-report", "r.json")
    result.stdout.fnmatch_lines(["*test_quiz?hint? PASSED*"])
    rows = {r["model"]: r for r in json.loads((pytester.path / "r.json").read_text())["results"]}
    assert set(rows) == {"hint", "dummy:random"}
    assert rows["hint"]["scores"]["multiple_choice_grade"] == pytest.approx(2 / 3)
    assert rows["hint"]["threshold"] == {"multiple_choice_grade": 0.6}


def test_confidence_scores_and_data_files(pytester: pytest.Pytester, hint_model: str) -> None:
    pytester.makefile(".jsonl", data='{"q": "a hint: x", "a": "x"}\n{"q": "b hint: y", "a": "z"}\n'
                                     '{"q": "c hint: w", "a": "w"}\n{"q": "d", "a": "v"}\n')
    pytester.makepyfile(test_tasks='''
        import pytest
        from pytest_lmbench import parse_confidence

        @pytest.mark.lmbench(metric="accuracy", threshold={"accuracy": 0.5, "confidence_ece": 0.9})
        def test_stated(lm, lmbench):
            stated = {"x": "90%", "y": "Confidence: high", "w": "0.6", "?": "low"}
            for row in lmbench.data("data.jsonl", required=("q", "a")):
                answer = lm.generate(row["q"])
                lmbench.record(answer == row["a"], input=row["q"], target=row["a"], response=answer,
                               confidence=parse_confidence(stated[answer]))
    ''')
    result = pytester.runpytest("--lm-model", hint_model, "-p", "no:cacheprovider", "--lm-report",
                                "r.json")
    result.assert_outcomes(passed=1)
    row = json.loads((pytester.path / "r.json").read_text())["results"][0]
    # right: x (0.9), w (0.6); wrong: y (0.7), ? (0.3)
    assert row["scores"]["accuracy"] == pytest.approx(0.5)
    brier = ((0.9 - 1) ** 2 + (0.7 - 0) ** 2 + (0.6 - 1) ** 2 + (0.3 - 0) ** 2) / 4
    assert row["scores"]["confidence_brier_score"] == pytest.approx(brier)
    # ECE, 15 bins: 0.9 | 0.7 | 0.6 | 0.3 each alone -> mean |acc - conf|
    assert row["scores"]["confidence_ece"] == pytest.approx((0.1 + 0.7 + 0.4 + 0.3) / 4)


def test_sampling_and_bad_data_file(pytester: pytest.Pytester, hint_model: str) -> None:
    pytester.makefile(".csv", bad="q,a\n1,2,3\n")
    pytester.makepyfile(test_tasks='''
        from collections import Counter

        def test_vote(lm, lmbench):
            samples = lm.generate("q", temperature=0.7, n=3, seed=0)
            assert samples == ["a", "b", "a"]
            vote = Counter(samples).most_common(1)[0][0]
            lmbench.record(vote == "a", input="q", target="a", response=vote)

        def test_bad_file(lmbench):
            lmbench.data("bad.csv")
    ''')
    result = pytester.runpytest("--lm-model", hint_model, "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        ["*bad.csv: line 2: has more cells than the header -- quote cells that contain commas*"])


def test_function_task_equals_its_json_twin(pytester: pytest.Pytester) -> None:
    colors = ["red", "green", "blue", "black", "white"]
    examples = [{"input": f"Which color is thing {i}?", "target_scores": {c: int(c == colors[i % 5]) for c in colors}}
                for i in range(12)]
    write_task(pytester.path, "colors/task.json", {
        "name": "colors", "description": "d", "keywords": ["k"], "metrics": ["multiple_choice_grade"],
        "preferred_score": "multiple_choice_grade", "examples": examples})
    pytester.makefile(".json", examples=json.dumps(examples))
    pytester.makepyfile(test_twin='''
        from pytest_lmbench import bigbench_prompt

        def test_colors_twin(lm, lmbench):
            for ex in lmbench.data("examples.json"):
                options = list(ex["target_scores"])
                choice = lm.choose(bigbench_prompt(ex["input"], options), options)
                lmbench.record_choice(choice, ex["target_scores"])
    ''')
    result = pytester.runpytest("--lm-model", "dummy:random?seed=5", "-p", "no:cacheprovider",
                                "--lm-report", "r.json", ".")
    result.assert_outcomes(passed=2)
    rows = {r["task"]: r for r in json.loads((pytester.path / "r.json").read_text())["results"]}
    assert rows["colors_twin"]["scores"]["multiple_choice_grade"] == rows["colors"]["scores"]["multiple_choice_grade"]
    for metric in ("calibration_multiple_choice_brier_score", "expected_calibration_error"):
        assert rows["colors_twin"]["scores"][metric] == pytest.approx(rows["colors"]["scores"][metric])
    assert 0 < rows["colors"]["scores"]["multiple_choice_grade"] < 1


def test_function_tasks_under_xdist_report_what_a_serial_run_reports(pytester: pytest.Pytester,
                                                                     hint_model: str) -> None:
    pytester.makepyfile(test_tasks='''
        import pytest

        @pytest.mark.parametrize("k", [1, 2, 3])
        def test_quiz(lm, lmbench, k):
            for i in range(4):
                options = ["a", "bb", "ccc"]
                lmbench.record_choice(lm.choose(f"q{i} hint: {options[(i + k) % 3]}", options), options[i % 3])
    ''')
    reports = []
    for args in (["-n", "0"], ["-n", "2"]):
        run = pytester.runpytest if args[1] == "0" else pytester.runpytest_subprocess  # xdist workers: processes
        result = run("--lm-model", hint_model, "--lm-report", "r.json", "-p", "no:cacheprovider", *args)
        result.assert_outcomes(passed=3)
        data = json.loads((pytester.path / "r.json").read_text())["results"]
        reports.append({r["task"]: (r["scores"], [e["log_probs"] for e in r["examples"]]) for r in data})
    assert reports[0] == reports[1]
    assert set(reports[0]) == {"quiz[1]", "quiz[2]", "quiz[3]"}


def test_bad_marker_and_unknown_backend_are_one_clear_line(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_bad='''
        import pytest

        @pytest.mark.lmbench(treshold=0.5)
        def test_x(lm, lmbench):
            lmbench.record(True)
    ''')
    result = pytester.runpytest("--lm-model", "dummy:oracle", "-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["test_bad.py::test_x[[]dummy:oracle[]]: @pytest.mark.lmbench got unknown "
                                 "argument(s) [[]'treshold'[]]; known: judge, keywords, metric, name, pass_at, "
                                 "repeats, seed, temperature, threshold"])
    assert "Traceback" not in result.stdout.str() and "raise ConfigError" not in result.stdout.str()
    result = pytester.runpytest("--lm-model", "nosuch:x", "-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["--lm-model 'nosuch:x': unknown backend 'nosuch'; known backends: *"])
    assert "def lm(" not in result.stdout.str()
