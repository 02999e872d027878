"""Verbalized confidence for JSON tasks (``lmbench.verbalized_confidence``): asked after the answer, parsed,
and scored against right/wrong next to the log-probability calibration."""

from __future__ import annotations

import json

import pytest
from conftest import arith_task, mc_task, write_task

from pytest_lmbench.core.errors import TaskFormatError
from pytest_lmbench.core.evaluate import evaluate
from pytest_lmbench.core.scoring.confidence import confidence_calibration
from pytest_lmbench.core.tasks.bigbench import load_task


class Confident:
    """Answers "2i" for "i + i =" except for i in `wrong`; says a confidence from `said` (by i) when asked."""

    name = "confident"

    def __init__(self, wrong: set[int], said: dict[int, str]) -> None:
        self.wrong, self.said, self.asked = wrong, said, []

    @staticmethod
    def _number(prompt: str) -> int:
        return int(prompt.split("Q: ")[-1].split(" +")[0])

    def generate(self, prompts, *, max_tokens, stop=None):
        out = []
        for p in prompts:
            n = self._number(p)
            if "Confidence" in p:
                self.asked.append((p, max_tokens, stop))
                out.append(self.said.get(n, "no idea"))
            else:
                out.append("x" if n in self.wrong else str(2 * n))
        return out

    def loglikelihood(self, requests):
        return [0.0 for _ in requests]


SAID = {0: "90%", 1: "0.8", 2: " 7/10 sure", 3: "high", 4: "low", 5: "hmm"}


def test_stated_confidence_is_asked_after_the_answer_and_scored(tmp_path) -> None:
    path = write_task(tmp_path, "t/task.json", arith_task(n=6, lmbench={"verbalized_confidence": {
        "prompt": "\nConfidence: ", "max_tokens": 5, "words": {"high": 0.95, "low": 0.1}}}))
    model = Confident(wrong={1, 4}, said=SAID)
    result = evaluate(load_task(str(path)), model)
    prompt, max_tokens, stop = model.asked[0]
    assert prompt == "\nQ: 0 + 0 =\nA: 0\nConfidence: " and max_tokens == 5 and stop == ["\n"]
    assert model.asked[1][0] == "\nQ: 1 + 1 =\nA: x\nConfidence: "  # the answer as post-processed
    # stated: 0.9 right, 0.8 wrong, 0.7 right, 0.95 ("high" from the task's table) right, 0.1 wrong; #5 unreadable
    want = confidence_calibration([0.9, 0.8, 0.7, 0.95, 0.1], [1, 0, 1, 1, 0])["scores"]
    assert want["confidence_brier_score"] == pytest.approx((0.01 + 0.64 + 0.09 + 0.0025 + 0.01) / 5)
    for metric, value in want.items():
        assert result.scores[metric] == pytest.approx(value)
    assert result.errors["confidence_brier_score"]["method"] == "bootstrap"
    assert result.confidence_reliability and sum(b["count"] for b in result.confidence_reliability) == 5
    assert "stated a confidence on 5 of 6 examples (unreadable, e.g. #5: 'hmm')" in result.notes
    assert result.examples[3].confidence_text == "high" and result.examples[5].scores.get("confidence") is None


def test_multiple_choice_gets_both_calibrations(tmp_path) -> None:
    path = write_task(tmp_path, "c/task.json", mc_task(n=4, lmbench={"verbalized_confidence": True}))

    class Sure:
        name = "sure"

        def loglikelihood(self, requests):
            return [-1.0 if i % 3 else -0.1 for i, _ in enumerate(requests)]

        def generate(self, prompts, *, max_tokens, stop=None):
            assert all(p.endswith("\nConfidence that this answer is correct (0% to 100%): ") for p in prompts)
            return ["100%"] * len(prompts)

    result = evaluate(load_task(str(path)), Sure())
    assert {"expected_calibration_error", "confidence_ece", "confidence_mad"} <= set(result.scores)
    right = [ex.scores["correct"] for ex in result.examples]
    assert result.scores["confidence_brier_score"] == pytest.approx(sum((1 - r) ** 2 for r in right) / 4)
    assert result.reliability and result.confidence_reliability


