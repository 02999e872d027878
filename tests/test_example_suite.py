"""The whole example suite (JSON and test-function tasks) on a model that needs nothing installed: at the 80
columns of a CI log the summary shows calibration for every multiple-choice item and for stated confidence,
and every interval in the JSON report lies within its metric's bounds."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

from pytest_lmbench.core.scoring.metrics import METRIC_BOUNDS

EXAMPLES = Path(__file__).parent.parent / "example_tasks"


@pytest.fixture
def run(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> tuple[pytest.RunResult, dict]:
    for entry in EXAMPLES.iterdir():
        (shutil.copytree if entry.is_dir() else shutil.copy)(entry, pytester.path / entry.name)
    monkeypatch.setenv("COLUMNS", "80")
    # The run is in this process: an example named like a test module of ours (test_verbalized_confidence.py)
    # must be imported as itself, not found in sys.modules (the run's imports are forgotten when it ends).
    for entry in EXAMPLES.glob("test_*.py"):
        monkeypatch.delitem(sys.modules, entry.stem, raising=False)
    result = pytester.runpytest("--lm-model=dummy:random", "--lm-report=r.json", "-p",
                                "no:cacheprovider")
    assert result.ret in (0, 1), result.stdout.str()[-3000:]
    return result, json.loads((pytester.path / "r.json").read_text())


def test_calibration_and_bounds_on_the_example_suite(run: tuple[pytest.RunResult, dict]) -> None:
    result, report = run
    lines = result.stdout.lines
    start = next(i for i, line in enumerate(lines) if line.startswith("calibration "))
    block = lines[start:next(i for i in range(start, len(lines)) if lines[i].startswith("ECE, Brier:"))]
    start = next(i for i, line in enumerate(lines) if "lmbench summary" in line) + 1
    # up to pytest's next section (its short summary is not cut to the width under CI=true) or the cache line
    summary = lines[start:next(i for i in range(start, len(lines)) if lines[i].startswith(("=", "lmbench cache")))]
    assert all(len(line) <= 80 for line in summary), max(summary, key=len)
    mc = [r for r in report["results"] if not r["aggregate"] and "multiple_choice_grade" in r["scores"]]
    stated = [r for r in report["results"] if "confidence_ece" in r["scores"]]
    assert {r["task"] for r in mc} >= {"capitals", "capitals_twin", "opposites:choose", "cascade"}
    assert "stated_confidence" in {r["task"] for r in stated}
    for r, kind, metric in [(r, "log-prob", "expected_calibration_error") for r in mc] + \
            [(r, "stated", "confidence_ece") for r in stated]:
        lo, hi = r["errors"][metric]["ci95"]
        row = [line for line in block if line.split()[:1] == [r["task"]] and f" {kind} " in line]
        assert len(row) == 1, (r["task"], kind, block)
        assert f"{r['scores'][metric]:.2f}  [{lo:.2f}, {hi:.2f}]" in row[0]
    checked = 0
    for r in report["results"]:
        for metric, entry in r["errors"].items():
            if entry.get("ci95") is None:
                continue
            if metric in METRIC_BOUNDS and all(metric not in e["scores"] or METRIC_BOUNDS[metric][0] <=
                                               e["scores"][metric] <= METRIC_BOUNDS[metric][1]
                                               for e in r["examples"]):
                assert entry["bounds"] == list(METRIC_BOUNDS[metric]), (r["task"], metric)
            if entry.get("bounds") is not None:
                low, high = entry["bounds"]
                assert low <= entry["ci95"][0] <= r["scores"][metric] <= entry["ci95"][1] <= high, (r["task"], metric)
                checked += 1
    assert checked >= 30
    for group in report["aggregates"]:
        if group["bounds"] is not None:
            assert group["bounds"][0] <= group["ci95"][0] <= group["ci95"][1] <= group["bounds"][1]
