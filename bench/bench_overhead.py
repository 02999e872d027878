"""Harness overhead: examples per second through collection, prompting, scoring, error bars and reporting,
with ``dummy:oracle`` (a model that costs nothing), for a multiple-choice and a generative task.

Whole pytest processes on generated tasks of N examples; the pytest start-up alone (an empty run) is
measured too, so the per-example rate can be read with and without it.

Run:  python bench/bench_overhead.py [--examples 20000] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
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


if __name__ == "__main__":
    main()
