"""Record what BIG-bench 1.0.0's own code says about the shared tasks, as test data the conformance tests compare
with whether or not the reference code can be had (``tests/data/bigbench_reference.json``).

For every task of ``../shared/bigbench-tasks`` (subtasks through their parent), shot counts 0 and 1, all examples
and the first 7, with the scripted model of ``tests/scripted_model.py``: BIG-bench's ScoreData (every score,
the preferred score and its bounds) and a digest of the distinct prompts the model was shown. Where the release's
programmatic tasks are present too, BIG-bench's ScoreData of the 13 parity tasks of tests/test_programmatic.py
(8 and 32 examples, its own code driving them); without them, an earlier recording's are kept.

    python bench/record_bigbench_reference.py           # from BIG-bench's code (LMBENCH_BIGBENCH_SRC or
                                                        # .lmbench/bigbench-1.0.0, see fetch_bigbench.py)
    python bench/record_bigbench_reference.py --from-ours --verified "CI on COMMIT, DATE: ..."

With the reference code, the recording is BIG-bench's and needs nothing more; our own scores are compared too
and every difference is printed (exit 1 if any). ``--from-ours`` records pytest-lmbench's own scores instead,
for when the reference cannot be had: ``--verified`` must then say when this code was last compared with
BIG-bench's, and the recording is marked ``reverify`` until it is regenerated from the reference.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path[:0] = [os.path.join(ROOT, "tests"), ROOT]

from bigbench_reference import (  # noqa: E402
    MAX_EXAMPLES,
    RECORDING,
    SHARED,
    SHOTS,
    bigbench_scores,
    files_sha256,
    our_scores,
    prompts_digest,
    reference_source,
    run_key,
    score_differences,
    scripted_model_sha256,
    task_family,
    task_files,
)
from programmatic_reference import PARITY, PARITY_MAX_EXAMPLES, run_reference, tasks_dir  # noqa: E402


def _commit() -> str:
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout.strip()

    head = git("rev-parse", "HEAD") or "unknown"
    dirty = git("status", "--porcelain", "--", "pytest_lmbench")
    return head + (" (with uncommitted changes under pytest_lmbench/)" if dirty else "")


def _programmatic(out: str) -> dict:
    """BIG-bench's own ScoreData for the programmatic parity tasks (tests/test_programmatic.py), driven by its own
    code, where the release's tasks are present; else what an earlier recording holds (their code is not in the
    repository, so only a machine with the release can record them)."""
    if tasks_dir() is None:
        try:
            with open(out, encoding="utf-8") as fh:
                return json.load(fh).get("programmatic", {})
        except FileNotFoundError:
            return {}
    return {f"{name}@{n}": run_reference(name, cls, n) for name, cls in PARITY.items() for n in PARITY_MAX_EXAMPLES}


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--shared", default=SHARED, help="the task folder (default ../shared/bigbench-tasks)")
    ap.add_argument("--out", default=RECORDING)
    ap.add_argument("--from-ours", action="store_true", help="record pytest-lmbench's scores (no reference code)")
    ap.add_argument("--verified", help="with --from-ours: when this code was last compared with BIG-bench's own")
    ap.add_argument("--task", action="append", default=[], metavar="DIR",
                    help="record only these task folders (repeatable; a partial recording, for trying the script)")
    args = ap.parse_args()
    src = None if args.from_ours else reference_source()
    if src is None and not args.from_ours:
        print("BIG-bench's reference code was not found (bench/fetch_bigbench.py .lmbench, or LMBENCH_BIGBENCH_SRC); "
              "--from-ours records pytest-lmbench's own scores instead", file=sys.stderr)
        return 2
    if args.from_ours and not args.verified:
        print("--from-ours needs --verified: when this code was last compared with BIG-bench's own code",
              file=sys.stderr)
        return 2
    files = [f for f in task_files(args.shared) if not args.task or os.path.basename(os.path.dirname(f)) in args.task]
    if not files:
        print(f"{args.shared}: no task.json files", file=sys.stderr)
        return 2
    runs: dict[str, dict] = {}
    problems: list[str] = []
    for path in files:
        for max_examples in MAX_EXAMPLES:
            ours, our_prompts = our_scores(path, max_examples)
            if src is not None:
                scores, prompts = bigbench_scores(src, path, max_examples)
                found = score_differences(ours, scores)
                if prompts_digest(prompts) != prompts_digest(our_prompts):
                    found.append("the prompts differ")
                problems += [f"{run_key(path, max_examples, args.shared)}: {p}" for p in found]
            else:
                scores, prompts = ours, our_prompts
            runs[run_key(path, max_examples, args.shared)] = {
                "task_files_sha256": files_sha256(task_family(path)), "max_examples": max_examples,
                "score_data": scores, "prompts": prompts_digest(prompts)}
    programmatic = _programmatic(args.out)
    today = datetime.date.today().isoformat()
    if src is not None:
        header = {"source": "BIG-bench 1.0.0's own code (bigbench/api/json_task.py, task_metrics.py)",
                  "reference_code": src, "recorded": today, "reverify": False}
    else:
        header = {"source": "pytest-lmbench's own code, not BIG-bench's: the reference could not be had",
                  "commit": _commit(), "recorded": today, "verified": args.verified, "reverify": True,
                  "how_to_reverify": "with BIG-bench 1.0.0's code present (bench/fetch_bigbench.py), the conformance "
                                     "tests compare this recording with it; python bench/record_bigbench_reference.py "
                                     "then records BIG-bench's own scores"}
    header.update({"what": "BIG-bench's ScoreData and a digest of the prompts for every shared task, with "
                           "tests/scripted_model.py as the model; compared by tests/test_bigbench_conformance.py",
                   "regenerate": "python bench/record_bigbench_reference.py",
                   "shots": SHOTS, "scripted_model_sha256": scripted_model_sha256()})
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out + ".part", "w", encoding="utf-8") as fh:
        json.dump({"header": header, "runs": runs, **({"programmatic": programmatic} if programmatic else {})}, fh,
                  indent=1, sort_keys=True)
        fh.write("\n")
    os.replace(args.out + ".part", args.out)
    print(f"{args.out}: {len(runs)} runs of {len(files)} tasks ({header['source']})")
    for p in problems:
        print("differs:", p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
