"""The statistics vectors of ../shared/reference/bigbench-metric-vectors.md ("Statistics vectors"), copied here
as literals so that they run without ../shared (and without scipy)."""

from __future__ import annotations

import pytest

from pytest_lmbench.core import stats as S
from pytest_lmbench.core.scoring import metrics as M
from pytest_lmbench.core.scoring.confidence import (
    confidence_calibration,
    quantile_calibration_error,
    selective_accuracy_area,
)

CONF = [.95, .9, .85, .8, .7, .65, .6, .55, .5, .3]
CORRECT = [1, 1, 0, 1, 1, 0, 1, 0, 0, 0]
CLUSTERS = [0, 0, 0, 1, 1, 2, 2, 3, 3, 3]


def test_standard_errors() -> None:
    assert S.mean_stderr(CORRECT) == pytest.approx(0.16666666666666666, abs=1e-15)
    assert S.mean_stderr(CORRECT, CLUSTERS) == pytest.approx(0.2160246899469287, abs=1e-15)
    # without the C/(C-1) small-sample correction: 0.18708286933869706 = 0.2160... * sqrt(3/4)
    assert S.mean_stderr(CORRECT, CLUSTERS) * (3 / 4) ** 0.5 == pytest.approx(0.18708286933869706, abs=1e-15)


def test_verbalized_calibration_mse_and_mad() -> None:
    scores = confidence_calibration(CONF, CORRECT)["scores"]
    assert scores["confidence_brier_score"] == pytest.approx(0.209, abs=1e-12)
    assert scores["confidence_mad"] * 100 == pytest.approx(21.0, abs=1e-9)


def test_helm_equal_mass_ece_and_selective_area() -> None:
    assert quantile_calibration_error(CONF, CORRECT, 10) == pytest.approx(0.39, abs=1e-12)
    assert quantile_calibration_error(CONF, CORRECT, 1) == pytest.approx(0.18, abs=1e-12)
    assert selective_accuracy_area(CONF, CORRECT) == pytest.approx(0.7278174603174603, abs=1e-12)


def test_ece_of_the_binary_vector() -> None:
    # vector 4: BIG-bench's 15 equal-width bins; buckets 1/15->1, 0->0, 0.5->7, 1.0->14, 14/15->14
    assert M.ece_buckets([1 / 15, 0, 0.5, 1.0, 14 / 15]) == [1, 0, 7, 14, 14]


@pytest.mark.parametrize("k, n, lo, hi", [(7, 10, 0.39677814746114537, 0.8922087325936989),
                                          (0, 30, 0.0, 0.11351339317396876),
                                          (45, 50, 0.7863976856252035, 0.9565242350681096)])
def test_wilson(k: int, n: int, lo: float, hi: float) -> None:
    assert S.wilson_interval(k, n) == pytest.approx((lo, hi), abs=1e-12)


BASE = [1, 1, 1, 0, 0, 1, 1, 0, 1, 1, 0, 1]
CAND = [1, 1, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1]


def test_paired_comparison() -> None:
    assert S.mcnemar_exact(1, 4) == pytest.approx(0.375, abs=1e-15)
    test = S.paired_binary(BASE, CAND)
    assert test.delta == pytest.approx(0.25, abs=1e-15)
    assert test.stderr == pytest.approx(0.17943514064131835, abs=1e-15)
    assert test.p_two_sided == pytest.approx(0.375, abs=1e-15)
    # one-sided "candidate worse": P(X >= 1), X ~ Bin(5, 1/2) = 31/32
    assert test.p_worse == pytest.approx(31 / 32, abs=1e-15)
    mean, se, p = S.paired_t([c - b for b, c in zip(BASE, CAND)])
    assert mean / se == pytest.approx(1.3932610920384718, abs=1e-12)
    assert p == pytest.approx(0.19105429809656932, abs=1e-9)
    cont = S.paired_continuous(BASE, CAND)
    assert cont.p_two_sided == pytest.approx(0.19105429809656932, abs=1e-9)
    assert cont.p_worse == pytest.approx(1 - 0.19105429809656932 / 2, abs=1e-9)


def test_power() -> None:
    assert S.paired_sample_size(0.03, 0.3, alpha=0.05, power=0.8) == pytest.approx(784.89, abs=0.01)
    assert S.normal_quantile(0.975) == pytest.approx(1.959963984540054, abs=1e-9)
