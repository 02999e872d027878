"""pytest-xdist on this machine: ``pytest example_tasks --lm-no-cache -n N`` for each N, whole processes,
interleaved (SmolLM2; every request goes to the model).

Run:  python bench/bench_xdist.py [--runs 2] [--workers 0 2] [--model SPEC]
"""

from __future__ import annotations

import argparse
import os
import statistics
from pathlib import Path

from pytest_timing import timed_pytest

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 2])
    parser.add_argument("--model", default=None, help="--lm-model for every run (default: the tasks' own)")
    args = parser.parse_args()
    times: dict[int, list[float]] = {n: [] for n in args.workers}
    for _ in range(args.runs):
        for n in args.workers:
            model = [f"--lm-model={args.model}"] if args.model else []
            times[n].append(timed_pytest(["example_tasks", "--lm-no-cache", "-n", str(n), *model], ROOT))
    base = statistics.median(times[args.workers[0]])
    print(f"{os.cpu_count()} cores")
    print(f"| workers | wall (median of {args.runs}) | runs | vs -n {args.workers[0]} |")
    print("|---|---|---|---|")
    for n, ts in times.items():
        med = statistics.median(ts)
        print(f"| -n {n} | {med:.1f} s | {', '.join(f'{t:.1f}' for t in ts)} | {base / med:.2f}x |")


if __name__ == "__main__":
    main()
