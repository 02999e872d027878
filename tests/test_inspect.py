"""Inspect task files as items (issue 30): collected by parsing, run and scored by Inspect's own eval(), answered
by our backends. Parity: the scores equal inspect_ai.eval()'s with the same deterministic model given to Inspect
as a model of its own; the process is left as it was; errors are items that say what to do."""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
from pathlib import Path

import pytest

# as the plugin does before Inspect is imported: the Hugging Face libraries read these once, when imported
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
pytest.importorskip("inspect_ai")
# the parity runs call inspect_ai.eval() themselves, outside our containment: its retry setup's notice is its own
pytestmark = pytest.mark.filterwarnings("ignore:The 'initial' parameter is deprecated:DeprecationWarning")

TASKS = '''
from inspect_ai import Task, task, Epochs
from inspect_ai.dataset import Sample
from inspect_ai.scorer import match, includes, choice, model_graded_fact
from inspect_ai.solver import generate, multiple_choice

CAPITALS = [Sample(input="Capital of France?", target="Paris"), Sample(input="Capital of Spain?", target="Madrid"),
            Sample(input="Capital of Italy?", target="Rome"), Sample(input="Capital of Peru?", target="Lima")]

@task
def capitals():
    return Task(dataset=CAPITALS, solver=generate(), scorer=[match(), includes()])

@task
def capitals_choice():
    return Task(dataset=[Sample(input="Capital of France?", choices=["Paris", "Lyon"], target="A"),
                         Sample(input="Capital of Spain?", choices=["Sevilla", "Madrid"], target="B"),
                         Sample(input="Capital of Peru?", choices=["Cusco", "Lima", "Quito"], target="B")],
                solver=multiple_choice(), scorer=choice())

@task
def capitals_graded():
    return Task(dataset=CAPITALS, solver=generate(), scorer=model_graded_fact())

@task
def capitals_epochs():
    return Task(dataset=CAPITALS, solver=generate(), scorer=includes(), epochs=Epochs(3, "mean"))
'''

#: One deterministic answerer, given to our backend (a py: model) and to Inspect (a model of its own).
ANSWERS = '''
import re

def answer(text, seed=0):
    if "GRADE: C" in text:  # the grader's prompt (model_graded_fact): right when the submission names the target
        expert = re.search(r"\\[Expert\\]: (.*)", text).group(1).strip()
        submission = re.search(r"\\[Submission\\]: (.*)", text).group(1)
        return "GRADE: C" if expert.lower() in submission.lower() else "GRADE: I"
    country = re.search(r"of (\\w+)\\?", text).group(1)
    if "ANSWER: $LETTER" in text:
        return {"France": "ANSWER: A", "Spain": "ANSWER: A", "Peru": "ANSWER: B"}[country]
    if country == "Italy":  # sampled: right on some seeds only
        return "Rome" if seed % 2 == 0 else "Milan"
    return {"France": "Paris", "Spain": "It is Madrid.", "Peru": "Cusco"}[country]

class Scripted:
    name = "scripted"
    supports_sampling = True
    def loglikelihood(self, requests):
        return [0.0 for _ in requests]
    def generate(self, prompts, *, max_tokens, stop=None, temperature=0.0, seed=0):
        return [answer(p, seed if temperature else 0) for p in prompts]
'''


@pytest.fixture
def files(pytester: pytest.Pytester) -> Path:
    pytester.makepyfile(evals=TASKS, answers=ANSWERS)
    return pytester.path


def _inspect_reference(path: Path, name: str, **kwargs: object) -> dict[str, float]:
    """inspect_ai.eval() of ``name`` with the answerer as a model of Inspect's own: SCORER/METRIC -> value."""
    import inspect_ai
    from inspect_ai.model import GenerateConfig, ModelAPI, ModelOutput, modelapi

    sys.path.insert(0, str(path))
    try:
        from answers import answer  # type: ignore[import-not-found]
    finally:
        sys.path.remove(str(path))

    @modelapi(name="reference")
    class Reference(ModelAPI):
        def __init__(self, model_name: str, base_url: str | None = None, api_key: str | None = None,
                     config: GenerateConfig | None = None, **model_args: object) -> None:
            super().__init__(model_name, base_url, api_key, [], config or GenerateConfig())

        async def count_text_tokens(self, text: str) -> int:
            return len(text.split())

        async def generate(self, input, tools, tool_choice, config):  # type: ignore[no-untyped-def]
            text = "\n\n".join(m.text for m in input)
            return ModelOutput.from_content(self.model_name, answer(text, config.seed or 0 if config.temperature
                                                                    else 0))

    [log] = inspect_ai.eval(f"{path / 'evals.py'}@{name}", model="reference/x", log_dir=str(path / "ref-logs"),
                            display="none", ctl_server=False, **kwargs)  # type: ignore[arg-type]
    assert log.status == "success", log.error
    return {f"{s.name}/{m.name}": m.value for s in log.results.scores for m in s.metrics.values()}


