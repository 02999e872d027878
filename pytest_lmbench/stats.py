"""Statistics for scores and gates: standard errors, intervals, paired tests, multiple-comparison control.

Pure numpy + math (no scipy at run time); every function is checked against scipy/statsmodels values in
tests/test_stats.py.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Sequence

import numpy as np

Z95 = 1.959963984540054  # two-sided 95%
Z95_ONE_SIDED = 1.6448536269514722  # one-sided 95%


# ------------------------------------------------------------------------------------- intervals

def mean_stderr(values: Sequence[float], clusters: Sequence[Hashable] | None = None) -> float | None:
    """Standard error of the mean: CLT with ddof=1, or cluster-robust (CR1) when examples share clusters.

    None when there are fewer than 2 values (or fewer than 2 clusters): no interval can be given.
    """
    x = np.asarray(values, dtype=np.float64)
    n = len(x)
    if n < 2:
        return None
    if clusters is None or len(set(clusters)) == n:
        return float(np.std(x, ddof=1) / math.sqrt(n))
    groups: dict[Hashable, float] = {}
    resid = x - x.mean()
    for r, g in zip(resid, clusters):
        groups[g] = groups.get(g, 0.0) + float(r)
    g_count = len(groups)
    if g_count < 2:
        return None
    var = g_count / (g_count - 1) * sum(s * s for s in groups.values()) / (n * n)
    return float(math.sqrt(var))


def wilson_interval(successes: float, n: int, z: float = Z95) -> tuple[float, float] | None:
    """Wilson score interval for a proportion (well-behaved at 0 and 1, unlike the normal interval)."""
    if n < 1:
        return None
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def bootstrap(statistic: Callable[[np.ndarray], float], n: int, *, clusters: Sequence[Hashable] | None = None,
              resamples: int = 1000, seed: int = 0, alpha: float = 0.05) -> tuple[float, float, float] | None:
    """(stderr, lower, upper) of ``statistic(indices)`` by the percentile bootstrap over examples (or over
    clusters of examples). Seeded: the same data give the same interval."""
    if n < 2:
        return None
    rng = np.random.default_rng(seed)
    if clusters is not None and len(set(clusters)) < n:
        members: dict[Hashable, list[int]] = {}
        for i, g in enumerate(clusters):
            members.setdefault(g, []).append(i)
        groups = list(members.values())
        if len(groups) < 2:
            return None
        draws = []
        for _ in range(resamples):
            picked = rng.integers(0, len(groups), size=len(groups))
            draws.append(statistic(np.concatenate([groups[k] for k in picked])))
    else:
        draws = [statistic(rng.integers(0, n, size=n)) for _ in range(resamples)]
    arr = np.asarray(draws, dtype=np.float64)
    lo, hi = np.quantile(arr, [alpha / 2, 1 - alpha / 2])
    return float(np.std(arr, ddof=1)), float(lo), float(hi)


def is_binary(values: Sequence[float]) -> bool:
    return len(values) > 0 and all(v in (0.0, 1.0) for v in values)


# ------------------------------------------------------------------------------------- distributions

def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the regularized incomplete beta function (modified Lentz)."""
    tiny, eps = 1e-300, 3e-16
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 400):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < eps:
            break
    return h


def betainc(a: float, b: float, x: float) -> float:
    """Regularized incomplete beta I_x(a, b)."""
    if x <= 0:
        return 0.0
    if x >= 1:
        return 1.0
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1) / (a + b + 2):
        return front * _betacf(a, b, x) / a
    return 1.0 - front * _betacf(b, a, 1 - x) / b


def t_sf(t: float, df: float) -> float:
    """P(T > t) for Student's t with ``df`` degrees of freedom."""
    tail = 0.5 * betainc(df / 2, 0.5, df / (df + t * t))
    return tail if t > 0 else 1.0 - tail


def normal_sf(z: float) -> float:
    return 0.5 * math.erfc(z / math.sqrt(2))


def t_quantile(p: float, df: float) -> float:
    """The t value with P(T <= t) = p (bisection on t_sf; used for small-sample intervals)."""
    lo, hi = -1e3, 1e3
    for _ in range(200):
        mid = (lo + hi) / 2
        if 1 - t_sf(mid, df) < p:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


# ------------------------------------------------------------------------------------- paired tests

def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value: ``b`` pairs right only for the baseline, ``c`` only for the candidate."""
    n = b + c
    if n == 0:
        return 1.0
    k = min(b, c)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2.0 ** n
    return min(1.0, 2 * tail)


def paired_t(differences: Sequence[float]) -> tuple[float, float, float] | None:
    """(mean difference, its standard error, two-sided p-value) of paired differences."""
    d = np.asarray(differences, dtype=np.float64)
    n = len(d)
    if n < 2:
        return None
    mean = float(d.mean())
    se = float(d.std(ddof=1) / math.sqrt(n))
    if se == 0:
        return mean, 0.0, (1.0 if mean == 0 else 0.0)
    t = mean / se
    return mean, se, min(1.0, 2 * t_sf(abs(t), n - 1))


def paired_bootstrap(statistic: Callable[[np.ndarray], tuple[float, float]], n: int, *, resamples: int = 1000,
                     seed: int = 0) -> tuple[float, float, float, float, float] | None:
    """For a corpus metric computed on both runs over the same resampled examples: ``statistic(indices)``
    returns (candidate, baseline). Gives (difference, stderr, two-sided p-value, lower, upper) of
    candidate - baseline, the p-value from the share of resamples on the other side of zero."""
    if n < 2:
        return None
    rng = np.random.default_rng(seed)
    everything = np.arange(n)
    cand, base = statistic(everything)
    observed = cand - base
    diffs = []
    for _ in range(resamples):
        c, b = statistic(rng.integers(0, n, size=n))
        diffs.append(c - b)
    arr = np.asarray(diffs)
    p = 2 * min(float(np.mean(arr <= 0)), float(np.mean(arr >= 0)))
    lo, hi = np.quantile(arr, [0.025, 0.975])
    return float(observed), float(arr.std(ddof=1)), min(1.0, p), float(lo), float(hi)


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values (same order as given)."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted = [0.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


def examples_needed(mean: float, sd: float, threshold: float, z: float = Z95_ONE_SIDED) -> int | None:
    """How many examples make a one-sided lower bound at ``mean`` with per-example ``sd`` clear ``threshold``
    (None when the mean itself does not clear it)."""
    gap = mean - threshold
    if gap <= 0:
        return None
    if sd == 0:
        return 2
    return max(2, math.ceil((z * sd / gap) ** 2))
