"""A native crash of a backend loses nothing: answers computed before it are in the cache, ``-n 1`` isolates it.

The llama.cpp backend is replaced (through the run's conftest) by a model that calls ``os.abort()`` when it
reaches its 41st request, once: what a segfault inside llama.cpp does to the process, reproducibly.
These runs need real processes (one dies), so they are subprocess runs.
"""

from __future__ import annotations

import json
import signal
import sqlite3

import pytest
from conftest import arith_task, write_task

from pytest_lmbench.core.models.cache import CHUNK

ABORT_AT = 60  # the crash comes in the 2nd chunk of 16 of the 2nd task (examples 17-32 of t1)
KEPT = 40 + CHUNK  # t0 whole and t1's first chunk were committed as they returned; the chunk in flight is lost

CONFTEST = f'''
import os
from pytest_lmbench.core.models import registry

class AbortingModel:
    """Answers generate() requests and logs them; aborts the process at request {ABORT_AT + 1}, once."""
    def __init__(self, spec):
        self.name = "crashy"
    def _count(self, n):
        with open("calls.txt", "a") as fh:
            fh.write(f"{{os.getpid()}} {{n}}\\n")
    def generate(self, prompts, *, max_tokens, stop=None, **sampling):
        done = sum(int(line.split()[1]) for line in open("calls.txt")) if os.path.exists("calls.txt") else 0
        if not os.path.exists("crashed.flag") and done + len(prompts) > {ABORT_AT}:
            self._count({ABORT_AT} - done)
            open("crashed.flag", "w").close()
            os.abort()  # as a segfault in native code: no exception, no cleanup, no report
        self._count(len(prompts))
        return [p.split("=")[0].strip() for p in prompts]
    def loglikelihood(self, requests):
        return [0.0] * len(requests)

# llama.cpp's own description with the factory swapped: the model runs behind the answer cache as llama.cpp does
import dataclasses
registry.BUILTIN_BACKENDS["llamacpp"] = dataclasses.replace(registry.builtin("llamacpp"), factory=AbortingModel)
'''


def _suite(pytester: pytest.Pytester) -> None:
    """4 tasks x 40 distinct examples; the model crashes in the second task it runs."""
    pytester.makeconftest(CONFTEST)
    for i in range(4):
        task = arith_task(f"t{i}", n=40)
        task["examples"] = [{"input": f"[{i}] {j} + {j} =", "target": str(2 * j)} for j in range(40)]
        write_task(pytester.path, f"t{i}/task.json", task)


ARGS = ["--lm-model=llamacpp:crashy.gguf", "--lm-cache-dir=cache", "-p", "no:cacheprovider", "--lm-report=r.json"]


def _cached(pytester: pytest.Pytester) -> int:
    with sqlite3.connect(pytester.path / "cache" / "answers.sqlite") as db:
        return int(db.execute("SELECT COUNT(*) FROM responses").fetchone()[0])


def _asked(pytester: pytest.Pytester) -> int:
    return sum(int(line.split()[1]) for line in (pytester.path / "calls.txt").read_text().splitlines())


def test_a_crash_in_one_process_keeps_the_answers_so_far_and_a_rerun_resumes(pytester: pytest.Pytester) -> None:
    _suite(pytester)
    crashed = pytester.runpytest_subprocess(*ARGS)
    assert crashed.ret == -signal.SIGABRT  # the whole run died, as with a segfault
    assert "Fatal Python error: Aborted" in crashed.stderr.str()  # pytest's faulthandler says where
    assert not (pytester.path / "r.json").exists()
    assert _asked(pytester) == ABORT_AT
    assert _cached(pytester) == KEPT
    rerun = pytester.runpytest_subprocess(*ARGS)
    rerun.assert_outcomes(passed=4)
    assert _asked(pytester) - ABORT_AT == 160 - KEPT  # only what the cache lacked
    cache = {r["task"]: r["cache"] for r in json.loads((pytester.path / "r.json").read_text())["results"]}
    assert cache["t0"] == {"hits": 40, "misses": 0} and cache["t1"] == {"hits": CHUNK, "misses": 40 - CHUNK}


def test_one_worker_isolates_a_crashing_backend(pytester: pytest.Pytester) -> None:
    _suite(pytester)
    isolated = pytester.runpytest_subprocess(*ARGS, "-n", "1")
    assert isolated.ret == pytest.ExitCode.TESTS_FAILED
    isolated.assert_outcomes(passed=3, failed=1)  # xdist replaced the worker and ran the rest
    report = json.loads((pytester.path / "r.json").read_text())
    rows = {r["task"]: r for r in report["results"]}
    assert sorted(rows) == ["t0", "t1", "t2", "t3"] and report["complete"] is True
    lost = [r for r in rows.values() if r["outcome"] == "error"]
    assert [r["task"] for r in lost] == ["t1"] and lost[0]["model"] == "llamacpp:crashy"
    assert "model llamacpp:crashy" in lost[0]["message"] and "crashed" in lost[0]["message"]
    assert "rerun" in lost[0]["message"]
    isolated.stdout.fnmatch_lines(["*error*", "lmbench cache:*"])
    asked_before = _asked(pytester)
    assert asked_before == ABORT_AT + 80 and _cached(pytester) == KEPT + 80
    rerun = pytester.runpytest_subprocess(*ARGS, "-n", "1")
    rerun.assert_outcomes(passed=4)
    assert _asked(pytester) - asked_before == 40 - CHUNK  # t1's first chunk and the other items: from the cache