@pytest.mark.parametrize("block, field, message", [
    ({"verbalized_confidence": "yes"}, "lmbench.verbalized_confidence", "must be true or an object"),
    ({"verbalized_confidence": {"words": {"high": 1.5}}}, "lmbench.verbalized_confidence.words.high",
     "must be a probability between 0 and 1"),
    ({"verbalized_confidence": {"max_tokens": 0}}, "lmbench.verbalized_confidence.max_tokens", "whole number"),
    ({"verbalized_confidence": {"ask": "?"}}, "lmbench.verbalized_confidence", "unknown key(s) ['ask']"),
])
def test_bad_settings_name_the_field(tmp_path, block: dict, field: str, message: str) -> None:
    path = write_task(tmp_path, "t/task.json", arith_task(lmbench=block))
    with pytest.raises(TaskFormatError) as info:
        load_task(str(path))
    assert field in str(info.value) and message in str(info.value) and str(path) in str(info.value)


def test_needs_a_right_or_wrong_score(tmp_path) -> None:
    task = arith_task(metrics=["bleu"], preferred_score="bleu", lmbench={"verbalized_confidence": True})
    path = write_task(tmp_path, "t/task.json", task)
    with pytest.raises(TaskFormatError, match="needs a right/wrong preferred score, and 'bleu' is not one"):
        load_task(str(path))


def test_thresholds_on_stated_confidence_gate_the_item(pytester: pytest.Pytester) -> None:
    write_task(pytester.path, "t/task.json", arith_task(n=6, lmbench={
        "verbalized_confidence": True, "threshold": {"confidence_brier_score": 0.05}}))
    pytester.makepyfile(mymodel="""
        class Overconfident:
            def generate(self, prompts, *, max_tokens, stop=None):
                return ["100%" if "Confidence" in p else "wrong" for p in prompts]
            def loglikelihood(self, requests):
                return [0.0] * len(requests)
    """)
    pytester.syspathinsert()  # py:mymodel imports it by name
    result = pytester.runpytest("--lm-model=py:mymodel:Overconfident", "--lm-report=r.json",
                                "-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*confidence_brier_score = 1 > threshold 0.05*"])
    row = json.loads((pytester.path / "r.json").read_text())["results"][0]
    assert row["scores"]["confidence_brier_score"] == 1.0 and row["examples"][0]["confidence_text"] == "100%"


@pytest.mark.parametrize("text, want", [
    ("83%", 0.83), ("0.83", 0.83), (".5", 0.5), ("8/10", 0.8), ("7 out of 10", 0.7), ("45 / 100", 0.45),
    ("Confidence: 90", 0.9), ("99.99999", 0.9999999), ("0.000000", 0.0), ("1", 1.0), ("100 %", 1.0),
    ("high", 0.7), ("Very high.", 0.9), ("I am certain", 1.0), ("Answer 3. Confidence: 80%", 0.8),
    ("medium, maybe", 0.5), ("150", None), ("no idea", None), ("", None), ("120%", None),
])
def test_parse_confidence(text: str, want: float | None) -> None:
    from pytest_lmbench.core.scoring.confidence import parse_confidence

    got = parse_confidence(text)
    assert got == (None if want is None else pytest.approx(want))


def test_parse_confidence_with_a_custom_table() -> None:
    from pytest_lmbench.core.scoring.confidence import parse_confidence

    table = {"low": 0.2, "fairly sure": 0.75}
    assert parse_confidence("I'm fairly sure", table) == 0.75
    assert parse_confidence("very high", table) is None  # only the given words count
    assert parse_confidence("Low", table) == 0.2
