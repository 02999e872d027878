"""How often does the baseline gate (--lm-baseline) fail a run by chance, and how often does it catch a real drop?

Simulates pairs of runs on the same examples and feeds them through the plugin's own comparison code
(pytest_lmbench.core.compare: example matching by id, the paired test, Holm across items, the verdict):

- false alarms: two runs of the *same* model. A greedy model gives identical runs (trivially no alarm), so
  the model here samples: example i is right with probability p_i in every run, and p_i varies over examples
  (some are easy, some hard) as it does for real tasks. The gate must fail at most alpha of the time, per item
  and over a family of items (Holm).
- power: the candidate is 10 points worse on average over 200 examples.

See ``pair`` for the scenarios (greedy models with run-to-run noise; sampling models with easy and hard
examples; the worst case of identical examples).

Run:  python bench/gate_simulation.py [--runs 2000] [--n 200] [--alpha 0.05]
"""

from __future__ import annotations

import argparse
import zlib

import numpy as np

from pytest_lmbench.core import stats as S
from pytest_lmbench.core.compare import apply_holm, compare
from pytest_lmbench.core.results import ExampleResult, TaskResult


def _result(correct: np.ndarray, task: str) -> TaskResult:
    examples = [ExampleResult(id=f"{task}-{i}", index=i, prompt="", targets=["a"], response="a" if c else "b",
                              scores={"exact_str_match": float(c)}, score=float(c)) for i, c in enumerate(correct)]
    return TaskResult(task=task, model="m", shots=0, n_examples=len(correct),
                      scores={"exact_str_match": float(correct.mean())}, preferred_score="exact_str_match",
                      low_score=0.0, high_score=1.0, examples=examples)


FLIP = 0.02  # run-to-run nondeterminism of a greedy model (batching, kernels): answers that change on a rerun
SAMPLED = {"polarized": (0.7, 0.3), "spread": (2.8, 1.2), "homogeneous": None}


def pair(rng: np.random.Generator, n: int, scenario: str, points: float) -> tuple[np.ndarray, np.ndarray]:
    """(baseline, candidate) right/wrong vectors on the same n examples, the candidate ``points`` worse.

    greedy, churn c: each model has one answer per example (70% right); a rerun changes each answer with
    probability FLIP. The examples are a sample from a population in which a worse candidate gets wrong
    (points + c) of all examples that the baseline gets right, and right c of all that it gets wrong: net
    -points, with churn both ways as a real model change has.
    sampled, polarized | spread | homogeneous: example i is right with probability p_i in every run
    (temperature > 0). polarized: p_i ~ Beta(0.7, 0.3), most examples nearly always right or nearly always
    wrong; spread: Beta(2.8, 1.2); homogeneous: every p_i = 0.7, no example effects at all (the worst case
    for any paired test). A worse candidate's p_i are scaled down to a mean ``points`` lower.
    """
    kind, _, detail = scenario.partition(", ")
    if kind == "greedy":
        churn = float(detail.split()[-1].rstrip("%")) / 100
        truth = rng.random(n) < 0.7
        cand_truth = truth.copy()
        if points:  # each example of the population breaks or gets fixed independently
            breaks = rng.random(n) < (points + churn) / 0.7
            fixes = rng.random(n) < churn / 0.3
            cand_truth = np.where(truth, ~breaks, fixes)
        flip = lambda v: v ^ (rng.random(n) < FLIP)  # noqa: E731
        return flip(truth), flip(cand_truth)
    shape = SAMPLED[detail]
    p = np.full(n, 0.7) if shape is None else rng.beta(*shape, size=n)
    q = np.clip(p * (1 - points / p.mean()), 0, 1) if points else p
    return rng.random(n) < p, rng.random(n) < q


def unpaired_worse(base: np.ndarray, cand: np.ndarray, alpha: float) -> bool:
    """What an unpaired comparison of the two accuracies would say (one-sided two-proportion z-test): the
    evidence a harness throws away when it ignores that both runs saw the same examples."""
    n = len(base)
    pooled = (base.sum() + cand.sum()) / (2 * n)
    se = np.sqrt(max(pooled * (1 - pooled) * 2 / n, 1e-12))
    return bool((base.mean() - cand.mean()) / se > S.normal_quantile(1 - alpha))


def simulate(runs: int, n: int, scenario: str, points: float, items: int, alpha: float, seed: int
             ) -> tuple[float, float]:
    """Share of runs in which at least one of ``items`` compared items is declared regressed: by the gate,
    and by an unpaired test (one item only)."""
    rng = np.random.default_rng(seed)
    alarms = unpaired = 0
    for _ in range(runs):
        comparisons = []
        for k in range(items):
            base, cand = pair(rng, n, scenario, points)
            comparisons.append(compare(_result(cand, f"t{k}"), _result(base, f"t{k}"), against="base"))
            unpaired += items == 1 and unpaired_worse(base, cand, alpha)
        apply_holm(comparisons, alpha)
        alarms += any(c.verdict == "regressed" for c in comparisons)
    return alarms / runs, unpaired / runs


SCENARIOS = ("greedy, churn 0%", "greedy, churn 2%", "greedy, churn 5%", "greedy, churn 10%", "sampled, polarized",
             "sampled, spread", "sampled, homogeneous")


def examples_for_power(scenario: str, alpha: float, power: float = 0.95, draws: int = 200) -> int:
    """Examples a paired test needs to catch the 10-point drop with ``power`` (normal approximation, with the
    spread of per-example differences measured on simulated pairs)."""
    rng = np.random.default_rng(7)
    sd = np.mean([np.std(c.astype(float) - b.astype(float), ddof=1)
                  for b, c in (pair(rng, 1000, scenario, 0.10) for _ in range(draws))])
    return int(np.ceil(S.paired_sample_size(0.10, float(sd), alpha=alpha, power=power, two_sided=False)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=2000, help="simulated run pairs per one-item cell")
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--alpha", type=float, default=0.05)
    args = parser.parse_args()
    family = max(1, args.runs // 4)
    print(f"n = {args.n} examples per item, alpha = {args.alpha}; the share of runs in which the gate fails "
          f"(95% Monte Carlo interval); {args.runs} simulated run pairs per cell, {family} for 10 items")
    print()
    print("| scenario | same model, 1 item | same model, 10 items (Holm) | 10-point drop | "
          "10-point drop, unpaired test | examples for 95% power |")
    print("|---|---|---|---|---|---|")

    def cell(rate: float, runs: int) -> str:
        half = 1.96 * np.sqrt(max(rate * (1 - rate), 1e-12) / runs)
        return f"{rate:.3f} ({max(0.0, rate - half):.3f}-{min(1.0, rate + half):.3f})"

    for scenario in SCENARIOS:
        seed = zlib.crc32(scenario.encode())
        null1, _ = simulate(args.runs, args.n, scenario, 0.0, 1, args.alpha, seed)
        null10, _ = simulate(family, args.n, scenario, 0.0, 10, args.alpha, seed + 1)
        power, unpaired = simulate(args.runs, args.n, scenario, 0.10, 1, args.alpha, seed + 2)
        print(f"| {scenario} | {cell(null1, args.runs)} | {cell(null10, family)} | {cell(power, args.runs)} | "
              f"{cell(unpaired, args.runs)} | {examples_for_power(scenario, args.alpha)} |", flush=True)


if __name__ == "__main__":
    main()