def _results(pytester: pytest.Pytester, *args: str) -> dict[str, dict]:
    result = pytester.runpytest("evals.py", "--lm-model=py:answers.py:Scripted", "--lm-report=r.json",
                                "-p", "no:cacheprovider", *args)
    assert result.ret in (0, 1), result.stdout.str()[-3000:]
    return {r["task"]: r for r in json.loads((pytester.path / "r.json").read_text())["results"]}


def test_collection_parses_the_file_and_imports_nothing(files: Path, pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("evals.py", "--lm-model=dummy:random", "--lm-model=dummy:oracle", "--collect-only",
                                "-q", "-p", "no:cacheprovider")
    result.stdout.fnmatch_lines(["evals.py::capitals[[]dummy:random[]]", "evals.py::capitals_choice[[]dummy:oracle[]]",
                                 "evals.py::capitals_epochs[[]dummy:oracle[]]", "*8 tests collected*"])
    assert "evals" not in sys.modules  # the task file was parsed, not imported


def test_scores_equal_inspects_own_eval(files: Path, pytester: pytest.Pytester) -> None:
    rows = _results(pytester, "--lm-judge=py:answers.py:Scripted")
    for name, kwargs in (("capitals", {}), ("capitals_choice", {}),
                         ("capitals_graded", {"model_roles": {"grader": "reference/x"}})):
        reference = _inspect_reference(files, name, **kwargs)
        ours = rows[name]["scores"]
        for key, value in reference.items():
            assert ours[key] == pytest.approx(value), (name, key)
    capitals = rows["capitals"]
    # match() reads the answer's end ("It is Madrid." is right); Peru's "Cusco" is wrong
    assert capitals["scores"]["match/accuracy"] == 0.75 and capitals["scores"]["includes/accuracy"] == 0.75
    assert capitals["preferred_score"] == "match/accuracy"
    assert [e["scores"]["match/accuracy"] for e in capitals["examples"]] == [1.0, 1.0, 1.0, 0.0]
    lo, hi = capitals["errors"]["match/accuracy"]["ci95"]
    assert lo < 0.75 < hi  # our interval (Wilson) on the per-sample values, next to Inspect's own stderr
    assert capitals["scores"]["match/stderr"] == pytest.approx(0.25)  # sqrt(0.75 * 0.25 / 3)
    example = capitals["examples"][3]
    assert example["prompt"] == "Capital of Peru?" and example["targets"] == ["Lima"]
    assert example["response"] == "Cusco" and example["scorer"]["match"]["value"] == "I"
    graded = rows["capitals_graded"]
    assert graded["scores"]["model_graded_fact/accuracy"] == 0.75
    assert graded["usage"]["roles"]["judge"]["model_calls"] == 4  # the grader role: our judge, metered apart
    assert rows["capitals_choice"]["scores"]["choice/accuracy"] == pytest.approx(2 / 3)


def test_repeats_are_inspects_epochs_with_its_reducer(files: Path, pytester: pytest.Pytester) -> None:
    rows = _results(pytester, "-k", "epochs")
    reference = _inspect_reference(files, "capitals_epochs")
    r = rows["capitals_epochs"]
    assert r["scores"]["includes/accuracy"] == pytest.approx(reference["includes/accuracy"])
    italy = r["examples"][2]
    assert len(italy["samples"]) == 3  # each epoch's answer, seeded as Inspect seeds them
    assert italy["scores"]["includes/accuracy"] == pytest.approx(
        sum(s["scores"]["includes"] == "C" for s in italy["samples"]) / 3)


def test_the_process_is_left_as_it_was(files: Path, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch,
                                       tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    hook, root = sys.excepthook, logging.getLogger()
    handlers, level = list(root.handlers), root.level
    _results(pytester, "-k", "capitals and not graded")
    assert sys.excepthook is hook and root.handlers == handlers and root.level == level
    assert not (tmp_path / "home").exists()  # nothing written into the user's home
    assert not list(pytester.path.glob("logs")) and not list(pytester.path.glob("*.json.log"))
    kept = _results(pytester, "-k", "capitals and not graded and not choice and not epochs",
                    "--lm-inspect-log-dir=inspect-logs")
    assert kept and list((pytester.path / "inspect-logs").glob("*.json"))  # kept for Inspect's viewer when asked


def test_a_task_file_inspect_cannot_run_is_an_error_item(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(broken='''
from inspect_ai import Task, task
from inspect_ai.dataset import hf_dataset
from inspect_ai.scorer import match

@task
def needs_download():
    return Task(dataset=hf_dataset("nobody/not-a-dataset", split="test"), scorer=match())
''', answers=ANSWERS)
    result = pytester.runpytest("broken.py", "--lm-model=py:answers.py:Scripted", "-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["needs_download (broken.py): Inspect could not load the task's dataset "
                                 "(ConnectionError: Couldn't reach 'nobody/not-a-dataset' on the Hub*nothing is "
                                 "downloaded at run time*"])
    assert "Traceback" not in result.stdout.str()


CACHED = """
from pytest_lmbench.core.models.spec import Backend
import answers

def pytest_lmbench_backends():  # the scripted answerer as a real backend is: behind the answer cache
    return {"scripted": Backend(name="scripted", factory=lambda spec: answers.Scripted(), cached=True, sampling=True)}
"""


@pytest.mark.slow
def test_xdist_and_a_cache_rerun_give_the_same_report(files: Path, pytester: pytest.Pytester) -> None:
    pytester.makeconftest(CACHED)
    args = ("evals.py", "--lm-model=scripted:a", "--lm-judge=scripted:judge", "--lm-cache-dir=cache", "-p",
            "no:randomly")

    def strip(name: str) -> list[dict]:
        results = json.loads((pytester.path / name).read_text())["results"]
        return [{k: v for k, v in r.items() if k not in ("eval_seconds", "model_load_seconds", "cache", "usage")}
                for r in sorted(results, key=lambda r: r["task"])]

    pytester.runpytest(*args, "--lm-report=serial.json", "-n", "0").assert_outcomes(passed=4)
    pytester.runpytest_subprocess(*args, "--lm-report=parallel.json", "-n", "2", "--lm-no-cache").assert_outcomes(
        passed=4)
    assert strip("serial.json") == strip("parallel.json")
    pytester.runpytest(*args, "--lm-report=again.json", "-n", "0").assert_outcomes(passed=4)
    for r in json.loads((pytester.path / "again.json").read_text())["results"]:
        assert r["usage"]["model_calls"] == 0 and r["usage"]["cache_hits"] > 0, r["task"]
        assert all(role["model_calls"] == 0 for role in r["usage"].get("roles", {}).values()), r["task"]
    assert strip("again.json") == strip("serial.json")


def test_tasks_are_named_by_file_and_task_or_by_package(files: Path, pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--lm-inspect-task=evals.py@capitals_choice", "--lm-model=dummy:random",
                                "--collect-only", "-q", "-p", "no:cacheprovider")
    result.stdout.fnmatch_lines(["evals.py::capitals_choice[[]dummy:random[]]", "*1 test collected*"])
    package = pytester.mkpydir("mytasks")
    (package / "geo").mkdir()
    (package / "geo" / "__init__.py").write_text("")
    (package / "geo" / "capitals.py").write_text(TASKS.replace("def capitals_graded", "def geo_graded"))
    pytester.syspathinsert()
    result = pytester.runpytest("--lm-inspect-task=mytasks/geo_graded", "--lm-model=dummy:random", "--collect-only",
                                "-q", "-p", "no:cacheprovider")
    result.stdout.fnmatch_lines(["*capitals.py::geo_graded[[]dummy:random[]]", "*1 test collected*"])
    for wrong, message in (("evals.py@nope", "*no @task function 'nope' in it; it has capitals, *"),
                           ("mytasks/nope", "*--lm-inspect-task mytasks/nope: no @task function 'nope' in the "
                                            "package 'mytasks'*"),
                           ("nopkg/x", "*no installed package 'nopkg'*"), ("answers.py", "*has no top-level @task*")):
        result = pytester.runpytest(f"--lm-inspect-task={wrong}", "--lm-model=dummy:random", "-p", "no:cacheprovider")
        result.stdout.fnmatch_lines([message]) if "@" in wrong else result.stderr.fnmatch_lines([message])
    # with an lm-eval task named too and no paths, both options' files are what is collected
    shutil.copytree(Path(__file__).parent.parent / "example_tasks" / "lmeval", pytester.path / "configs")
    result = pytester.runpytest_subprocess("--lm-inspect-task=evals.py@capitals_choice", "--lm-eval-task=animals",
                                           "--lm-eval-include=configs", "--lm-model=dummy:random", "--collect-only",
                                           "-q", "-p", "no:cacheprovider")
    result.stdout.fnmatch_lines(["configs/animals.yaml::animals*", "evals.py::capitals_choice[[]dummy:random[]]",
                                 "*2 tests collected*"])


def _recording(files: Path) -> type:
    """A backend class that answers with ``answers.answer`` (the deterministic answerer of ``files``) and records
    the size of each generate() batch."""
    from pytest_lmbench.core.models.base import BaseModel

    sys.path.insert(0, str(files))
    try:
        from answers import answer  # type: ignore[import-not-found]
    finally:
        sys.path.remove(str(files))

    class Recording(BaseModel):
        name = "recording"

        def __init__(self) -> None:
            self.batches: list[int] = []

        def generate(self, prompts, *, max_tokens, stop=None):  # type: ignore[no-untyped-def]
            self.batches.append(len(prompts))
            return [answer(p) for p in prompts]

        def loglikelihood(self, requests):  # type: ignore[no-untyped-def]
            return [0.0 for _ in requests]

    return Recording


def test_concurrent_samples_reach_the_backend_as_one_batch_even_inside_an_event_loop(files: Path) -> None:
    import asyncio

    from pytest_lmbench.core.tasks.inspect_tasks import evaluate_inspect, list_inspect_tasks

    Recording = _recording(files)
    [task] = [t for t in list_inspect_tasks(str(files / "evals.py")) if t.name == "capitals"]
    model = Recording()
    result = evaluate_inspect(task, model, model_name="recording")
    assert model.batches == [4] and result.scores["match/accuracy"] == 0.75  # Inspect's 4 samples: one call

    async def inside_a_loop() -> float:  # eval() cannot run in a running loop: it runs in a thread of its own
        return evaluate_inspect(task, Recording(), model_name="recording").scores["match/accuracy"]

    assert asyncio.run(inside_a_loop()) == 0.75



TOOLS = '''
from inspect_ai import Task, task
from inspect_ai.dataset import Sample
from inspect_ai.scorer import match
from inspect_ai.solver import generate, use_tools
from inspect_ai.tool import tool

@tool
def add():
    async def execute(x: int, y: int):
        """Add two numbers.

        Args:
            x: First number.
            y: Second number.
        """
        return x + y
    return execute

@task
def with_tools():
    return Task(dataset=[Sample(input="1 + 1?", target="2"), Sample(input="2 + 2?", target="4")],
                solver=[use_tools(add()), generate()], scorer=match())

@task
def with_tools_tolerated():
    return Task(dataset=[Sample(input="1 + 1?", target="2"), Sample(input="2 + 2?", target="4")],
                solver=[use_tools(add()), generate()], scorer=match(), fail_on_error=False)
'''


def test_a_task_that_gives_the_model_tools_is_an_error_that_says_so(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(tools_task=TOOLS, answers=ANSWERS)
    # a process of its own: an in-process run forgets the modules it imported (pytester restores sys.modules),
    # and Inspect's tool modules imported in one run and not another would then disagree about its state.
    # Our refusal is said whatever Inspect's log kept (its teardown can leave only "no running event loop").
    result = pytester.runpytest_subprocess("tools_task.py", "--lm-model=py:answers.py:Scripted", "-p",
                                           "no:cacheprovider", "-k", "not tolerated")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["with_tools (tools_task.py): *the task gives the model tools, which pytest-lmbench's "
                                 "backends cannot call: run it with `inspect eval`*"])
    assert "Traceback" not in result.stdout.str() and "event loop" not in result.stdout.str()


def test_a_refusal_that_fail_on_error_allowed_is_a_note_and_logprobs_asked_for_are_one(files: Path) -> None:
    from pytest_lmbench.core.tasks.inspect_tasks import LOGPROBS_UNMET, evaluate_inspect, list_inspect_tasks

    (files / "logprobs_task.py").write_text(TASKS + '''
from inspect_ai.model import GenerateConfig

@task
def capitals_logprobs():
    return Task(dataset=CAPITALS, solver=generate(), scorer=match(), config=GenerateConfig(logprobs=True))
''')
    Answering = _recording(files)
    [task] = [t for t in list_inspect_tasks(str(files / "logprobs_task.py")) if t.name == "capitals_logprobs"]
    result = evaluate_inspect(task, Answering(), model_name="answering")
    assert result.scores["match/accuracy"] == 0.75 and LOGPROBS_UNMET in result.notes
    [plain] = [t for t in list_inspect_tasks(str(files / "logprobs_task.py")) if t.name == "capitals"]
    assert LOGPROBS_UNMET not in evaluate_inspect(plain, Answering(), model_name="answering").notes
    (files / "tools_task.py").write_text(TOOLS)
    [tolerated] = [t for t in list_inspect_tasks(str(files / "tools_task.py")) if t.name == "with_tools_tolerated"]
    with pytest.raises(ValueError, match="the task gives the model tools"):  # every sample refused: nothing scored
        evaluate_inspect(tolerated, Answering(), model_name="answering")
