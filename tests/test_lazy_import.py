"""The plugin costs nothing where it is not used: importing it (pytest does, in every run of an environment
where the package is installed) must not import numpy or the evaluation core."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ["numpy", "rich", "pytest_lmbench.core.evaluate", "pytest_lmbench.core.results",
         "pytest_lmbench.core.scoring.metrics",
         "pytest_lmbench.plugin.items", "pytest_lmbench.core.lm", "xdist.scheduler"]


def _imported_after(code: str) -> list[str]:
    """The HEAVY modules present in a fresh interpreter after running ``code``."""
    probe = f"import sys, json\n{code}\nprint(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_importing_the_plugin_imports_no_numpy_and_no_core() -> None:
    assert _imported_after("import pytest_lmbench.plugin") == []


def test_the_public_api_is_still_there_when_asked_for() -> None:
    assert _imported_after("import pytest_lmbench") == []
    assert "numpy" in _imported_after("from pytest_lmbench import Recorder")
    code = ("import pytest_lmbench.plugin.items\nfrom pytest_lmbench import evaluate\n"
            "assert callable(evaluate), evaluate")
    assert "pytest_lmbench.core.evaluate" in _imported_after(code)  # the function, although its module was imported


def test_a_run_without_task_files_imports_no_core(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_one="def test_one():\n    assert True\n")
    pytester.makeconftest(f"""
import json, sys
def pytest_unconfigure(config):
    with open("imported.json", "w") as fh:
        json.dump([m for m in {HEAVY!r} if m in sys.modules], fh)
""")
    pytester.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=1)
    assert json.loads((pytester.path / "imported.json").read_text()) == []


def test_unknown_attributes_are_attribute_errors() -> None:
    import pytest_lmbench

    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        pytest_lmbench.nope  # noqa: B018
    assert {"LM", "Recorder", "evaluate", "TaskResult"} <= set(dir(pytest_lmbench))
