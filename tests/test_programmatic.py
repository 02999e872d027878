"""BIG-bench programmatic tasks (task.py): collection, BIG-bench's model API over our backends, parity with
BIG-bench's own code, seeding, results, skips and errors."""

from __future__ import annotations

import json
import math
import os
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from programmatic_models import HashModel, reference_model, reply, score  # noqa: E402
from programmatic_reference import PARITY, recorded_parity, run_reference, tasks_dir  # noqa: E402

from pytest_lmbench.core.gates import parse_threshold, resolve_thresholds  # noqa: E402

TASKS = tasks_dir()
needs_tasks = pytest.mark.skipif(TASKS is None, reason="BIG-bench's programmatic tasks not fetched "
                                 "(python bench/fetch_bigbench.py .lmbench)")
HASH = f"--lm-model=py:{Path(__file__).parent / 'programmatic_models.py'}:HashModel"



def _report(pytester: pytest.Pytester, name: str = "r.json") -> dict:
    return {r["task"]: r for r in json.loads((pytester.path / name).read_text())["results"]}


@needs_tasks
@pytest.mark.parametrize("max_examples", [8, 32])
def test_score_data_equal_bigbench_driving_the_task_itself(pytester: pytest.Pytester, max_examples: int) -> None:
    """The same deterministic model, once as a ``py:`` backend through pytest-lmbench and once speaking BIG-bench's
    model API to the task directly: identical ScoreData lists."""
    assert TASKS is not None
    result = pytester.runpytest(*[os.path.join(TASKS, n, "task.py") for n in PARITY], HASH, "--lm-report=r.json",
                                f"--lm-max-examples={max_examples}", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=len(PARITY))
    ours = _report(pytester)
    preferred = set()
    recorded = recorded_parity()
    for name, cls in PARITY.items():
        theirs = run_reference(name, cls, max_examples)
        assert ours[name]["score_data"] == theirs, name
        if f"{name}@{max_examples}" in recorded:  # the recording is BIG-bench's too: not stale
            assert recorded[f"{name}@{max_examples}"] == theirs, f"{name}: the recording is stale"
        preferred.add(ours[name]["preferred_value"])
    assert len(preferred) > 3  # the scores tell the tasks apart: the comparison can fail


