"""Cold run vs warm-cache rerun of example_tasks/ on SmolLM2: wall time and report equality.

Both runs are whole `pytest` processes with a fresh cache directory for the cold one. The reports must be
identical apart from timings and the cache counts.

Run:  python bench/bench_cache.py [--runs 2] [-n N]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

from pytest_timing import timed_pytest

ROOT = Path(__file__).resolve().parent.parent


def stripped(path: Path) -> dict:
    data = json.loads(path.read_text())
    for r in data["results"]:
        for key in ("eval_seconds", "model_load_seconds", "cache"):
            r.pop(key, None)
    return data


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("-n", default="0", help="pytest-xdist workers (default 0)")
    args = parser.parse_args()
    cold, warm = [], []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        shutil.copytree(ROOT / "example_tasks", work / "example_tasks")
        for i in range(args.runs):
            cache = work / f"cache{i}"
            common = ["example_tasks", f"--lm-cache-dir={cache}", "-n", args.n]
            cold.append(timed_pytest([*common, f"--lm-report=cold{i}.json"], work))
            warm.append(timed_pytest([*common, f"--lm-report=warm{i}.json"], work))
            same = stripped(work / f"cold{i}.json") == stripped(work / f"warm{i}.json")
            print(f"run {i + 1}: cold {cold[-1]:.1f} s, warm {warm[-1]:.2f} s, "
                  f"speed-up {cold[-1] / warm[-1]:.0f}x, identical report: {same}", flush=True)
            if not same:
                sys.exit("the warm report differs from the cold one")
    print(f"median: cold {statistics.median(cold):.1f} s, warm {statistics.median(warm):.2f} s, "
          f"speed-up {statistics.median(cold) / statistics.median(warm):.0f}x")


if __name__ == "__main__":
    main()
