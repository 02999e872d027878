"""Sample several answers and pick one: by majority vote (self-consistency), or by the model's own
likelihood of each distinct answer (a verifier, as in the GSM8K verifier work, with the model as its own
verifier). Both are scored on the picked answer; greedy decoding is the baseline.
"""

from collections import Counter

import pytest

PROMPT = "The capital of {country} is"
SAMPLES = 5


def first_word(text: str) -> str:
    words = text.strip().split()
    return words[0].strip(".,!;:\"'") if words else ""


@pytest.mark.parametrize("pick", ["greedy", "vote", "verifier"])
@pytest.mark.lmbench(metric="accuracy", threshold=0.5, keywords=["world knowledge", "self-consistency"])
def test_sampling(lm, lmbench, pick):
    rows = lmbench.data("data/capital_questions.csv", required=("country", "answer"))
    for row in rows:
        prompt = PROMPT.format(country=row["country"])
        if pick == "greedy":
            answer = first_word(lm.generate(prompt, max_tokens=6, stop=["\n"]))
        else:
            samples = [first_word(s) for s in lm.generate(prompt, max_tokens=6, stop=["\n"], temperature=0.8,
                                                          n=SAMPLES, seed=0)]
            samples = [s for s in samples if s] or [""]
            if pick == "vote":
                answer = Counter(samples).most_common(1)[0][0]
            else:
                distinct = sorted(set(samples))
                scores = lm.loglikelihood([(prompt, " " + s) for s in distinct])
                answer = distinct[max(range(len(distinct)), key=lambda i: scores[i])]
        lmbench.record(answer.lower() == row["answer"].lower(), input=prompt, target=row["answer"], response=answer)
