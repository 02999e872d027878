"""Batched decoding in the llama.cpp backend (``smollm2?batch=N``) against one sequence at a time (``batch=1``,
the backend's path before batching, within 1% of a raw llama-cpp-python loop with prefix reuse:
docs/performance.md), on the benchmark sets of bench/bench_llamacpp.py: 167 generations of up to 64 tokens
(five generation-only tasks of ../shared/bigbench-tasks) and 324 multiple-choice examples (five
multiple-choice-only tasks). One process, the plugin's engine (``evaluate``), no answer cache; each setting gets
a fresh model, and the settings take turns over the repeats so that drift in machine load hits all alike.

Prints wall times and the agreement of each batch setting with batch=1: identical generations, the same
multiple-choice pick, and the largest and mean difference of option log-probabilities (0 where they agree bit for
bit, which is what the backend promises).

    python bench/bench_batch.py [--batches 1,4,8,16] [--repeat 1] [--set gen|mc|both]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path[:0] = [HERE, ROOT]

from bench_llamacpp import DEFAULT, GENERATIVE, SHARED  # noqa: E402

from pytest_lmbench.core.evaluate import evaluate  # noqa: E402
from pytest_lmbench.core.models.llamacpp import LlamaCppModel, smollm2_path  # noqa: E402
from pytest_lmbench.core.tasks.bigbench import load_task  # noqa: E402


def run(batch: int, files: list[str]) -> tuple[float, list]:
    model = LlamaCppModel(smollm2_path(), n_ctx=2048, n_threads=2, batch=batch)
    model.generate(["warm-up"], max_tokens=2)
    t0 = time.perf_counter()
    results = [evaluate(load_task(f), model, shots=0) for f in files]
    seconds = time.perf_counter() - t0
    model.close()
    return seconds, results


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batches", default="1,8,16")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--set", choices=("gen", "mc", "both"), default="both")
    args = ap.parse_args()
    batches = [int(b) for b in args.batches.split(",")]
    sets = {"gen": GENERATIVE, "mc": DEFAULT}
    for name in (("gen", "mc") if args.set == "both" else (args.set,)):
        files = [os.path.join(SHARED, t, "task.json") for t in sets[name]]
        times: dict[int, list[float]] = {b: [] for b in batches}
        outs: dict[int, list] = {}
        for _ in range(args.repeat):
            for b in batches:
                seconds, results = run(b, files)
                times[b].append(seconds)
                outs[b] = results
        base = outs[batches[0]]
        n = sum(len(r.examples) for r in base)
        print(f"{name}: {len(files)} tasks, {n} examples, 0-shot, SmolLM2 on {os.cpu_count()} cores")
        for b in batches:
            t = statistics.median(times[b])
            line = f"  batch={b:<3d} {t:7.2f} s  ({statistics.median(times[batches[0]]) / t:.2f}x batch={batches[0]})"
            pairs = [(x, y) for r0, r1 in zip(base, outs[b]) for x, y in zip(r0.examples, r1.examples)]
            if name == "gen":
                same = sum(x.raw_response == y.raw_response for x, y in pairs)
                line += f"  identical generations {same}/{len(pairs)} ({100 * same / len(pairs):.1f}%)"
            else:
                same = sum(x.chosen == y.chosen for x, y in pairs)
                diffs = [abs(a - c) for x, y in pairs for a, c in zip(x.log_probs or [], y.log_probs or [])]
                grades = [(r0.scores["multiple_choice_grade"], r1.scores["multiple_choice_grade"])
                          for r0, r1 in zip(base, outs[b])]
                line += (f"  same pick {same}/{len(pairs)}; |d log-prob| max {max(diffs):.2g} mean "
                         f"{statistics.mean(diffs):.2g}; grades {[round(g1, 4) for _, g1 in grades]}")
            print(line, flush=True)
        print("  runs (s):", {b: [round(x, 1) for x in v] for b, v in times.items()}, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
