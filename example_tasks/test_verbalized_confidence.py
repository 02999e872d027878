"""Verbalized confidence, after "Teaching models to express their uncertainty in words": the model answers,
then says how confident it is in words; the stated confidence is recorded as a probability, so the summary
and the report show how well calibrated the words are (confidence_brier_score, confidence_ece).
"""

import pytest

from pytest_lmbench import parse_confidence

LEVELS = ["low", "medium", "high"]


@pytest.mark.lmbench(metric="accuracy", threshold=0.2, keywords=["calibration", "world knowledge"])
def test_capitals_with_stated_confidence(lm, lmbench):
    rows = lmbench.data("data/capital_questions.csv", required=("question", "answer"))
    for row in rows:
        prompt = f"Question: {row['question']}\nAnswer:"
        answer = lm.generate(prompt, max_tokens=6, stop=["\n"]).strip().strip(".")
        ask = f"{prompt} {answer}\nHow confident are you that this answer is correct (low, medium or high)?\nConfidence:"
        stated = lm.choose(ask, [" " + level for level in LEVELS]).option
        right = row["answer"].lower() in answer.lower()
        lmbench.record(right, input=prompt, target=row["answer"], response=answer,
                       confidence=parse_confidence(stated))
