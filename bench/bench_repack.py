"""Does llama.cpp's weight repacking change what the model answers? ``repack=on`` against ``repack=off`` on
the same tasks, through the plugin, answers compared example by example.

    python bench/bench_repack.py [TASKS_DIR] [--model smollm2]

Runs ``pytest TASKS_DIR`` (default ``example_tasks/``) twice with ``--lm-no-cache``, once per setting, and
compares the two JSON reports: the largest log-prob difference of any option, generations that differ, scores
that differ; and the wall time of each run. On an AMX CPU ``repack=on`` may crash (llama.cpp #20824): the
script then says so and compares nothing.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run(tasks: Path, spec: str, report: Path) -> tuple[float, int]:
    cmd = [sys.executable, "-m", "pytest", str(tasks), f"--lm-model={spec}", "--lm-no-cache", "-q",
           "-p", "no:cacheprovider", f"--lm-report={report}"]
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)  # a crash is reported
    return time.perf_counter() - start, proc.returncode


def examples(report: Path) -> dict[tuple[str, str], dict]:
    rows = json.loads(report.read_text())["results"]
    return {(r["task"], e["id"] + f"#{i}"): e for r in rows for i, e in enumerate(r.get("examples") or [])}


def scores(report: Path) -> dict[str, dict[str, float]]:
    return {r["task"]: r["scores"] for r in json.loads(report.read_text())["results"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tasks", nargs="?", default=str(ROOT / "example_tasks"))
    parser.add_argument("--model", default="smollm2", help="a smollm2 or llamacpp: spec without repack=")
    args = parser.parse_args()
    joiner = "&" if "?" in args.model else "?"
    with tempfile.TemporaryDirectory() as tmp:
        reports, seconds = {}, {}
        for setting in ("off", "on"):
            reports[setting] = Path(tmp) / f"{setting}.json"
            seconds[setting], rc = run(Path(args.tasks), f"{args.model}{joiner}repack={setting}", reports[setting])
            if rc < 0 or not reports[setting].exists():
                print(f"repack={setting}: the run died (exit {rc}): an AMX CPU? (llama.cpp #20824)")
                return 1
        off, on = examples(reports["off"]), examples(reports["on"])
        assert off.keys() == on.keys(), "the two runs evaluated different examples"
        worst, options, differing = 0.0, 0, 0
        for key, a in off.items():
            b = on[key]
            for x, y in zip(a.get("log_probs") or [], b.get("log_probs") or []):
                worst, options = max(worst, abs(x - y)), options + 1
            differing += a.get("response") != b.get("response")
        generations = sum(1 for e in off.values() if e.get("response") is not None)
        score_diffs = sum(1 for task, s in scores(reports["off"]).items() for m, v in s.items()
                          if scores(reports["on"])[task].get(m) != v)
    print(f"{args.tasks}: {len(off)} examples, {options} option log-probs, {generations} generations")
    print(f"  largest |log-prob(on) - log-prob(off)|: {worst:.3g}")
    print(f"  generations that differ: {differing} of {generations}")
    print(f"  scores that differ: {score_diffs}")
    print(f"  wall: repack=off {seconds['off']:.1f} s, repack=on {seconds['on']:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
