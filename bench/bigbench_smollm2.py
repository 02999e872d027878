"""SmolLM2 through pytest-lmbench vs SmolLM2 through BIG-bench 1.0.0's own evaluation code, 0-shot.

BIG-bench's side: its ``JsonTask.evaluate_model`` (from the PyPI sdist, see fetch_bigbench.py) driving
bench/raw_llama.py's BigBenchModel, a plain llama-cpp-python model written without pytest-lmbench code.
Our side: ``evaluate_all`` with the ``smollm2`` backend. Prints one row per (sub)task and the largest gap of
the preferred score, on a 0-1 scale (bleu/rouge/… divided by 100).

    python bench/bigbench_smollm2.py [--max-examples 20] [--held-out 8] [TASK.json ...]

Without task files: every task of ../shared/bigbench-tasks. ``--held-out K`` adds K tasks of the full release
that are not in ../shared (seeded choice, needs ``fetch_bigbench.py DEST --tasks``).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path[:0] = [HERE, os.path.join(ROOT, "tests"), ROOT]

from bigbench_reference import SHARED, reference_scores, reference_source, score_data, task_files  # noqa: E402
from raw_llama import BigBenchModel, ProtocolModel, RawLlama, smollm2_file  # noqa: E402

from pytest_lmbench.core.evaluate import evaluate_all  # noqa: E402
from pytest_lmbench.core.models.llamacpp import LlamaCppModel  # noqa: E402
from pytest_lmbench.core.tasks.bigbench import load_task  # noqa: E402


def compare(path: str, ours_model, raw: RawLlama, max_examples: int | None) -> list[dict]:
    """One row per (sub)task: BIG-bench's preferred score, ours, and the gap on a 0-1 scale.

    Without BIG-bench's code, the "bigbench" side is RawLlama behind pytest-lmbench's own task code
    (``ProtocolModel``), whose prompts and metrics the recorded conformance tests tie to BIG-bench's: the
    comparison is then of the model paths alone (batching, KV reuse, tokenization) against plain llama-cpp-python.
    """
    t0 = time.perf_counter()
    src = reference_source()
    if src is not None:
        reference, _ = reference_scores(src, path, lambda mu: BigBenchModel(raw, mu), [0], max_examples=max_examples)
    else:
        reference = score_data(evaluate_all(load_task(path), ProtocolModel(raw), shots=[0], max_examples=max_examples))
    t_ref = time.perf_counter() - t0
    t0 = time.perf_counter()
    ours = {(r.task, r.shots): r for r in evaluate_all(load_task(path), ours_model, shots=[0],
                                                      max_examples=max_examples)}
    t_ours = time.perf_counter() - t0
    rows = []
    for ref in reference:
        mine = ours[(ref["task"], ref["shots"])]
        metric = ref["preferred_score"]
        scale = 100.0 if (ref["high_score"] or 1.0) > 1.0 else 1.0
        a, b = ref["scores"][metric], mine.scores[metric]
        rows.append({"task": ref["task"], "metric": metric, "bigbench": a, "ours": b, "gap": abs(a - b) / scale,
                     "n": len(mine.examples), "seconds_bigbench": t_ref, "seconds_ours": t_ours})
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("tasks", nargs="*")
    ap.add_argument("--max-examples", type=int, default=20)
    ap.add_argument("--held-out", type=int, default=0)
    ap.add_argument("--no-shared", action="store_true", help="only the held-out tasks")
    ap.add_argument("--release", default=os.path.join(ROOT, ".lmbench", "bigbench-1.0.0"))
    ap.add_argument("--json", help="write the rows here")
    args = ap.parse_args()
    if reference_source() is None:
        print("BIG-bench reference code not found (bench/fetch_bigbench.py .lmbench): its side is plain "
              "llama-cpp-python behind pytest-lmbench's task code (see compare)", file=sys.stderr)
    files = args.tasks or ([] if args.no_shared else task_files(SHARED))
    if args.held_out:
        shared_names = {os.path.relpath(os.path.dirname(f), SHARED).split(os.sep)[0] for f in task_files(SHARED)}
        pool = [f for f in task_files(os.path.join(args.release, "bigbench", "benchmark_tasks"))
                if os.path.basename(os.path.dirname(f)) not in shared_names]
        files += random.Random(0).sample(pool, args.held_out)
    ours_model = LlamaCppModel(smollm2_file(), n_ctx=2048, n_threads=2)
    raw = RawLlama(smollm2_file(), n_ctx=2048, n_threads=2)
    rows = []
    for f in files:
        try:
            got = compare(f, ours_model, raw, args.max_examples)
        except Exception as exc:  # a task BIG-bench itself cannot run (e.g. needs bleurt): say so, go on
            print(f"{f}: skipped ({type(exc).__name__}: {str(exc)[:120]})", file=sys.stderr)
            continue
        for r in got:
            print(f"{r['task'][:48]:48s} {r['metric'][:22]:22s} n={r['n']:3d} bigbench={r['bigbench']:9.4f} "
                  f"ours={r['ours']:9.4f} gap={r['gap']:.4f}  "
                  f"({r['seconds_bigbench']:.1f} s / {r['seconds_ours']:.1f} s)",
                  flush=True)
        rows += got
    worst = max((r["gap"] for r in rows), default=0.0)
    print(f"{len(rows)} (sub)tasks, largest gap {worst:.4f} (0-1 scale)")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=1)
    return 0 if worst <= 0.03 else 1


if __name__ == "__main__":
    sys.exit(main())
