"""The benchmark scripts keep working (small runs; the measured numbers are in docs/performance.md)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import arith_task, mc_task, write_task

BENCH = Path(__file__).resolve().parent.parent / "bench"


def run_bench(script: str, *args: str) -> str:
    proc = subprocess.run([sys.executable, str(BENCH / script), *args], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return proc.stdout


def test_overhead_benchmark_reports_a_rate_per_task_kind() -> None:
    out = run_bench("bench_overhead.py", "--examples", "300", "--runs", "1")
    rows = {line.split("|")[1].strip(): line for line in out.splitlines() if line.startswith("| mc") or
            line.startswith("| gen")}
    assert set(rows) == {"mc", "gen"}
    for row in rows.values():
        cells = [c.strip() for c in row.split("|")[1:-1]]
        assert cells[1] == "300" and cells[2].endswith(" s")
        assert float(cells[4].replace(",", "")) > 0  # examples per second


def test_collection_benchmark_checks_warm_against_cold(tmp_path: Path) -> None:
    write_task(tmp_path, "arith/task.json", arith_task())
    write_task(tmp_path, "colors/task.json", mc_task())
    out = run_bench("bench_collection.py", str(tmp_path), "--runs", "1")
    assert "2 task files" in out
    assert "(the same 2 items)" in out
    assert "whole process, warm:" in out


def test_lm_eval_task_configs_hold_our_prompts(tmp_path: Path) -> None:
    """The documents given to lm-evaluation-harness are our queries: context + option is BIG-bench's prompt +
    option, the label is the best-scored option, and generation targets are the first target."""
    sys.path.insert(0, str(BENCH))
    try:
        from bench_lm_eval import lm_eval_task
    finally:
        sys.path.remove(str(BENCH))
    from pytest_lmbench.core.tasks.bigbench import load_task
    from pytest_lmbench.core.tasks.prompts import build_queries

    mc = write_task(tmp_path, "colors/task.json", mc_task(n=5))
    gen = write_task(tmp_path, "arith/task.json", arith_task(n=4))
    assert lm_eval_task(mc, "t_mc", tmp_path, generative=False) == "t_mc"
    lm_eval_task(gen, "t_gen", tmp_path, generative=True)
    rows = [json.loads(line) for line in (tmp_path / "t_mc.jsonl").read_text().splitlines()]
    queries = build_queries(load_task(mc), 0)
    assert len(rows) == len(queries) == 5
    for row, q in zip(rows, queries):
        assert [row["prompt"] + c for c in row["choices"]] == [q.prompt + c for c in q.choices]
        assert not row["prompt"].endswith(" ")
        best = q.choices[row["label"]]
        assert q.example.target_scores[best] == max(q.example.target_scores.values())
    yaml = (tmp_path / "t_mc.yaml").read_text()
    assert "output_type: multiple_choice" in yaml and 'target_delimiter: ""' in yaml
    gen_rows = [json.loads(line) for line in (tmp_path / "t_gen.jsonl").read_text().splitlines()]
    assert [(r["prompt"], r["target"]) for r in gen_rows] == [(q.prompt, q.targets[0])
                                                             for q in build_queries(load_task(gen), 0)]
    gen_yaml = (tmp_path / "t_gen.yaml").read_text()
    assert "output_type: generate_until" in gen_yaml and "max_gen_toks: 64" in gen_yaml


def test_lm_eval_benchmark_says_how_to_install_the_peer(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, str(BENCH / "bench_lm_eval.py"), "--venv", str(tmp_path / "none")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    assert "lm_eval not found" in proc.stderr and "pip install" in proc.stderr


@pytest.mark.parametrize("script", ["bench_llamacpp.py", "bench_xdist.py", "bench_cache.py", "bench_concurrency.py"])
def test_other_benchmarks_import_and_parse_their_options(script: str) -> None:
    assert "usage" in run_bench(script, "--help").lower()


def _fetch_module():
    sys.path.insert(0, str(BENCH))
    try:
        import fetch_bigbench
    finally:
        sys.path.remove(str(BENCH))
    return fetch_bigbench


def test_fetch_bigbench_that_cannot_get_the_release_says_so_in_one_line_and_exits_0(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """PyPI no longer serves bigbench==1.0.0: the README's test command goes on to run the tests."""
    fetch = _fetch_module()
    monkeypatch.delenv(fetch.SRC_ENV, raising=False)
    monkeypatch.delenv(fetch.TARBALL_ENV, raising=False)
    index = tmp_path / "index.html"  # what PyPI's index lists today: 0.0.1 only
    index.write_text('<a href="https://files.example/bigbench-0.0.1.tar.gz#sha256=b9e2">bigbench-0.0.1.tar.gz</a>')
    monkeypatch.setattr(fetch, "INDEX", index.as_uri())
    assert fetch.main([str(tmp_path / "dest")]) == 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not fetched" in err and "does not serve bigbench-1.0.0.tar.gz" in err
    assert "tests/data/bigbench_reference.json" in err and "--from" in err
    assert fetch.main([str(tmp_path / "dest"), "--strict"]) == 1
    monkeypatch.setattr(fetch, "INDEX", (tmp_path / "missing.html").as_uri())  # no answer at all
    assert fetch.main([str(tmp_path / "dest")]) == 0
    assert "could not be read" in capsys.readouterr().err
    # a local copy that is not the release: named, not unpacked
    bad = tmp_path / "bigbench-1.0.0.tar.gz"
    bad.write_bytes(b"not a tarball")
    assert fetch.main([str(tmp_path / "dest"), "--from", str(bad)]) == 0
    err = capsys.readouterr().err
    assert f"{bad}: not BIG-bench 1.0.0's sdist" in err and not (tmp_path / "dest" / "bigbench-1.0.0").exists()
    monkeypatch.setenv(fetch.TARBALL_ENV, str(tmp_path / "nowhere.tar.gz"))
    assert fetch.main([str(tmp_path / "dest")]) == 0
    assert "nowhere.tar.gz: no such file" in capsys.readouterr().err
    # an unpacked copy named by LMBENCH_BIGBENCH_SRC is used as it is
    src = tmp_path / "bigbench-1.0.0"
    (src / "bigbench" / "api").mkdir(parents=True)
    (src / "bigbench" / "api" / "json_task.py").write_text("")
    monkeypatch.setenv(fetch.SRC_ENV, str(src))
    assert fetch.main([str(tmp_path / "dest")]) == 0
    assert capsys.readouterr().out.strip() == str(src)
    monkeypatch.setenv(fetch.SRC_ENV, str(tmp_path))
    assert fetch.main([str(tmp_path / "dest")]) == 0
    assert "is not an unpacked bigbench-1.0.0" in capsys.readouterr().err


