"""A two-step cascade: the model's answer to the first prompt is part of the second prompt.

Step 1 names the country of a capital city (generated); step 2 asks for the continent of the country the
model named (multiple choice). The item is scored on the final answer, so an error in step 1 counts.
"""

import pytest

CONTINENTS = ["Africa", "Asia", "Europe", "North America", "South America"]


@pytest.mark.lmbench(metric="multiple_choice_grade", threshold=0.4, keywords=["world knowledge", "multi-step"],
                     name="cascade")
def test_city_to_continent(lm, lmbench):
    rows = lmbench.data("data/cities.json", required=("city", "country", "continent"))
    prompts = [f"Question: {r['city']} is the capital of which country?\nAnswer:" for r in rows]
    countries = [c.strip().split("\n")[0].strip(" .") for c in lm.generate(prompts, max_tokens=8, stop=["\n"])]
    step2 = [f"Question: On which continent is {country}?\nAnswer:" for country in countries]
    choices = lm.choose(step2, [[" " + c for c in CONTINENTS]] * len(rows))
    for row, choice in zip(rows, choices):
        lmbench.record_choice(choice, " " + row["continent"])