@needs_tasks
def test_result_keeps_score_data_calls_and_names_subtask_scores(pytester: pytest.Pytester) -> None:
    assert TASKS is not None
    path = os.path.join(TASKS, "simple_arithmetic", "task.py")
    result = pytester.runpytest(path, HASH, "--lm-max-examples=10", "--lm-report=r.json", "--lm-html=r.html",
                                "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    r = _report(pytester)["simple_arithmetic"]
    page = (pytester.path / "r.html").read_text()
    assert "BIG-bench programmatic tasks" in page and "No 95% intervals" in page
    assert page.count("Exact string match arithmetic on") == 5 and "generate_text" in page
    assert r["nodeid"].endswith("task.py::simple_arithmetic[py:programmatic_models.py:HashModel]")
    first = r["score_data"][0]
    assert set(first) == {"subtask_description", "score_dict", "preferred_score", "number_of_shots", "low_score",
                          "high_score"}
    assert len(r["score_data"]) == 5 and r["preferred_score"] == first["preferred_score"] == "exact_str_match"
    assert r["scores"]["exact_str_match"] == first["score_dict"]["exact_str_match"]
    for sd in r["score_data"]:
        assert r["scores"][f"{sd['subtask_description']}:exact_str_match"] == sd["score_dict"]["exact_str_match"]
    assert r["errors"] == {} and any("no error bars" in n for n in r["notes"])
    assert "arithmetic" in r["keywords"]  # from the task's own get_task_details()
    # every model call is recorded: what was asked and what came back (raw and post-processed)
    assert r["n_examples"] == len(r["examples"]) > 0
    call = r["examples"][0]
    assert call["prompt"].endswith("= ") or "=" in call["prompt"]
    assert call["raw_response"] == reply(call["prompt"]) and call["response"] is not None


@needs_tasks
def test_thresholds_name_a_subtasks_score(pytester: pytest.Pytester) -> None:
    """``SUBTASK_DESCRIPTION:metric`` is a threshold's metric, with or without a task glob; there are no error bars,
    so the default gate compares the score itself."""
    assert TASKS is not None
    path = os.path.join(TASKS, "simple_arithmetic", "task.py")
    run = pytester.runpytest(path, HASH, "--lm-max-examples=10", "--lm-report=r.json", "-p", "no:cacheprovider",
                             "--lm-threshold=simple_*:Exact string match arithmetic on 1 digits.:exact_str_match=0.5",
                             "--lm-threshold=normalized_aggregate_score=-1000")
    run.assert_outcomes(failed=1)
    r = _report(pytester)["simple_arithmetic"]
    assert r["threshold"] == {"Exact string match arithmetic on 1 digits.:exact_str_match": 0.5,
                              "normalized_aggregate_score": -1000.0}
    assert "Exact string match arithmetic on 1 digits.:exact_str_match = 0 < threshold 0.5" in r["message"]
    run = pytester.runpytest(path, HASH, "--lm-max-examples=10", "-p", "no:cacheprovider",
                             "--lm-threshold=Exact string match arithmetic on 1 digits.:exact_str_match=0",
                             "--lm-baseline=r.json", "--lm-report=again.json")
    run.assert_outcomes(passed=1)
    again = _report(pytester, "again.json")["simple_arithmetic"]
    assert again["comparisons"][0]["verdict"] == "not compared"
    assert "computes its score itself" in again["comparisons"][0]["message"]


def test_threshold_metrics_may_hold_colons() -> None:
    produced = {"a:b:acc", "acc", "x"}
    assert resolve_thresholds("t", produced, {}, [parse_threshold("a:b:acc=0.5")]) == {"a:b:acc": 0.5}
    assert resolve_thresholds("t", produced, {}, [parse_threshold("t:a:b:acc=0.4")]) == {"a:b:acc": 0.4}
    assert resolve_thresholds("t", produced, {}, [parse_threshold("u:a:b:acc=0.4")]) == {}
    assert resolve_thresholds("t", produced, {}, [parse_threshold("t*:acc=0.3")]) == {"acc": 0.3}
    assert resolve_thresholds("t", produced, {}, [parse_threshold("a:b:nope=0.3")]) == {}


@needs_tasks
def test_same_scores_every_run_and_under_xdist(pytester: pytest.Pytester) -> None:
    """Seeded: a run on two xdist workers and a run in one process give the same ScoreData."""
    assert TASKS is not None
    paths = [os.path.join(TASKS, n, "task.py") for n in ("web_of_lies", "dynamic_counting", "sudoku", "high_low_game")]
    args = [*paths, "--lm-model=dummy:random", "--lm-max-examples=8", "-p", "no:randomly", "-p", "no:cacheprovider"]
    first = pytester.runpytest_subprocess(*args, "--lm-report=a.json", "-n", "2", timeout=300)
    first.assert_outcomes(passed=4)
    again = pytester.runpytest(*args, "--lm-report=b.json")
    again.assert_outcomes(passed=4)
    a, b = _report(pytester, "a.json"), _report(pytester, "b.json")
    assert set(a) == set(b) == {"web_of_lies", "dynamic_counting", "sudoku", "high_low_game"}
    for name in a:
        assert a[name]["score_data"] == b[name]["score_data"], name


@needs_tasks
@pytest.mark.slow
def test_smollm2_answers_go_through_the_answer_cache(pytester: pytest.Pytester) -> None:
    """SmolLM2's answers to a programmatic task are cached: the rerun asks the model nothing and is identical."""
    assert TASKS is not None
    pytest.importorskip("llama_cpp")
    paths = [os.path.join(TASKS, n, "task.py") for n in ("web_of_lies", "simple_arithmetic")]
    args = [*paths, "--lm-model=smollm2", "--lm-max-examples=8", f"--lm-cache-dir={pytester.path / 'cache'}"]
    pytester.runpytest(*args, "--lm-report=a.json").assert_outcomes(passed=2)
    cached = pytester.runpytest(*args, "--lm-report=b.json")
    cached.assert_outcomes(passed=2)
    a, b = _report(pytester, "a.json"), _report(pytester, "b.json")
    for name in a:
        assert a[name]["score_data"] == b[name]["score_data"], name
        assert a[name]["cache"]["misses"] > 0 and b[name]["cache"] == {"hits": a[name]["cache"]["misses"],
                                                                       "misses": 0}, name
    assert "answers from the cache, 0 from the model" in cached.stdout.str()


@needs_tasks
def test_missing_packages_code_execution_and_task_errors(pytester: pytest.Pytester) -> None:
    """A task that needs a package that is not installed is skipped naming it; one that runs model-written code
    is skipped without --lm-allow-code-execution; one that raises is an error with BIG-bench's message; the rest
    run."""
    assert TASKS is not None
    names = ["abstraction_and_reasoning_corpus", "program_synthesis", "gender_sensitivity_english", "web_of_lies"]
    if any(_importable(m) for m in ("editdistance", "RestrictedPython")):
        pytest.skip("editdistance or RestrictedPython is installed here")
    run = pytester.runpytest(*[os.path.join(TASKS, n, "task.py") for n in names], HASH, "--lm-max-examples=8",
                             "--lm-report=r.json", "-p", "no:cacheprovider", "-rs")
    run.assert_outcomes(passed=1, skipped=2, errors=1)
    out = run.stdout.str()
    assert "abstraction_and_reasoning_corpus needs the package 'editdistance', which is not installed " \
           "(pip install editdistance)" in out
    assert "program_synthesis runs code written by the model" in out and "--lm-allow-code-execution" in out
    assert "gender_sensitivity_english/task.py: evaluate_model raised IndexError: max_examples must be greater " \
           "than or equal to 50, but was 8." in out
    assert "Traceback" not in out
    r = _report(pytester)
    assert r["gender_sensitivity_english"]["outcome"] == "error" and r["web_of_lies"]["outcome"] == "scored"
    allowed = pytester.runpytest(os.path.join(TASKS, "program_synthesis", "task.py"), HASH, "-rs",
                                 "--lm-allow-code-execution", "-p", "no:cacheprovider")
    allowed.assert_outcomes(skipped=1)  # now it is imported: RestrictedPython is what it lacks
    assert "needs the package 'RestrictedPython'" in allowed.stdout.str()


def _importable(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


@needs_tasks
def test_collects_the_releases_programmatic_tasks_without_importing_them(pytester: pytest.Pytester) -> None:
    """Every top-level task.py of the release is an item per model; collecting imports no task (and so none of
    their optional dependencies); BIG-bench's own test modules in task folders are left alone."""
    assert TASKS is not None
    before = {m for m in sys.modules if m.startswith("bigbench.benchmark_tasks.")}
    run = pytester.runpytest(TASKS, "--collect-only", "-q", "--lm-model=dummy:random", "--lm-model=dummy:oracle",
                             "-p", "no:cacheprovider")
    lines = [line for line in run.stdout.lines if "/task.py::" in line]  # (JSON tasks too, if fetched with --tasks)
    assert len(lines) == 2 * 42 and run.ret == 0
    assert not any("test_solutions" in line or "linguistic_mappings" in line for line in run.stdout.lines)
    assert any(line.endswith("sudoku/task.py::sudoku[dummy:oracle]") for line in lines)
    assert {m for m in sys.modules if m.startswith("bigbench.benchmark_tasks.")} == before


FAKE_TASK = '''
import bigbench.api.task as task
import numpy as np
import random


class Fake(task.Task):
    def __init__(self):
        self.n_init = getattr(Fake, "n_init", 0) + 1
        Fake.n_init = self.n_init
        self.words = [random.choice("abcdef") for _ in range(4)]  # seeded: the same every run
        self.seen = []

    def get_task_details(self):
        return task.TaskMetadata(name="fake", description="d", keywords=["logical reasoning"],
                                 max_input_length_per_query=10, max_queries=10)

    def evaluate_model(self, model, max_examples=None, random_seed=0):
        self.seen.append(1)  # each item evaluates its own copy: never more than one
        single = model.generate_text("Say a", max_length=3, stop_string="x", output_regex=None)
        many = model.generate_text(["Q1:", "Q2:"], max_length=0, stop_string=None, output_regex=r"\\d+")
        one = model.cond_log_prob("Pick:", ["a", "b", "c"])
        absolute = model.cond_log_prob(["P1", "P2"], [["x", "y"], ["z"]], absolute_normalization=True)
        assert isinstance(single, str) and isinstance(many, list) and len(many) == 2
        assert isinstance(one, list) and abs(sum(np.exp(one)) - 1) < 1e-9 and len(absolute[1]) == 1
        return [task.ScoreData({"acc": np.float64(0.25), "n": len(self.seen) + self.n_init, "draw": np.random.rand()},
                               preferred_score="acc", number_of_shots=0, low_score=0.0, high_score=1.0,
                               subtask_description="fake: part one"),
                task.ScoreData({"acc": 0.75}, preferred_score="acc", number_of_shots=-1, low_score=0.0,
                               high_score=1.0, subtask_description="fake")]
'''


def _fake_checkout(root: Path) -> Path:
    """A BIG-bench checkout of our own tasks, with BIG-bench's API files from the fetched release."""
    assert TASKS is not None
    release = Path(TASKS).parent
    for rel in ("__init__.py", "api/__init__.py", "api/task.py", "api/model.py", "models/__init__.py",
                "models/model_utils.py", "benchmark_tasks/__init__.py"):
        (root / "bigbench" / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(release / rel, root / "bigbench" / rel)
    return root / "bigbench" / "benchmark_tasks"


@needs_tasks
def test_task_folders_of_every_kind_in_a_checkout(pytester: pytest.Pytester) -> None:
    """In a process of its own (a process holds one BIG-bench checkout): a good task (built once, each item on a
    copy, seeded), a task.py beside a task.json (the JSON task), one without a Task class (not a task), one that
    does not parse (an error item naming file and line), two Task classes (an error), a missing package (a skip),
    and BIG-bench's own test module (left alone)."""
    tasks = _fake_checkout(pytester.path / "checkout")
    (tasks / "fake").mkdir()
    (tasks / "fake" / "task.py").write_text(FAKE_TASK)
    (tasks / "fake" / "test_fake.py").write_text("import not_installed_anywhere\n")
    (tasks / "both").mkdir()
    (tasks / "both" / "task.py").write_text(FAKE_TASK)
    (tasks / "both" / "task.json").write_text(json.dumps({
        "name": "both", "description": "d", "keywords": ["k"], "metrics": ["exact_str_match"],
        "preferred_score": "exact_str_match", "examples": [{"input": "1+1=", "target": "2"}]}))
    (tasks / "helpers").mkdir()
    (tasks / "helpers" / "task.py").write_text("def helper():\n    return 1\n")
    (tasks / "broken").mkdir()
    (tasks / "broken" / "task.py").write_text("class Broken(object):\n    def f(self:\n")
    (tasks / "twice").mkdir()
    (tasks / "twice" / "task.py").write_text(FAKE_TASK + "\n\nclass Other(Fake):\n    pass\n")
    (tasks / "needs").mkdir()
    (tasks / "needs" / "task.py").write_text("import not_a_real_package_xyz\n" + FAKE_TASK)
    run = pytester.runpytest_subprocess(str(tasks), "--lm-model=dummy:random", "--lm-model=dummy:oracle",
                                        "--lm-report=r.json", "-p", "no:cacheprovider", "-rs", "-p", "no:randomly",
                                        timeout=120)
    out = run.stdout.str()
    run.assert_outcomes(passed=4, errors=3, skipped=2)  # fake and both (its JSON task) x 2 models; broken once
    assert "broken/task.py: line 2: task.py does not parse" in out
    assert "twice/task.py: 2 classes (Fake, Other) extending bigbench.api.task.Task" in out
    assert "needs the package 'not_a_real_package_xyz', which is not installed" in out
    assert "test_fake" not in out and "helpers" not in out and "Traceback" not in out
    results = json.loads((pytester.path / "r.json").read_text())["results"]
    fake = [r for r in results if r["task"] == "fake"]
    assert len(fake) == 2 and {r["model"] for r in fake} == {"dummy:random", "dummy:oracle"}
    for r in fake:
        # the item's scores: the ScoreData described by the task's name; n counts the one init and one evaluation
        assert r["preferred_score"] == "acc" and r["scores"]["acc"] == 0.75 and r["shots"] == 0
        assert r["scores"]["fake: part one:acc"] == 0.25 and r["score_data"][0]["score_dict"]["n"] == 2
        assert r["score_data"][0]["number_of_shots"] == 0 and r["score_data"][1]["number_of_shots"] == -1
        assert r["keywords"] == ["logical reasoning"] and len(r["examples"]) == 1 + 2 + 1 + 2
    draws = {r["score_data"][0]["score_dict"]["draw"] for r in fake}
    assert len(draws) == 1  # numpy seeded with 0 before each evaluation
    both = [r for r in results if r["task"] == "both"]
    assert len(both) == 2 and all(r["path"].endswith("task.json") for r in both)


class Counting(HashModel):
    """HashModel that records each backend call (its requests and max_tokens)."""

    def __init__(self, text: str | None = None) -> None:
        self.calls: list[tuple[str, list, int | None]] = []
        self.text = text

    def loglikelihood(self, requests):
        self.calls.append(("loglikelihood", list(requests), None))
        return super().loglikelihood(requests)

    def generate(self, prompts, *, max_tokens, stop=None):
        self.calls.append(("generate", list(prompts), max_tokens))
        assert stop is None  # BIG-bench keeps the stop string: it is applied afterwards
        return [self.text if self.text is not None else reply(p) for p in prompts]


@needs_tasks
def test_model_api_shapes_batching_and_post_processing() -> None:
    """BIG-bench's model API: a string in, a string (or one row) out; a list in, one backend call, a list out;
    cond_log_prob normalised over each input's targets unless absolute_normalization; generation post-processed
    as model_utils does (the stop string kept, not cut at position 0; the first regex match; max_length in
    characters, which also bounds the tokens asked for)."""
    import math

    from pytest_lmbench.core.tasks.programmatic import BigbenchModel, _use_checkout

    assert TASKS is not None
    _use_checkout(str(Path(TASKS).parent.parent))
    backend = Counting()
    model = BigbenchModel(backend, "m", max_tokens=64)
    one = model.cond_log_prob("Q: ", ["a", "bb", "c"])
    raw = [score("Q: ", t) for t in ("a", "bb", "c")]
    top = max(raw)
    lse = top + math.log(sum(math.exp(x - top) for x in raw))
    assert one == [x - lse for x in raw] and backend.calls[-1][0] == "loglikelihood"
    rows = model.cond_log_prob(["A", "B"], [["x", "y"], ["z"]], absolute_normalization=True)
    assert rows == [[score("A", "x"), score("A", "y")], [score("B", "z")]]
    assert len(backend.calls) == 2 and len(backend.calls[-1][1]) == 3  # one call for the whole list
    assert model.cond_log_prob([], []) == [] and len(backend.calls) == 2

    text = Counting("x = 12, y = 7.\nNext")
    model = BigbenchModel(text, "m")
    assert model.generate_text("p", max_length=0, stop_string=".", output_regex=None) == "x = 12, y = 7."
    assert model.generate_text(["p", "q"], max_length=0, stop_string=None, output_regex=r"\d+") == ["12", "12"]
    assert model.generate_text("p", max_length=5, stop_string=None, output_regex=None) == "x = 1"
    model.generate_text("p", max_length=500)
    assert [c[2] for c in text.calls] == [64, 64, 5, 500]  # the task's max_length, as BIG-bench's models take it
    assert BigbenchModel(text, "m", max_tokens=100).tokens_for(500) == 100  # --lm-max-tokens caps it
    assert BigbenchModel(text, "m", max_tokens=100).tokens_for(0) == 64
    del model.calls[-1]
    assert model.generate_text("p", max_length=0, stop_string="x", output_regex=None) == "x = 12, y = 7.\nNext"
    assert len(model.calls) == 5 and model.calls[1].prompt == "p" and model.calls[1].response == "12"
    assert model.model_data().model_name == "m"
    import bigbench.api.model as api

    from pytest_lmbench.core.tasks.programmatic import _register_model_api

    _register_model_api(BigbenchModel)
    assert isinstance(model, api.Model)
    with pytest.raises(TypeError, match="lists of target strings"):
        model.cond_log_prob(["A", "B"], [["x"]])


@needs_tasks
def test_seeded_where_bigbench_is_not() -> None:
    """high_low_game draws from the global generators without seeding them: BIG-bench's own run differs with the
    state it finds, ours does not (and leaves the caller's generator state as it was)."""
    import importlib
    import random

    import numpy as np

    from pytest_lmbench.core.tasks.programmatic import evaluate_programmatic, find_programmatic

    assert TASKS is not None
    path = os.path.join(TASKS, "high_low_game", "task.py")
    ours, theirs = [], []
    for seed in (1, 2):
        random.seed(seed)
        np.random.seed(seed)
        ours.append(evaluate_programmatic(find_programmatic(path), HashModel(), model_name="h", max_examples=8,
                                          max_tokens=64).score_data)
        assert random.random() == random.Random(seed).random()  # the caller's state, untouched
        module = importlib.import_module("bigbench.benchmark_tasks.high_low_game.task")
        model = reference_model(importlib.import_module("bigbench.api.model"),
                                importlib.import_module("bigbench.models.model_utils"))
        theirs.append(repr(module.HighLowGame().evaluate_model(model, max_examples=8)))
    assert ours[0] == ours[1] and theirs[0] != theirs[1]


def test_missing_packages_and_nltk_data_are_named() -> None:
    from pytest_lmbench.core.tasks.programmatic import ProgrammaticTask, _missing

    task = ProgrammaticTask(name="t", path="t/task.py", root=".")
    missing = ModuleNotFoundError("No module named 'sklearn.metrics'", name="sklearn.metrics")
    assert str(_missing(missing, task)) == ("t needs the package 'sklearn', which is not installed "
                                            "(pip install scikit-learn)")
    nltk = LookupError("\n  Resource punkt not found.\n  >>> import nltk\n  >>> nltk.download('punkt')\n")
    assert str(_missing(nltk, task)) == "t needs nltk data that is not installed (>>> nltk.download('punkt'))"
    assert _missing(ModuleNotFoundError("x", name="bigbench.benchmark_tasks.t.helper"), task) is None  # its own
    assert _missing(ValueError("max_examples must be greater than or equal to 50"), task) is None


FAILING_MODEL = """
from pytest_lmbench.core.models.base import BaseModel


class Failing(BaseModel):
    def loglikelihood(self, requests):
        raise RuntimeError("server down")

    def generate(self, prompts, *, max_tokens, stop=None):
        raise RuntimeError("server down")
"""

TASK_HEAD = """
import math
import sys
import bigbench.api.task as task


class T(task.Task):
    def get_task_details(self):
        return task.TaskMetadata(name="t", description="d", keywords=["k"], max_input_length_per_query=1,
                                 max_queries=1)

    def evaluate_model(self, model, max_examples=None, random_seed=0):
"""
BODIES = {
    "swallow": "        try:\n            model.generate_text('x')\n        except Exception:\n            pass\n",
    "wrap": "        try:\n            model.generate_text('x')\n        except Exception as e:\n"
            "            raise RuntimeError('wrapped') from e\n",
    "exits": "        sys.exit(3)\n",
    "badscore": "        return task.ScoreData({'acc': 1.0}, 'acc', 0, None, 1.0, 'badscore')\n",
    "nanpref": "        model.generate_text(['a', 'b'])\n"
               "        return task.ScoreData({'acc': math.nan}, 'acc', 0, 0.0, 1.0, 'nanpref')\n",
}
OK_RETURN = "        return task.ScoreData({'acc': 0.5}, 'acc', 0, 0.0, 1.0, 'ok')\n"


@needs_tasks
def test_failures_inside_tasks_are_errors_that_keep_what_was_done(pytester: pytest.Pytester) -> None:
    """A model failure the task catches, or wraps in its own exception, is still the model's error; sys.exit in
    task code, a ScoreData with a missing bound or a non-finite preferred score are errors naming the file; the
    requests made before an error stay in the report."""
    tasks = _fake_checkout(pytester.path / "checkout")
    for name, body in BODIES.items():
        (tasks / name).mkdir()
        (tasks / name / "task.py").write_text(TASK_HEAD + body + (OK_RETURN if name in ("swallow", "wrap") else ""))
    (pytester.path / "failing.py").write_text(FAILING_MODEL)
    run = pytester.runpytest_subprocess(str(tasks), f"--lm-model=py:{pytester.path / 'failing.py'}:Failing",
                                        "--lm-model=dummy:random", "--lm-report=r.json", "-p", "no:cacheprovider",
                                        timeout=120)
    run.assert_outcomes(passed=2, errors=8)
    out = run.stdout.str()
    assert "Traceback" not in out and "INTERNALERROR" not in out
    got = {(r["task"], r["model"].split(":")[0]): r for r in json.loads((pytester.path / "r.json").read_text())
           ["results"]}
    for name in ("swallow", "wrap", "nanpref"):
        message = got[(name, "py")]["message"]
        assert "the model's generate() raised RuntimeError: server down" in message, (name, message)
    assert "the task caught it and went on" in got[("swallow", "py")]["message"]
    assert got[("swallow", "dummy")]["outcome"] == got[("wrap", "dummy")]["outcome"] == "scored"
    assert "exits/task.py: evaluate_model raised SystemExit: 3" in got[("exits", "dummy")]["message"]
    assert "badscore/task.py: ScoreData: 'badscore': low_score, high_score and number_of_shots must be numbers" \
        in got[("badscore", "dummy")]["message"]
    nan = got[("nanpref", "dummy")]
    assert "prefers 'acc', which its score_dict does not hold as a finite number" in nan["message"]
    assert nan["outcome"] == "error" and len(nan["examples"]) == 2
    kept = nan["score_data"][0]["score_dict"]["acc"]  # NaN, as the task returned it (null in strict JSON)
    assert kept is None or math.isnan(kept)
