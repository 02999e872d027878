"""The answer cache: warm reruns call no model, interrupted runs resume, concurrent writers, no secrets on disk."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import arith_task, mc_task, write_task
from test_openai import KEY, echo_completion, fake_server, ok_completion

from pytest_lmbench.core.models.cache import CHUNK, CachedModel, ResponseCache

# ------------------------------------------------------------------------------------------- the core


class Counting:
    def __init__(self) -> None:
        self.calls: list[list] = []

    def loglikelihood(self, requests):
        self.calls.append(list(requests))
        return [-float(len(c) + len(t)) for c, t in requests]

    def generate(self, prompts, *, max_tokens, stop=None, temperature=0.0, seed=0):
        self.calls.append(list(prompts))
        return [f"{p}|{max_tokens}|{temperature}|{seed}" for p in prompts]


def test_cached_model_loads_lazily_chunks_and_keys_every_output_changing_argument(tmp_path: Path) -> None:
    cache = ResponseCache(str(tmp_path / "a.sqlite"))
    inner, loads = Counting(), []

    def load():
        loads.append(1)
        return inner

    model = CachedModel("id-1", load, cache, supports_sampling=True)
    requests = [(f"ctx{i % 3}", f"t{i}") for i in range(40)]
    first = model.loglikelihood(requests)
    assert first == [-float(len(c) + len(t)) for c, t in requests] and len(loads) == 1
    assert [len(c) for c in inner.calls] == [CHUNK, CHUNK, 40 - 2 * CHUNK]  # committed chunk by chunk
    assert all([x[0] for x in c] == sorted(x[0] for x in c) for c in inner.calls)  # by context: prompt reuse
    again = CachedModel("id-1", load, cache)
    assert again.loglikelihood(list(reversed(requests))) == list(reversed(first))
    assert len(loads) == 1 and not again.loaded  # a warm rerun never loads the model
    # every argument that changes an answer is part of the key; the identity too
    inner.calls.clear()
    model.generate(["p"], max_tokens=5)
    model.generate(["p"], max_tokens=5)
    model.generate(["p"], max_tokens=6)
    model.generate(["p"], max_tokens=5, stop=["\n"])
    assert model.generate(["p"], max_tokens=5, temperature=0.7, seed=1) == ["p|5|0.7|1"]
    assert model.generate(["p"], max_tokens=5, temperature=0.7, seed=2) == ["p|5|0.7|2"]  # one entry per sample
    assert len(inner.calls) == 5
    other = CachedModel("id-2", lambda: inner, cache)
    other.generate(["p"], max_tokens=5)
    assert len(inner.calls) == 6
    assert cache.hits >= 41 and cache.misses >= 46


def _writer(path: str, worker: int, count: int) -> None:
    cache = ResponseCache(path)
    for start in range(0, count, 10):
        cache.put_many([(f"{worker}-{i}", {"w": worker, "i": i}) for i in range(start, start + 10)])
        cache.get_many([f"{(worker + 1) % 4}-{i}" for i in range(start)])
    cache.close()


def test_concurrent_writers_from_several_processes(tmp_path: Path) -> None:
    path = str(tmp_path / "shared.sqlite")
    ResponseCache(path).close()
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(path, w, 300)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    cache = ResponseCache(path)
    assert cache.count() == 1200
    assert cache.get_many(["3-299", "0-0"]) == {"3-299": {"w": 3, "i": 299}, "0-0": {"w": 0, "i": 0}}


# -------------------------------------------------------------------------------------- through pytest

def _answer(body: dict):
    if body.get("echo"):
        return 200, {}, echo_completion(body["prompt"]), 0.0
    return 200, {}, ok_completion(str(len(body["prompt"]) % 7)), 0.0


def _spec(base: str, key: str = KEY) -> str:
    return f"--lm-model=openai:m?base_url={base}&api_key={key}&check_echo=0&name=m"


def _strip(path: Path) -> dict:
    data = json.loads(path.read_text())
    for r in data["results"]:
        r.pop("eval_seconds"), r.pop("model_load_seconds"), r.pop("cache"), r.pop("usage")
    return data


def test_warm_rerun_calls_no_model_and_gives_the_same_report(pytester: pytest.Pytester) -> None:
    write_task(pytester.path, "arith/task.json", arith_task(n=12))
    write_task(pytester.path, "colors/task.json", mc_task(n=10))
    with fake_server([], _answer) as (base, fake):
        args = [_spec(base), "--lm-cache-dir=cache", "-p", "no:cacheprovider"]
        pytester.runpytest(*args, "--lm-report=cold.json").assert_outcomes(passed=2)
        cold = len(fake.requests)
        assert cold == 12 + 10 * 3
        # xdist starts its workers as processes: a run with -n 2 is a process of its own
        warm = pytester.runpytest_subprocess(*args, "--lm-report=warm.json", "-n", "2")
        warm.assert_outcomes(passed=2)
        assert len(fake.requests) == cold  # not one request
        assert _strip(pytester.path / "cold.json") == _strip(pytester.path / "warm.json")
        counts = {r["task"]: r["cache"] for r in json.loads((pytester.path / "warm.json").read_text())["results"]}
        assert counts == {"arith": {"hits": 12, "misses": 0}, "colors": {"hits": 30, "misses": 0}}
        usage = {r["task"]: r["usage"] for r in json.loads((pytester.path / "warm.json").read_text())["results"]}
        assert usage["arith"]["cache_hits"] == 12 and usage["colors"]["cache_hits"] == 30
        assert all(u["model_calls"] == 0 and u["model_seconds"] == 0.0 for u in usage.values())  # hits cost nothing
        warm.stdout.fnmatch_lines(["lmbench cache: 42 answers from the cache, 0 from the model (cache*answers.sqlite)"])
        assert all(r["model_load_seconds"] is None for r in json.loads((pytester.path / "warm.json").read_text())
                   ["results"])  # the model was not even loaded
        pytester.runpytest(*args, "--lm-no-cache").assert_outcomes(passed=2)
        assert len(fake.requests) == 2 * cold
        pytester.runpytest(*args, "--lm-cache-clear").assert_outcomes(passed=2)
        assert len(fake.requests) == 3 * cold


def _distinct_tasks(pytester: pytest.Pytester) -> None:
    """4 tasks x 40 examples with distinct prompts (identical prompts would share cached answers)."""
    for i in range(4):
        task = arith_task(f"t{i}", n=40)
        task["examples"] = [{"input": f"[{i}] {j} + {j} =", "target": str(2 * j)} for j in range(40)]
        write_task(pytester.path, f"t{i}/task.json", task)


def _slow(body: dict):
    status, headers, payload, _ = _answer(body)
    return status, headers, payload, 0.2


def _run_until(args: list[str], cwd: Path, fake, requests: int, sig: int) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "pytest", *args], cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 60
    while len(fake.requests) < requests and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.01)
    assert proc.poll() is None, proc.stdout.read().decode()[-3000:]  # still running: interrupt it mid-way
    os.killpg(proc.pid, sig)
    proc.wait(60)
    return proc


def test_a_killed_run_resumes_from_the_cache(pytester: pytest.Pytester) -> None:
    _distinct_tasks(pytester)
    with fake_server([], _slow) as (base, fake):
        args = [_spec(base), "--lm-cache-dir=cache", "-p", "no:cacheprovider", "--lm-report=r.json"]
        _run_until(args, pytester.path, fake, 70, signal.SIGKILL)
        seen = len(fake.requests)
        assert 70 <= seen < 160
        kept = ResponseCache(str(pytester.path / "cache" / "answers.sqlite")).count()
        assert seen - 2 * CHUNK <= kept <= seen  # at most the requests in flight are lost
        rerun = pytester.runpytest(*args)
        rerun.assert_outcomes(passed=4)
        assert len(fake.requests) - seen == 160 - kept  # only what the cache did not have
        assert json.loads((pytester.path / "r.json").read_text())["complete"] is True


def test_sigterm_writes_a_report_marked_incomplete(pytester: pytest.Pytester) -> None:
    _distinct_tasks(pytester)
    with fake_server([], _slow) as (base, fake):
        args = [_spec(base), "--lm-cache-dir=cache", "-p", "no:cacheprovider", "--lm-report=r.json"]
        proc = _run_until(args, pytester.path, fake, 100, signal.SIGTERM)
        out = proc.stdout.read().decode()
        report = json.loads((pytester.path / "r.json").read_text())
        assert report["complete"] is False, out[-2000:]
        assert 1 <= len(report["results"]) < 4  # what finished before the signal is kept


def test_no_secret_reaches_any_output(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    write_task(pytester.path, "arith/task.json", arith_task(n=6, lmbench={"threshold": {"exact_str_match": 0.9}}))
    write_task(pytester.path, "colors/task.json", mc_task(n=6))
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(pytester.path / "step.md"))
    with fake_server([], _answer) as (base, fake):
        result = pytester.runpytest(
            _spec(base), "--lm-cache-dir=cache", "-p", "no:cacheprovider", "--lm-report=r.json",
            "--lm-html=r.html", "--junitxml=j.xml", "-v", "-rA")
        assert fake.headers and all(h["Authorization"] == f"Bearer {KEY}" for h in fake.headers)
    assert result.ret == 1  # the failed threshold: its message is in the outputs too
    outputs = [p for p in pytester.path.rglob("*") if p.is_file()]
    assert {p.name for p in outputs} >= {"r.json", "r.html", "j.xml", "step.md", "answers.sqlite"}
    for path in outputs:
        assert KEY.encode() not in path.read_bytes(), path
    assert KEY not in result.stdout.str() + result.stderr.str()


def test_an_unusable_cache_directory_is_one_clear_error(pytester: pytest.Pytester) -> None:
    write_task(pytester.path, "arith/task.json", arith_task(n=3))
    (pytester.path / "afile").write_text("not a directory")
    with fake_server([], _answer) as (base, fake):
        result = pytester.runpytest(_spec(base), "--lm-cache-dir=afile/cache", "-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*--lm-cache-dir: cannot open the answer cache*afile*(fix the directory or run "
                                 "with --lm-no-cache)*"])
    assert "Traceback" not in result.stdout.str() and not fake.requests
