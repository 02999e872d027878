"""Collection of a whole task suite: ``pytest --collect-only`` cold and warm, against the time to just
``json.load`` every task file (the floor).

The suite is BIG-bench 1.0.0's ``bigbench/benchmark_tasks/`` (1041 task.json files, 1.8 GB): fetch it with
``python bench/fetch_bigbench.py DEST --tasks``.

    python bench/bench_collection.py DEST/bigbench-1.0.0/bigbench/benchmark_tasks [--runs 2]

Cold: pytest's cache directory is empty, so every file is read and validated. Warm: the same command again,
with the cache the cold run left (unchanged files are not read). Both are whole processes.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def json_floor(root: Path) -> tuple[float, int]:
    files = sorted(root.rglob("task.json"))
    t0 = time.perf_counter()
    for f in files:
        with open(f, encoding="utf-8") as fh:
            json.load(fh)
    return time.perf_counter() - t0, len(files)


def collect(root: Path, cache_dir: Path) -> tuple[float, list[str]]:
    """Wall seconds of one whole ``pytest --collect-only -q`` process, and its output lines (node ids, then
    pytest's count line)."""
    cmd = [sys.executable, "-m", "pytest", "--collect-only", "-q", str(root), "--rootdir", str(root),
           "-o", f"cache_dir={cache_dir}", "-p", "no:randomly"]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=root)
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(proc.stdout[-3000:] + proc.stderr[-3000:])
    return elapsed, proc.stdout.strip().splitlines()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("root", type=Path)
    ap.add_argument("--runs", type=int, default=2)
    args = ap.parse_args()
    floor, n = json_floor(args.root)
    print(f"{n} task files; json.load of every file: {floor:.1f} s")
    cold, warm = [], []
    for _ in range(args.runs):
        cache = Path(tempfile.mkdtemp(prefix="lmbench-collect-"))
        try:
            t, lines = collect(args.root, cache)
            cold.append(t)
            t_warm, lines_warm = collect(args.root, cache)
            warm.append(t_warm)
            if lines[:-1] != lines_warm[:-1]:  # the same items, in the same order
                sys.exit("the warm collection's items differ from the cold one's")
        finally:
            shutil.rmtree(cache, ignore_errors=True)
    items = sum(1 for x in lines[:-1] if x)
    print(f"cold, last run: {lines[-1]}; warm, last run: {lines_warm[-1]} (the same {items} items)")
    print(f"whole process, cold: {statistics.median(cold):.1f} s  runs {[round(x, 1) for x in cold]}")
    print(f"whole process, warm: {statistics.median(warm):.2f} s  runs {[round(x, 2) for x in warm]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