@pytest.mark.skipif(not (Path(__file__).parent.parent.parent / "shared" / "bigbench-tasks").is_dir(),
                    reason="../shared/bigbench-tasks is absent")
def test_record_bigbench_reference_writes_what_the_conformance_tests_read(tmp_path: Path) -> None:
    """Without BIG-bench's code the script refuses unless told --from-ours with --verified; then it writes the
    runs of the committed recording (the code is the one recorded), marked to be re-verified."""
    from bigbench_reference import RECORDING, load_recording, reference_source, score_differences

    if reference_source() is not None:
        pytest.skip("BIG-bench's code is present: the conformance tests compare the recording with it")
    script = [sys.executable, str(BENCH / "record_bigbench_reference.py"), "--out", str(tmp_path / "r.json")]
    refused = subprocess.run(script, capture_output=True, text=True, timeout=300)
    assert refused.returncode == 2 and "--from-ours" in refused.stderr and not (tmp_path / "r.json").exists()
    assert subprocess.run([*script, "--from-ours"], capture_output=True, text=True).returncode == 2  # no --verified
    run_bench("record_bigbench_reference.py", "--out", str(tmp_path / "r.json"), "--from-ours", "--verified", "t",
              "--task", "arithmetic", "--task", "tense")  # two of the 28 (a parent with subtasks, a plain task)
    written, committed = load_recording(str(tmp_path / "r.json")), load_recording(RECORDING)
    assert set(written["runs"]) == {"arithmetic@all", "arithmetic@7", "tense@all", "tense@7"}
    for key, run in written["runs"].items():
        assert score_differences(run["score_data"], committed["runs"][key]["score_data"]) == [], key
        assert run["prompts"] == committed["runs"][key]["prompts"]
    assert written["header"]["reverify"] is True and written["header"]["verified"] == "t"
    assert len(written["header"]["commit"]) >= 40


def test_report_identity_drops_what_varies_and_names_what_differs(tmp_path: Path) -> None:
    sys.path.insert(0, str(BENCH))
    try:
        import report_identity
    finally:
        sys.path.remove(str(BENCH))
    report = {"complete": True, "results": [
        {"task": "a", "model": "m", "shots": 0, "scores": {"acc": 0.5}, "eval_seconds": 1.0,
         "usage": {"model_seconds": 2.0, "prompt_tokens": 7}, "path": "/x/root/a/task.json",
         "message": "see /x/root/a/task.json"}]}
    same = report_identity.normalized(report, ["/x/root"])
    later = report_identity.normalized({**report, "results": [{**report["results"][0], "eval_seconds": 9.0,
                                                              "usage": {"model_seconds": 5.0, "prompt_tokens": 7}}]},
                                       ["/x/root"])
    assert same == later and same["results"][0]["message"] == "see <root>/a/task.json"
    (tmp_path / "a.json").write_text(json.dumps(same))
    (tmp_path / "b.json").write_text(json.dumps(later))
    assert report_identity.compare(str(tmp_path / "a.json"), str(tmp_path / "b.json")) == 0
    moved = {**same, "results": [{**same["results"][0], "scores": {"acc": 0.75}}]}
    (tmp_path / "c.json").write_text(json.dumps(moved))
    assert report_identity.compare(str(tmp_path / "a.json"), str(tmp_path / "c.json")) == 1
