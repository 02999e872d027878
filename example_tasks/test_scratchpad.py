"""Scratchpad: the model writes its working before the answer, and only the parsed answer is scored.

A JSON task scores the whole generation (or a regex over it); here the answer is pulled out of free-form
working, the way multi-step reasoning tasks are graded.
"""

import re

import pytest

PROMPT = ("Solve the problem. Write your working, then the final line as 'Answer: <number>'.\n\n"
          "Problem: {question}\nWorking:")


def final_answer(text: str) -> str | None:
    """The number after the last 'Answer:', else the last number in the working."""
    found = re.findall(r"Answer:\s*(-?\d+)", text)
    if found:
        return found[-1]
    numbers = re.findall(r"-?\d+", text)
    return numbers[-1] if numbers else None


@pytest.mark.lmbench(metric="accuracy", threshold=0.05, keywords=["arithmetic", "multi-step"], name="scratchpad")
def test_apples_with_scratchpad(lm, lmbench):
    rows = lmbench.data("data/apples.jsonl", required=("question", "answer"))
    prompts = [PROMPT.format(question=r["question"]) for r in rows]
    for row, prompt, working in zip(rows, prompts, lm.generate(prompts, max_tokens=60, stop=["Problem:"])):
        answer = final_answer(working)
        lmbench.record(answer == row["answer"], input=prompt, target=row["answer"], response=working)
