"""pytest_lmbench.core.stats against scipy and hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pytest_lmbench.core import stats as S

scipy_stats = pytest.importorskip("scipy.stats")


def test_mean_stderr_plain_and_clustered() -> None:
    x = [1.0, 0.0, 1.0, 1.0, 0.0, 1.0]
    assert S.mean_stderr(x) == pytest.approx(np.std(x, ddof=1) / math.sqrt(6))
    assert S.mean_stderr([1.0]) is None and S.mean_stderr([]) is None
    # clusters: CR1 by hand. residuals r = x - 2/3; cluster sums s_g; var = G/(G-1) * sum s_g^2 / n^2
    clusters = ["a", "a", "b", "b", "c", "c"]
    r = np.array(x) - np.mean(x)
    sums = [r[0] + r[1], r[2] + r[3], r[4] + r[5]]
    want = math.sqrt(3 / 2 * sum(s * s for s in sums) / 36)
    assert S.mean_stderr(x, clusters) == pytest.approx(want)
    assert S.mean_stderr(x, ["a"] * 6) is None  # one cluster: no interval
    assert S.mean_stderr(x, list(range(6))) == pytest.approx(S.mean_stderr(x))


def test_wilson_matches_the_formula_and_statsmodels_values() -> None:
    # statsmodels proportion_confint(7, 10, method="wilson") = (0.3967781, 0.8922087)
    lo, hi = S.wilson_interval(7, 10)
    assert (lo, hi) == pytest.approx((0.3967781, 0.8922087), abs=1e-6)
    lo, hi = S.wilson_interval(0, 20)
    assert lo == 0.0 and hi == pytest.approx(0.1611252, abs=1e-6)
    assert S.wilson_interval(0, 0) is None
    for n in range(1, 60):  # the ends at 0/n and n/n are exactly the point, not off by rounding
        assert S.wilson_interval(0, n)[0] == 0.0 and S.wilson_interval(n, n)[1] == 1.0


def test_t_distribution_and_betainc_match_scipy() -> None:
    for t, df in [(0.5, 3), (2.0, 10), (-1.3, 7), (4.0, 2), (1.96, 1000)]:
        assert S.t_sf(t, df) == pytest.approx(scipy_stats.t.sf(t, df), rel=1e-9, abs=1e-12)
    from scipy.special import betainc

    for a, b, x in [(2, 3, 0.4), (0.5, 0.5, 0.9), (10, 1, 0.95)]:
        assert S.betainc(a, b, x) == pytest.approx(betainc(a, b, x), rel=1e-9)
    assert S.t_quantile(0.975, 9) == pytest.approx(scipy_stats.t.ppf(0.975, 9), abs=1e-6)


def test_paired_tests_match_scipy() -> None:
    rng = np.random.default_rng(1)
    a, b = rng.normal(0.5, 0.2, 30), rng.normal(0.45, 0.2, 30)
    mean, se, p = S.paired_t(a - b)
    ref = scipy_stats.ttest_rel(a, b)
    assert p == pytest.approx(ref.pvalue, rel=1e-8)
    assert mean / se == pytest.approx(ref.statistic, rel=1e-10)
    # exact McNemar = two-sided binomial test on the discordant pairs
    assert S.mcnemar_exact(2, 9) == pytest.approx(scipy_stats.binomtest(2, 11, 0.5).pvalue)
    assert S.mcnemar_exact(5, 5) == 1.0 and S.mcnemar_exact(0, 0) == 1.0


def test_one_sided_paired_tests_match_scipy() -> None:
    # one-sided McNemar = binomial test, alternative "greater" on the pairs the candidate got wrong
    assert S.mcnemar_one_sided(9, 2) == pytest.approx(scipy_stats.binomtest(9, 11, 0.5, "greater").pvalue)
    rng = np.random.default_rng(2)
    base, cand = rng.normal(0.5, 0.2, 40), rng.normal(0.45, 0.2, 40)
    # "worse by more than 0.02": H1 mean(cand - base) < -0.02
    ref = scipy_stats.ttest_1samp(cand - base, -0.02, alternative="less")
    assert S.paired_continuous(base, cand, margin=0.02).p_worse == pytest.approx(ref.pvalue, rel=1e-8)
    b01 = rng.integers(0, 2, 60).astype(float)
    c01 = rng.integers(0, 2, 60).astype(float)
    ref = scipy_stats.ttest_1samp(c01 - b01, -0.05, alternative="less")
    test = S.paired_binary(b01, c01, margin=0.05)
    assert test.method == "paired-t" and test.p_worse == pytest.approx(ref.pvalue, rel=1e-8)
    lo, hi = test.ci95
    half = scipy_stats.t.ppf(0.975, 59) * test.stderr
    assert (lo, hi) == pytest.approx((test.delta - half, test.delta + half), rel=1e-6)


def test_holm() -> None:
    # by hand: sorted 0.01, 0.02, 0.04 -> 0.03, 0.04, 0.04 (monotone)
    assert S.holm([0.04, 0.01, 0.02]) == pytest.approx([0.04, 0.03, 0.04])
    assert S.holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])


def test_bootstrap_is_seeded_and_sane() -> None:
    x = np.array([0.0, 1.0] * 50)
    stat = lambda idx: float(x[idx].mean())  # noqa: E731
    se, lo, hi = S.bootstrap(stat, len(x), seed=3)
    assert S.bootstrap(stat, len(x), seed=3) == (se, lo, hi)
    assert se == pytest.approx(0.05, abs=0.01) and lo < 0.5 < hi
    test = S.paired_bootstrap(lambda idx: (float(x[idx].mean()) + 0.2, float(x[idx].mean())), len(x))
    assert test.delta == pytest.approx(0.2) and test.p_two_sided == 0.0 and test.ci95[0] == pytest.approx(0.2)
    assert test.p_worse == 1.0  # +0.2 is never worse
    worse = S.paired_bootstrap(lambda idx: (float(x[idx].mean()) - 0.2, float(x[idx].mean())), len(x))
    assert worse.p_worse == 0.0
    assert S.paired_bootstrap(lambda idx: (0.0, 0.0), len(x), margin=0.1).p_worse == 1.0


def test_examples_needed() -> None:
    # gap 0.1, sd 0.5: (1.645 * 0.5 / 0.1)^2 = 67.6 -> 68
    assert S.examples_needed(0.6, 0.5, 0.5) == 68
    assert S.examples_needed(0.5, 0.5, 0.6) is None
