"""Capitals as an Inspect task: Inspect's own dataset reader, solvers and scorers; the model under test answers.

pytest-lmbench collects this file by its name (ini `lm_inspect_files`, default `inspect_*.py`) and runs it with
Inspect's `eval()`: `includes` checks the answer for the capital, `model_graded_fact` asks a grader model whether
the answer states it (`--lm-judge` binds Inspect's grader role; without one Inspect grades with the model under
test, as it does by default). Scores keep Inspect's names: `includes/accuracy`, `model_graded_fact/accuracy`.
"""

from inspect_ai import Task, task
from inspect_ai.dataset import FieldSpec, csv_dataset
from inspect_ai.model import GenerateConfig
from inspect_ai.scorer import includes, model_graded_fact
from inspect_ai.solver import generate, prompt_template

#: The grader's prompt shows two graded answers and ends where its verdict starts, so a small raw model only has
#: to continue it with C or I (Inspect's default asks for a line "GRADE: C", which SmolLM2-135M does not write).
GRADER = """Question: What is the capital of Chile?
Expert answer: Santiago
Submitted answer: The capital of Chile is Santiago.
Verdict: C

Question: What is the capital of Norway?
Expert answer: Oslo
Submitted answer: Norway is a country in Europe.
Verdict: I

Question: What is the capital of {question}?
Expert answer: {criterion}
Submitted answer: {answer}
Verdict:"""


@task
def inspect_capitals() -> Task:
    return Task(
        dataset=csv_dataset("data/capital_questions.csv", FieldSpec(input="country", target="answer")),
        solver=[prompt_template("Q: What is the capital of {prompt}?\nA:"), generate()],
        scorer=[includes(), model_graded_fact(template=GRADER, grade_pattern=r"^\s*([CI])\b")],
        config=GenerateConfig(max_tokens=16, stop_seqs=["\n"]),
    )
