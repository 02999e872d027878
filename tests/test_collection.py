"""Collection: task summaries come from pytest's cache when nothing changed, and are rebuilt (and the file
validated again) when a task file or one of a parent's subtask files changed."""

from __future__ import annotations

import json
import os

import pytest
from conftest import arith_task, mc_task, write_task


def _suite(pytester: pytest.Pytester) -> None:
    write_task(pytester.path, "arith/task.json", arith_task(n=4, lmbench={"threshold": {"exact_str_match": 0.5},
                                                                           "marks": ["smoke"]}))
    write_task(pytester.path, "family/task.json", {"name": "family", "description": "p", "keywords": ["fam"]})
    write_task(pytester.path, "family/one/task.json", mc_task("one", n=4))
    write_task(pytester.path, "family/two/task.json", arith_task("two", n=4))


def _run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest("--lm-model=dummy:oracle", "--lm-report=r.json", "--lm-max-examples=2",
                              *args)


def _rows(pytester: pytest.Pytester) -> dict:
    rows = json.loads((pytester.path / "r.json").read_text())["results"]
    return {r["task"]: (r["threshold"], r["keywords"], r["n_examples"], r["outcome"]) for r in rows}


def test_warm_collection_gives_the_same_items(pytester: pytest.Pytester) -> None:
    _suite(pytester)
    cold = _run(pytester, "-m", "smoke or not smoke")
    cold.assert_outcomes(passed=3)
    first = _rows(pytester)
    assert list((pytester.path / ".pytest_cache" / "v" / "lmbench" / "tasks").iterdir())  # summaries kept
    warm = _run(pytester, "-m", "smoke or not smoke")
    warm.assert_outcomes(passed=3)
    assert _rows(pytester) == first
    assert first["arith"][0] == {"exact_str_match": 0.5} and first["family:one"][2] == 1  # 2 split over 2
    smoke = _run(pytester, "-m", "smoke")  # marks come from the summary too
    smoke.assert_outcomes(passed=1)


@pytest.mark.parametrize("changed, task", [("arith/task.json", "arith"), ("family/two/task.json", "family:two")])
def test_a_changed_file_is_read_again(pytester: pytest.Pytester, changed: str, task: str) -> None:
    _suite(pytester)
    _run(pytester).assert_outcomes(passed=3)
    path = pytester.path / changed
    data = json.loads(path.read_text())
    data["lmbench"] = {"threshold": {"exact_str_match": 0.25}}
    path.write_text(json.dumps(data))
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10_000_000))
    _run(pytester).assert_outcomes(passed=3)
    assert _rows(pytester)[task][0] == {"exact_str_match": 0.25}  # not the cached summary's threshold
