"""polite_replies/task.json as a test function: the model replies, a judge grades each reply.

A test function says what a task file cannot: here, the reply is cut at its first line by the function itself
and the judge is asked with the customer's message as the question. The judge is SmolLM2 in chat form, with
prefilled verdicts (the grade is read from its probabilities right after "GRADE: "; it writes no readable
verdict line of its own). --lm-judge replaces it. A 135M judge is weak: this shows the mechanics, not a
judgement worth trusting (docs/judges.md).
"""

import pytest

RUBRIC = ("A good reply is polite, answers the customer's message and offers help. A rude, empty or off-topic "
          "reply is bad.")


@pytest.mark.lmbench(judge="smollm2?chat=1", metric="judge_score_weighted", keywords=["free response", "judged"])
def test_polite_judged(lm, lmbench):
    for ex in lmbench.data("polite_replies/task.json", required=("input", "target")):
        reply = lm.generate(f"Customer: {ex['input']}\nSupport agent:", max_tokens=48, stop=["\n"]).strip()
        lmbench.judge(reply, input=ex["input"], rubric=RUBRIC, reference=ex["target"], verdict="prefill")
