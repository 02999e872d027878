"""capitals/task.json written as a test function: the same prompts, the same options, the same grading, so
it gets the same score as the JSON task on the same model (the README's run shows both rows)."""

import pytest

from pytest_lmbench import bigbench_prompt


@pytest.mark.lmbench(keywords=["world knowledge", "multiple choice"])
def test_capitals_twin(lm, lmbench):
    for ex in lmbench.data("capitals/task.json"):
        options = list(ex["target_scores"])
        choice = lm.choose(bigbench_prompt(ex["input"], options), options)
        lmbench.record_choice(choice, ex["target_scores"])
