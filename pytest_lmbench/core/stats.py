"""Statistics for scores and gates: standard errors, intervals, paired tests, multiple-comparison control.

Pure numpy + math (no scipy at run time); every function is checked against scipy/statsmodels values in
tests/test_stats.py.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass

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
    # at p = 0 or 1 one end is p itself, which centre -/+ half only reaches up to rounding (2.8e-17 for 0/12)
    return max(0.0, min(p, centre - half)), min(1.0, max(p, centre + half))


def logit(p: float) -> float:
    return math.log(p / (1.0 - p))


def expit(x: float) -> float:
    """The inverse of ``logit``, without overflow for large |x|."""
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


def logit_stderr(mean: float, se: float, low: float, high: float) -> float | None:
    """Standard error of logit((mean - low) / (high - low)) by the delta method: se / ((high - low) z (1 - z));
    None at a bound, where the logit is infinite."""
    span = high - low
    z = (mean - low) / span
    if not 0.0 < z < 1.0:
        return None
    return se / (span * z * (1.0 - z))


def logit_interval(mean: float, se: float, low: float, high: float, z: float = Z95) -> tuple[float, float]:
    """Interval for a mean that lies in [low, high]: mean +/- z se on the logit scale of (mean - low) /
    (high - low), mapped back (delta method). Unlike mean +/- z se it never leaves the bounds, and it is
    lopsided towards the middle near a bound, as the sampling distribution is. se = 0: the point. A mean at a
    bound with se > 0 (no logit; not a mean of values inside the bounds) gets mean +/- z se clipped to them."""
    point = min(high, max(low, float(mean)))
    if se == 0:
        return point, point
    se_logit = logit_stderr(point, se, low, high)
    if se_logit is None:
        return max(low, point - z * se), min(high, point + z * se)
    span = high - low
    centre = logit((point - low) / span)
    lo = low + span * expit(centre - z * se_logit)
    hi = low + span * expit(centre + z * se_logit)
    # low + span * expit(...) can round past a bound, or past the mean when se is tiny
    return max(low, min(lo, point)), min(high, max(hi, point))


def mean_interval(mean: float, se: float, bounds: Sequence[float] | None, z: float = Z95) -> tuple[float, float]:
    """The interval of a mean with standard error ``se``: ``logit_interval`` between ``bounds`` (the values
    the mean can take), or mean +/- z se when it is unbounded (None)."""
    if bounds is None:
        return mean - z * se, mean + z * se
    return logit_interval(mean, se, float(bounds[0]), float(bounds[1]), z)


def bootstrap(statistic: Callable[[np.ndarray], float], n: int, *, clusters: Sequence[Hashable] | None = None,
              resamples: int = 1000, seed: int = 0, alpha: float = 0.05,
              drop_undefined: bool = False) -> tuple[float, float, float] | None:
    """(stderr, lower, upper) of ``statistic(indices)`` by the percentile bootstrap over examples (or over
    clusters of examples). Seeded: the same data give the same interval. ``drop_undefined``: resamples whose
    statistic is NaN (an agreement of units that all share one value) are left out, and there is no interval
    when more than half of them are."""
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
    if drop_undefined:
        arr = arr[~np.isnan(arr)]
        if len(arr) * 2 < resamples:
            return None
    lo, hi = np.quantile(arr, [alpha / 2, 1 - alpha / 2])
    return float(np.std(arr, ddof=1)), float(lo), float(hi)


def bootstrap_weighted(statistic: Callable[[np.ndarray], np.ndarray], n: int, *,
                       clusters: Sequence[Hashable] | None = None, resamples: int = 1000, seed: int = 0,
                       alpha: float = 0.05) -> tuple[float, float, float] | None:
    """``bootstrap`` for statistics that take every resample at once: ``statistic(W)`` gets a (resamples x n)
    matrix of how often each example was drawn and returns one value per row. Same draws, same seeds, far
    fewer Python calls (used for the calibration errors, whose point estimates are weighted sums)."""
    out = bootstrap_weighted_many({"": statistic}, n, clusters=clusters, resamples=resamples, seed=seed, alpha=alpha)
    return out[""]


def bootstrap_weighted_many(statistics: dict[str, Callable[[np.ndarray], np.ndarray]], n: int, *,
                            clusters: Sequence[Hashable] | None = None, resamples: int = 1000, seed: int = 0,
                            alpha: float = 0.05) -> dict[str, tuple[float, float, float] | None]:
    """``bootstrap_weighted`` of several statistics of the same examples on the same resamples (each gets the
    numbers it would get alone: same seed, same draws), drawing the weights once."""
    if n < 2:
        return dict.fromkeys(statistics)
    rng = np.random.default_rng(seed)
    ids = {g: k for k, g in enumerate(dict.fromkeys(clusters))} if clusters is not None else {}
    if clusters is not None and len(ids) < n:
        if len(ids) < 2:
            return dict.fromkeys(statistics)
        membership = np.zeros((len(ids), n))
        membership[[ids[g] for g in clusters], np.arange(n)] = 1.0
    # resamples in blocks of about 4 million weights: large tasks stay within tens of megabytes
    block = max(1, min(resamples, 4_000_000 // max(1, n)))
    values: dict[str, list[np.ndarray]] = {name: [] for name in statistics}
    for start in range(0, resamples, block):
        rows = min(block, resamples - start)
        if clusters is not None and len(ids) < n:
            weights = _row_counts(rng.integers(0, len(ids), size=(rows, len(ids))), len(ids)) @ membership
        else:
            weights = _row_counts(rng.integers(0, n, size=(rows, n)), n)
        for name, statistic in statistics.items():
            values[name].append(np.asarray(statistic(weights), dtype=np.float64))
    out: dict[str, tuple[float, float, float] | None] = {}
    for name, parts in values.items():
        arr = np.concatenate(parts)
        lo, hi = np.quantile(arr, [alpha / 2, 1 - alpha / 2])
        out[name] = (float(np.std(arr, ddof=1)), float(lo), float(hi))
    return out


def _row_counts(draws: np.ndarray, n: int) -> np.ndarray:
    rows = draws.shape[0]
    flat = (draws + (np.arange(rows) * n)[:, None]).ravel()
    return np.bincount(flat, minlength=rows * n).reshape(rows, n).astype(np.float64)


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


def normal_quantile(p: float) -> float:
    """The z with P(Z <= z) = p (bisection on the complementary error function)."""
    lo, hi = -40.0, 40.0
    for _ in range(200):
        mid = (lo + hi) / 2
        if 1 - normal_sf(mid) < p:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


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


def mcnemar_one_sided(worse: int, better: int) -> float:
    """Exact one-sided McNemar p-value that the candidate is worse: P(X >= worse) for X ~ Bin(worse + better,
    1/2), where ``worse`` pairs are right only for the baseline and ``better`` only for the candidate."""
    n = worse + better
    if n == 0:
        return 1.0
    return min(1.0, sum(math.comb(n, i) for i in range(worse, n + 1)) / 2.0 ** n)


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


@dataclass(frozen=True)
class PairedTest:
    """Candidate minus baseline on matched examples: the difference, its standard error and 95% interval,
    the two-sided p-value of "no difference", and the one-sided p-value of "the candidate is worse by more
    than the margin" (what a regression gate tests)."""

    delta: float
    stderr: float | None
    ci95: tuple[float, float] | None
    p_two_sided: float
    p_worse: float
    method: str
    n: int


