"""Do the intervals of the repeat reducers cover at their nominal 95%?

Simulates tasks answered K times per example and feeds them through the plugin's own code: the reducers
(``repeats.reduce_repeats``: mean@K, maj@K, pass@k, pass^k) and the error bars (``pipeline.finish_result``:
mean@K with the samples of an example as one cluster, the others over examples). Example i is right with
probability p_i on every sample, p_i drawn from a Beta distribution (examples differ: some easy, some hard, as
in real tasks). The true value of each reducer is its expectation over that population:

- mean@K: E[p];  pass@k: E[1 - (1 - p)^k];  pass^k: E[p^k];
- maj@K with right/wrong answers (one wrong answer): E[P(more than K/2 right) + P(exactly K/2 right) / 2] (a
  2-2 tie goes to the answer given first, right half the time).

The naive interval that treats the n*K samples as independent is shown for mean@K: it is too narrow, which
is why the samples of an example are a cluster.

Run:  python bench/repeats_coverage.py [--runs 2000] [--n 30 100] [--k 4 8]
"""

from __future__ import annotations

import argparse
import math

import numpy as np

from pytest_lmbench.core import stats as S
from pytest_lmbench.core.pipeline import finish_result
from pytest_lmbench.core.repeats import Repeats, reduce_repeats
from pytest_lmbench.core.results import ExampleResult
from pytest_lmbench.core.scoring import metrics as M

POPULATIONS = {"easy and hard (Beta 0.5, 0.5)": (0.5, 0.5), "middling (Beta 4, 3)": (4.0, 3.0)}


def true_values(a: float, b: float, k: int, ks: list[int]) -> dict[str, float]:
    """The reducers' expectations over p ~ Beta(a, b), by numerical integration."""
    p = np.linspace(0.0, 1.0, 200_001)[1:-1]
    density = np.exp((a - 1) * np.log(p) + (b - 1) * np.log1p(-p) - (math.lgamma(a) + math.lgamma(b)
                                                                        - math.lgamma(a + b)))
    w = density / density.sum()
    majority = sum(math.comb(k, x) * p ** x * (1 - p) ** (k - x) for x in range(k // 2 + 1, k + 1))
    if k % 2 == 0:
        majority = majority + 0.5 * math.comb(k, k // 2) * (p * (1 - p)) ** (k // 2)
    out = {f"mean@{k}": float(w @ p), f"maj@{k}": float(w @ majority)}
    for j in ks:
        out[f"pass@{j}"] = float(w @ (1 - (1 - p) ** j))
        if j > 1:  # pass^1 is pass@1
            out[f"pass^{j}"] = float(w @ p ** j)
    return out


def one_run(rng: np.random.Generator, n: int, k: int, a: float, b: float, repeats: Repeats) -> tuple[dict, float]:
    """(the result's error bars by reducer, the naive half-width of mean@K)."""
    p = rng.beta(a, b, size=n)
    right = rng.random((n, k)) < p[:, None]
    examples = [ExampleResult(id=f"e{i}", index=i, prompt="", targets=["right"],
                              samples=[{"response": "right" if r else "wrong", "score": float(r), "correct": bool(r)}
                                       for r in row]) for i, row in enumerate(right)]
    values = M.MetricValues(scores={"exact_str_match": float(right.mean())},
                            per_example={"exact_str_match": [float(x) for x in right.mean(axis=1)]})
    info = reduce_repeats("exact_str_match", repeats, examples, values, [], binary=True)
    result = finish_result(task="sim", model="m", shots=0, examples=examples, scores=values.scores,
                           per_example={m: dict(enumerate(v)) for m, v in values.per_example.items()},
                           preferred="exact_str_match", low=0.0, high=1.0, path=None, started=0.0, repeats=info)
    naive = S.mean_stderr([float(x) for x in right.ravel()])
    return {m: (result.scores[m], result.errors.get(m, {}).get("ci95")) for m in result.scores}, 1.96 * (naive or 0.0)


def coverage(runs: int, n: int, k: int, a: float, b: float, seed: int = 0) -> tuple[dict[str, float], float]:
    """(share of runs whose interval holds the true value, by reducer; the naive interval's share for mean@K)."""
    rng = np.random.default_rng(seed)
    repeats = Repeats(k=k, pass_at=(1, 2, k))
    truth = true_values(a, b, k, repeats.ks())
    hits = {m: 0 for m in truth}
    naive_hits = 0
    for _ in range(runs):
        bars, naive = one_run(rng, n, k, a, b, repeats)
        for m, want in truth.items():
            ci = bars[m][1]
            hits[m] += ci is not None and ci[0] <= want <= ci[1]
        naive_hits += abs(bars[f"mean@{k}"][0] - truth[f"mean@{k}"]) <= naive
    return {m: h / runs for m, h in hits.items()}, naive_hits / runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=2000)
    parser.add_argument("--n", type=int, nargs="+", default=[30, 100])
    parser.add_argument("--k", type=int, nargs="+", default=[4, 8])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(f"coverage of the 95% intervals over {args.runs} simulated tasks each (target 0.95; Monte Carlo "
          f"error about ±{1.96 * math.sqrt(0.95 * 0.05 / args.runs):.3f})\n")
    for i, (label, (a, b)) in enumerate(POPULATIONS.items()):
        for n in args.n:
            for k in args.k:
                shares, naive = coverage(args.runs, n, k, a, b, seed=args.seed + 1000 * i + 10 * n + k)
                cells = "  ".join(f"{m} {v:.3f}" for m, v in shares.items())
                print(f"{label:32s} n={n:<4d} K={k:<2d} {cells}  | naive mean@{k} {naive:.3f}")

if __name__ == "__main__":
    main()
