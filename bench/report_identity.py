"""Reports before and after a change, compared: the check that a refactoring changed no result.

Runs pytest-lmbench (as installed, or from ``--src``, a checkout of another commit) on ``example_tasks/`` (JSON
tasks, test functions, lm-eval configs) and on the shared BIG-bench tasks, with ``dummy:oracle``,
``dummy:random`` and the real SmolLM2 (answer cache off), and writes the JSON report with what may differ
between two runs of the same code taken out: timings, token rates, absolute paths.

    python bench/report_identity.py OUT.json [--src DIR] [--no-smollm2]
    python bench/report_identity.py --compare BEFORE.json AFTER.json      # exit 1 and the differences if any

To check a change: ``git worktree add /tmp/before REV``, run once with ``--src /tmp/before`` and once without,
then ``--compare``. A key that the change adds on purpose is listed in ``ADDED``: ``--compare`` passes over it
where only AFTER has it (and still compares it where both have it, and reports it where only BEFORE has it).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.normpath(os.path.join(ROOT, "..", "shared", "bigbench-tasks"))
#: Keys whose values differ between two runs of the same code (clocks, rates, where the files were)
VOLATILE = {"eval_seconds", "model_load_seconds", "model_seconds", "tokens_per_second", "nodeid", "path",
            "elapsed_seconds", "seconds"}
#: Keys added to the report on purpose, by the change being checked: not a difference where only AFTER has them.
#: parent_kind: how a subtask's parent is aggregated (issue 28; None for BIG-bench, "lmeval" for lm-eval groups)
ADDED = {"parent_kind"}


def normalized(value: Any, roots: list[str]) -> Any:
    if isinstance(value, dict):
        return {k: normalized(v, roots) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [normalized(v, roots) for v in value]
    if isinstance(value, str):
        for root in roots:
            value = value.replace(root, "<root>")
    return value


def run(out: str, src: str | None, smollm2: bool) -> int:
    code = os.path.abspath(src or ROOT)
    tasks = [os.path.join(code, "example_tasks")] + ([SHARED] if os.path.isdir(SHARED) else [])
    models = ["--lm-model=dummy:oracle", "--lm-model=dummy:random?seed=1"] + (["--lm-model=smollm2"] if smollm2 else [])
    with tempfile.TemporaryDirectory() as tmp:
        report = os.path.join(tmp, "r.json")
        env = {**os.environ, "PYTHONPATH": code + os.pathsep + os.environ.get("PYTHONPATH", "")}
        cmd = [sys.executable, "-m", "pytest", *tasks, *models, "--lm-no-cache", "--lm-max-examples=12",
               f"--lm-report={report}", "-q", "-p", "no:randomly", "-p", "no:cacheprovider", f"--rootdir={tmp}"]
        proc = subprocess.run(cmd, cwd=tmp, env=env, capture_output=True, text=True)
        if not os.path.exists(report):
            print(proc.stdout[-3000:] + proc.stderr[-3000:], file=sys.stderr)
            return 2
        with open(report, encoding="utf-8") as fh:
            data = normalized(json.load(fh), [code, SHARED, tmp])
    data["results"].sort(key=lambda r: (r["task"], r["model"], r["shots"]))
    with open(out, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=1, sort_keys=True)
    print(f"{out}: {len(data['results'])} results (pytest exit {proc.returncode}; code from {code})")
    return 0


def without_added(after: Any, before: Any) -> Any:
    """``after`` less the ``ADDED`` keys of each dict whose counterpart in ``before`` lacks them (dicts matched
    by key, lists by position; results are sorted alike by ``run``)."""
    if isinstance(after, dict) and isinstance(before, dict):
        return {k: without_added(v, before.get(k)) for k, v in after.items() if k in before or k not in ADDED}
    if isinstance(after, list) and isinstance(before, list):
        return [without_added(v, before[i] if i < len(before) else None) for i, v in enumerate(after)]
    return after


def compare(before: str, after: str) -> int:
    with open(before, encoding="utf-8") as fh:
        a = json.load(fh)
    with open(after, encoding="utf-8") as fh:
        b = without_added(json.load(fh), a)
    if a == b:
        print(f"identical: {len(a['results'])} results")
        return 0
    rows_a = {(r["task"], r["model"], r["shots"]): r for r in a["results"]}
    rows_b = {(r["task"], r["model"], r["shots"]): r for r in b["results"]}
    for key in sorted(set(rows_a) | set(rows_b)):
        ra, rb = rows_a.get(key), rows_b.get(key)
        if ra != rb:
            ra, rb = ra or {}, rb or {}
            fields = sorted(k for k in set(ra) | set(rb) if (k in ra) != (k in rb) or ra.get(k) != rb.get(k))
            print(f"differs: {key}: {fields}")
    for k in sorted(set(a) | set(b)):
        if k != "results" and a.get(k) != b.get(k):
            print(f"differs: report field {k}")
    return 1


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("out", nargs="?")
    ap.add_argument("--src", help="a checkout of the code to run (default: this one)")
    ap.add_argument("--no-smollm2", action="store_true")
    ap.add_argument("--compare", nargs=2, metavar=("BEFORE", "AFTER"))
    args = ap.parse_args()
    if args.compare:
        return compare(*args.compare)
    if not args.out:
        ap.error("OUT.json or --compare BEFORE AFTER")
    return run(args.out, args.src, not args.no_smollm2)


if __name__ == "__main__":
    sys.exit(main())