def _t_test(mean: float, se: float, df: float, margin: float, method: str, n: int) -> PairedTest:
    if se == 0:
        two = 1.0 if mean == 0 else 0.0
        worse = 0.0 if mean < -margin else 1.0
        return PairedTest(mean, 0.0, (mean, mean), two, worse, method, n)
    q = t_quantile(0.975, df)
    t_two = mean / se
    return PairedTest(mean, se, (mean - q * se, mean + q * se), min(1.0, 2 * t_sf(abs(t_two), df)),
                      1.0 - t_sf((mean + margin) / se, df), method, n)


def paired_binary(baseline: Sequence[float], candidate: Sequence[float], margin: float = 0.0) -> PairedTest | None:
    """0/1 scores on the same examples. With no margin the p-values are exact McNemar (the binomial test on
    the discordant pairs); a margin > 0 has no exact McNemar form, so the one-sided p-value is the paired t."""
    n = len(baseline)
    if n < 2:
        return None
    worse = sum(1 for b, c in zip(baseline, candidate) if b > c)
    better = sum(1 for b, c in zip(baseline, candidate) if c > b)
    d = [c - b for b, c in zip(baseline, candidate)]
    mean, se = float(np.mean(d)), float(np.std(d, ddof=1) / math.sqrt(n))
    t = _t_test(mean, se, n - 1, margin, "mcnemar" if margin == 0 else "paired-t", n)
    p_two = mcnemar_exact(worse, better)
    p_worse = mcnemar_one_sided(worse, better) if margin == 0 else t.p_worse
    return PairedTest(mean, se, t.ci95, p_two, p_worse, t.method, n)


def paired_continuous(baseline: Sequence[float], candidate: Sequence[float], margin: float = 0.0,
                      clusters: Sequence[Hashable] | None = None) -> PairedTest | None:
    """Continuous per-example scores on the same examples: paired t (cluster-robust with clusters, with
    (clusters - 1) degrees of freedom)."""
    d = [float(c) - float(b) for b, c in zip(baseline, candidate)]
    n = len(d)
    se = mean_stderr(d, clusters)
    if se is None:
        return None
    df = (len(set(clusters)) - 1) if clusters is not None and len(set(clusters)) < n else n - 1
    return _t_test(float(np.mean(d)), se, df, margin, "paired-t-clustered" if df < n - 1 else "paired-t", n)


def paired_bootstrap(statistic: Callable[[np.ndarray], tuple[float, float]], n: int, *, margin: float = 0.0,
                     resamples: int = 1000, seed: int = 0) -> PairedTest | None:
    """For a corpus metric computed on both runs over the same resampled examples: ``statistic(indices)``
    returns (candidate, baseline). The p-values come from the share of resampled differences on the far
    side of zero (two-sided) or of -margin (worse)."""
    if n < 2:
        return None
    rng = np.random.default_rng(seed)
    cand, base = statistic(np.arange(n))
    diffs = []
    for _ in range(resamples):
        c, b = statistic(rng.integers(0, n, size=n))
        diffs.append(c - b)
    arr = np.asarray(diffs)
    p_two = min(1.0, 2 * min(float(np.mean(arr <= 0)), float(np.mean(arr >= 0))))
    lo, hi = np.quantile(arr, [0.025, 0.975])
    return PairedTest(float(cand - base), float(arr.std(ddof=1)), (float(lo), float(hi)), p_two,
                      float(np.mean(arr >= -margin)), "paired-bootstrap", n)


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


def paired_sample_size(delta: float, sd: float, *, alpha: float = 0.05, power: float = 0.8,
                       two_sided: bool = True) -> float:
    """Examples needed for a paired test to detect a mean difference ``delta`` when per-example differences
    have standard deviation ``sd`` (normal approximation): ((z_alpha + z_power) * sd / delta)^2."""
    z_alpha = normal_quantile(1 - alpha / 2 if two_sided else 1 - alpha)
    return ((z_alpha + normal_quantile(power)) * sd / delta) ** 2
