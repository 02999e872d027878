"""Harness overhead: examples per second through collection, prompting, scoring, error bars and reporting,
with ``dummy:oracle`` (a model that costs nothing), for a multiple-choice and a generative task.

Whole pytest processes on generated tasks of N examples; the pytest start-up alone (an empty run) is
measured too, so the per-example rate can be read with and without it.

``--lm-eval-venv V`` times lm-evaluation-harness on the same examples with its ``dummy`` model (random
answers, no model cost), fed the same prompts (see bench/bench_lm_eval.py), with its per-example log.

Run:  python bench/bench_overhead.py [--examples 20000] [--runs 3] [--lm-eval-venv V]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import tempfile
from pathlib import Path

from pytest_timing import timed_pytest

WORDS = ["red", "green", "blue", "black", "white", "pink", "grey", "brown"]


def write_tasks(root: Path, n: int) -> None:
    rng = random.Random(0)
    (root / "mc").mkdir()
    (root / "gen").mkdir()
    (root / "empty").mkdir()
    mc = [{"input": f"Question {i}: which colour?",
           "target_scores": {w: int(j == 0) for j, w in enumerate(rng.sample(WORDS, 4))}} for i in range(n)]
    gen = [{"input": f"{i} + {i} =", "target": str(2 * i)} for i in range(n)]
    common = {"description": "generated", "keywords": ["generated"]}
    (root / "mc" / "task.json").write_text(json.dumps({"name": "mc", **common, "metrics": ["multiple_choice_grade"],
                                                       "preferred_score": "multiple_choice_grade", "examples": mc}))
    (root / "gen" / "task.json").write_text(json.dumps({"name": "gen", **common, "metrics": ["exact_str_match"],
                                                        "preferred_score": "exact_str_match", "examples": gen}))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--examples", type=int, default=20000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--lm-eval-venv", default=None, help="also time lm-evaluation-harness's dummy model")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_tasks(root, args.examples)
        base = statistics.median(timed_pytest(["empty"], root, ok=(5,)) for _ in range(args.runs))
        print(f"pytest start-up (empty run): {base:.2f} s")
        print(f"| task | examples | wall (median of {args.runs}) | range | examples/s | examples/s beyond start-up |")
        print("|---|---|---|---|---|---|")
        for task in ("mc", "gen"):
            walls = [timed_pytest(["--lm-model=dummy:oracle", "--lm-report=r.json", task], root, ok=(0,))
                     for _ in range(args.runs)]
            wall = statistics.median(walls)
            beyond = f"{args.examples / (wall - base):,.0f}" if wall - base > 0.05 else "- (within start-up noise)"
            print(f"| {task} | {args.examples} | {wall:.2f} s | {min(walls):.2f}-{max(walls):.2f} s | "
                  f"{args.examples / wall:,.0f} | {beyond} |", flush=True)
        if args.lm_eval_venv:
            time_lm_eval(Path(args.lm_eval_venv), root, args.examples, args.runs)


def time_lm_eval(venv: Path, root: Path, examples: int, runs: int) -> None:
    """lm-evaluation-harness's ``dummy`` model on the same tasks and prompts, whole processes."""
    import subprocess
    import time

    from bench_lm_eval import lm_eval_task

    conf = root / "lm_eval_tasks"
    conf.mkdir(exist_ok=True)
    names = {task: lm_eval_task(root / task / "task.json", f"overhead_{task}", conf, task == "gen")
             for task in ("mc", "gen")}
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    print(f"lm-evaluation-harness, --model dummy (median of {runs}):")
    print("| task | examples | wall | range | examples/s |")
    print("|---|---|---|---|---|")
    for task, name in names.items():
        walls = []
        for i in range(runs):
            out = root / f"lm_eval_{task}_{i}"
            t0 = time.perf_counter()
            proc = subprocess.run([str(venv / "bin" / "lm_eval"), "--model", "dummy", "--tasks", name,
                                   "--include_path", str(conf), "--log_samples", "--output_path", str(out)],
                                  cwd=root, env=env, capture_output=True, text=True)
            walls.append(time.perf_counter() - t0)
            if proc.returncode != 0:
                raise SystemExit(proc.stdout[-2000:] + proc.stderr[-2000:])
        wall = statistics.median(walls)
        print(f"| {task} | {examples} | {wall:.2f} s | {min(walls):.2f}-{max(walls):.2f} s | "
              f"{examples / wall:,.0f} |", flush=True)


if __name__ == "__main__":
    main()
