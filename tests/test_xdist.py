"""pytest-xdist: items of one model go to one worker, and an item lost with a crashed worker is an error.

Its pytester runs are processes of their own (runpytest_subprocess): xdist starts worker processes, and a
worker here dies with os._exit."""

from __future__ import annotations

import json

import pytest
from conftest import arith_task, write_task

from pytest_lmbench.plugin.distributed import model_of

TRACKER = '''
import os
class Tracker:
    def __init__(self, tag):
        self.name = tag
        with open("loads.txt", "a") as fh:
            fh.write(f"{tag} {os.getpid()}\\n")
    def generate(self, prompts, *, max_tokens, stop=None):
        if any("boom" in p for p in prompts):
            os._exit(3)  # a worker dying mid-item (segfault, OOM kill)
        with open("calls.txt", "a") as fh:
            fh.write(f"{self.name} {os.getpid()}\\n")
        return ["0"] * len(prompts)
    def loglikelihood(self, requests):
        return [0.0] * len(requests)
'''


def test_model_of_reads_the_parameter_id() -> None:
    labels = ["smollm2", "smollm2-q8", "a"]
    assert model_of("t/task.json::arith[smollm2-0shot]", labels) == "smollm2"
    assert model_of("t/task.json::arith[smollm2-q8-1shot]", labels) == "smollm2-q8"
    assert model_of("test_x.py::test_vote[greedy-a]", labels) == "a"
    assert model_of("test_x.py::test_plain", labels) is None
    assert model_of("test_x.py::test_p[b-c]", labels) is None


def _suite(pytester: pytest.Pytester, n: int) -> None:
    for i in range(n):
        write_task(pytester.path, f"t{i}/task.json", arith_task(f"t{i}", n=3))
    pytester.makepyfile(trackers=TRACKER)


def _pids(pytester: pytest.Pytester, name: str) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for line in (pytester.path / name).read_text().splitlines():
        model, pid = line.split()
        out.setdefault(model, set()).add(pid)
    return out


def test_each_model_is_loaded_by_one_worker(pytester: pytest.Pytester) -> None:
    _suite(pytester, 8)
    # xdist: worker processes
    result = pytester.runpytest_subprocess("-n", "2", "-p", "no:cacheprovider",
                                           "--lm-model=py:trackers:Tracker?tag=a&name=a",
                                           "--lm-model=py:trackers:Tracker?tag=b&name=b")
    result.assert_outcomes(passed=16)
    loads = _pids(pytester, "loads.txt")
    assert {m: len(p) for m, p in loads.items()} == {"a": 1, "b": 1}
    assert loads["a"] != loads["b"]  # both workers had work


def test_one_model_is_spread_over_the_workers(pytester: pytest.Pytester) -> None:
    _suite(pytester, 8)
    # xdist: worker processes
    result = pytester.runpytest_subprocess("-n", "2", "-p", "no:cacheprovider",
                                           "--lm-model=py:trackers:Tracker?tag=a&name=a")
    result.assert_outcomes(passed=8)
    assert len(_pids(pytester, "calls.txt")["a"]) == 2


@pytest.mark.parametrize("spec", ["py:trackers:Tracker?tag=a&name=a", "hooked:a"])
def test_an_item_on_a_crashed_worker_is_an_error_and_nothing_else_is_lost(pytester: pytest.Pytester,
                                                                          spec: str) -> None:
    _suite(pytester, 4)
    # a backend from another plugin's hook: the controller, which loads no model, must still know it
    pytester.makeconftest("def pytest_lmbench_backends():\n"
                          "    from trackers import Tracker\n"
                          "    return {'hooked': lambda spec: Tracker(spec.target)}\n")
    write_task(pytester.path, "boom/task.json", {**arith_task("boom", n=2),
                                                 "examples": [{"input": "boom", "target": "1"}] * 1
                                                 + [{"input": "fine", "target": "1"}]})
    # xdist: worker processes, one of which dies (os._exit)
    result = pytester.runpytest_subprocess("-n", "2", "-p", "no:cacheprovider", "--lm-report=r.json",
                                           f"--lm-model={spec}")
    result.assert_outcomes(passed=4, failed=1)
    rows = {r["task"]: r for r in json.loads((pytester.path / "r.json").read_text())["results"]}
    assert sorted(rows) == ["boom", "t0", "t1", "t2", "t3"]
    assert rows["boom"]["outcome"] == "error" and "the worker running it crashed" in rows["boom"]["message"]
    assert "cached" not in rows["boom"]["message"]  # py: models are not cached: no promise of a resume
    assert all(rows[f"t{i}"]["outcome"] == "scored" for i in range(4))
    result.stdout.fnmatch_lines(["*boom*error*"])


def test_an_explicit_dist_mode_is_respected(pytester: pytest.Pytester) -> None:
    _suite(pytester, 8)
    # xdist: worker processes
    result = pytester.runpytest_subprocess("-n", "2", "--dist", "load", "-p", "no:cacheprovider",
                                           "--lm-model=py:trackers:Tracker?tag=a&name=a",
                                           "--lm-model=py:trackers:Tracker?tag=b&name=b")
    result.assert_outcomes(passed=16)
    loads = _pids(pytester, "loads.txt")
    # xdist's own load balancing: with 16 items on 2 workers both models end up on both workers
    assert {m: len(p) for m, p in loads.items()} == {"a": 2, "b": 2}


def test_a_budget_stops_an_xdist_run_cleanly(pytester: pytest.Pytester) -> None:
    """The controller adds up the workers' usage and stops the run (xdist's own stop flag): the report is
    written, marked incomplete, and holds the items that ran."""
    for i in range(12):
        write_task(pytester.path, f"t{i}/task.json", arith_task(f"t{i}"))
    result = pytester.runpytest_subprocess("-n", "2", "-p", "no:cacheprovider", "--lm-report=r.json",
                                           "--lm-model=dummy:random", "--lm-max-tokens-total=50")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    assert "over --lm-max-tokens-total 50" in result.stdout.str()
    report = json.loads((pytester.path / "r.json").read_text())
    assert report["complete"] is False
    assert 1 <= len(report["results"]) < 12
    assert all(r["usage"]["prompt_tokens"] > 0 for r in report["results"])
