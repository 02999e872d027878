"""Verbalized confidence, after "Teaching models to express their uncertainty in words": the model answers,
then states how confident it is; the stated confidence ("0.85", "80%", "high") is parsed and recorded as a
probability, so the summary and the report show how well calibrated the statements are
(confidence_brier_score, confidence_ece). Statements that cannot be parsed count for accuracy only.
"""

import pytest

from pytest_lmbench import parse_confidence


@pytest.mark.lmbench(metric="accuracy", threshold=0.6, keywords=["calibration", "world knowledge"])
def test_stated_confidence(lm, lmbench):
    rows = lmbench.data("data/capital_questions.csv", required=("country", "answer"))
    for row in rows:
        prompt = f"The capital of {row['country']} is"
        answer = lm.generate(prompt, max_tokens=8, stop=["\n", "."]).strip()
        ask = (f"{prompt} {answer}.\nHow confident are you that this answer is correct "
               "(a probability from 0 to 1)?\nConfidence:")
        stated = lm.generate(ask, max_tokens=6, stop=["\n"])
        right = row["answer"].lower() in answer.lower()
        lmbench.record(right, input=prompt, target=row["answer"], response=answer,
                       confidence=parse_confidence(stated))
