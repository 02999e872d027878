from __future__ import annotations

import importlib
import json
import re
from pathlib import Path

import pytest

# pytester.runpytest() runs pytest in this process, and when a run ends pytester forgets every module that run
# imported (it restores sys.modules). Imported here once, what the plugin imports lazily is shared by all
# in-process runs instead: numpy must not be imported twice in a process, and the runs start faster.
for _module in ("numpy", "rich.console", "sqlite3", "pytest_lmbench.core.evaluate", "pytest_lmbench.core.recorder",
                "pytest_lmbench.core.compare", "pytest_lmbench.core.aggregates", "pytest_lmbench.core.models.cache",
                "pytest_lmbench.core.models.dummy", "pytest_lmbench.plugin.items", "pytest_lmbench.plugin.functions",
                "pytest_lmbench.report.terminal", "pytest_lmbench.report.html", "pytest_lmbench.report.junit",
                "pytest_lmbench.report.markdown", "pytest_lmbench.report.progress"):
    importlib.import_module(_module)
# optional (extras hf, lmeval): torch and datasets (pyarrow extension types) can be imported once per process,
# so a second import after pytester dropped them from sys.modules fails
# torch.distributed._functional_collectives registers a torch library, which a second import refuses;
# transformers' model code and lm-eval's evaluator import it from in-process runs
for _module in ("torch", "torch.distributed._functional_collectives", "transformers.modeling_utils", "datasets",
                "lm_eval", "lm_eval.evaluator", "lm_eval.tasks", "lm_eval.api.model",
                "pytest_lmbench.core.tasks.lmeval"):
    try:
        importlib.import_module(_module)
    except ImportError:
        pass


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Slow tests first (a stable sort): xdist hands out items in this order, so the long ones (the real
    llama.cpp server, SmolLM2 on BIG-bench) start at once on parallel workers instead of ending the run alone.
    Measured on 2 cores: the suite's wall time is set by the server test (about 2 minutes)."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.fixture
def pytester(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """pytester, whose runs (in-process or in a subprocess) collect in file order and load no pytest-randomly,
    which, where installed, would shuffle them and import numpy into them; the suite itself may still be shuffled
    (``pytest -p randomly``). pytester clears ``PYTEST_ADDOPTS`` when it starts, so this is set after it."""
    monkeypatch.setenv("PYTEST_ADDOPTS", "-p no:randomly")
    return pytester


@pytest.fixture(autouse=True)
def _no_ci_step_summary(monkeypatch: pytest.MonkeyPatch) -> None:
    """Runs under test write nothing into the CI job's own step summary (GitHub sets GITHUB_STEP_SUMMARY); the
    tests of the step summary point it at a file of their own."""
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)


def section(result: pytest.RunResult, title: str) -> str:
    """One section of a pytester run's output (``FAILURES``, ``ERRORS``, ``lmbench summary``, ...), up to the next
    ``=== title ===`` line. Assert on the section meant: an in-process run's output also carries warnings that
    depend on which tests ran before it in the process (``PytestAssertRewriteWarning: Module already imported so
    cannot be rewritten; pytest_lmbench``)."""
    out: list[str] = []
    inside = False
    for line in result.stdout.lines:
        heading = re.fullmatch(r"=+ (.+?) =+", line)
        if heading:
            inside = heading.group(1) == title
        elif inside:
            out.append(line)
    assert out, f"no {title!r} section in the output:\n{result.stdout.str()}"
    return "\n".join(out)


def write_task(root: Path, rel: str, data: dict | str | bytes) -> Path:
    """Write a task file under ``root`` (dict -> JSON, str/bytes as they are)."""
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, dict):
        path.write_text(json.dumps(data, indent=1), encoding="utf-8")
    elif isinstance(data, str):
        path.write_text(data, encoding="utf-8")
    else:
        path.write_bytes(data)
    return path


def arith_task(name: str = "arith", n: int = 6, **extra) -> dict:
    return {"name": name, "description": "add", "keywords": ["arithmetic", "zero-shot"],
            "metrics": ["exact_str_match"], "preferred_score": "exact_str_match",
            "examples": [{"input": f"{i} + {i} =", "target": str(2 * i)} for i in range(n)], **extra}


def mc_task(name: str = "colors", n: int = 6, **extra) -> dict:
    colors = ["red", "green", "blue", "black", "white", "pink", "grey", "brown"]
    return {"name": name, "description": "mc", "keywords": ["multiple choice"],
            "metrics": ["multiple_choice_grade"], "preferred_score": "multiple_choice_grade",
            "examples": [{"input": f"Which color is number {i}?",
                          "target_scores": {colors[i % 8]: 1, colors[(i + 1) % 8]: 0, colors[(i + 2) % 8]: 0}}
                         for i in range(n)], **extra}


@pytest.fixture
def tasks_dir(pytester: pytest.Pytester) -> Path:
    root = pytester.path / "tasks"
    write_task(root, "arith/task.json", arith_task())
    write_task(root, "colors/task.json", mc_task())
    write_task(root, "family/task.json", {"name": "family", "description": "parent", "keywords": ["family"]})
    write_task(root, "family/one/task.json", mc_task("one"))
    write_task(root, "family/two/task.json", arith_task("two"))
    return root
