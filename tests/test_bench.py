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
