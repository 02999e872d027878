"""A real ``inspect_evals`` task that ships its data, as a pytest item on SmolLM2: ``writingbench`` (1,000 writing
requests in the package's own ``benchmark_all.jsonl``, each graded on five checklist items by a judge model given
as the task argument ``judge_model``). Here the judge is SmolLM2 in chat form, named to Inspect as
``lmbench/smollm2?chat=1`` and loaded through pytest-lmbench's registry and answer cache.

Needs ``pip install inspect-evals`` (not a dependency of the project: nothing in the test suite needs it). Runs
pytest in a temporary directory with a cold answer cache, then again with the warm one, and prints the item's
outcome, its scores or error, the two wall times and what the candidate and the judge used.

    python bench/bench_inspect_evals.py [--examples 2] [--max-tokens 64]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time


def run(workdir: str, examples: int, max_tokens: int) -> tuple[float, dict]:
    report = os.path.join(workdir, "report.json")
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "pytest", "--lm-inspect-task=inspect_evals/writingbench",
                    "--lm-model=smollm2", f"--lm-max-examples={examples}", f"--lm-max-tokens={max_tokens}",
                    "--lm-inspect-arg=judge_model=lmbench/smollm2?chat=1", f"--lm-report={report}",
                    "--lm-cache-dir=cache", "-p", "no:randomly", "-q"], cwd=workdir, check=False,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    elapsed = time.perf_counter() - started
    with open(report, encoding="utf-8") as fh:
        [result] = json.load(fh)["results"]
    return elapsed, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=2)
    parser.add_argument("--max-tokens", type=int, default=64)
    args = parser.parse_args()
    try:
        import inspect_evals  # noqa: F401
    except ImportError:
        sys.exit("inspect_evals is not installed: pip install inspect-evals")
    with tempfile.TemporaryDirectory() as workdir:
        for name in ("cold cache", "warm cache"):
            elapsed, result = run(workdir, args.examples, args.max_tokens)
            usage = result.get("usage") or {}
            judge = (usage.get("roles") or {}).get("judge", {})
            print(f"{name}: {elapsed:.1f} s, outcome {result['outcome']}, n={result['n_examples']}")
            print(f"  scores: {result['scores'] or '-'}")
            if result.get("message"):
                print(f"  message: {result['message'][:300]}")
            print(f"  candidate: {usage.get('model_calls')} calls, {usage.get('prompt_tokens')} + "
                  f"{usage.get('generated_tokens')} tokens, {usage.get('cache_hits')} from the cache; judge: "
                  f"{judge.get('model_calls')} calls, {judge.get('cache_hits')} from the cache")


if __name__ == "__main__":
    main()
