"""A small run of bench/repeats_coverage.py: the reducers' 95% intervals cover near their nominal rate through
the plugin's own code, and the naive interval (samples as independent) does not (the full table is in
docs/repeats.md)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

spec = importlib.util.spec_from_file_location("repeats_coverage",
                                              Path(__file__).parent.parent / "bench" / "repeats_coverage.py")
sim = importlib.util.module_from_spec(spec)
spec.loader.exec_module(sim)


def test_true_values_by_hand() -> None:
    """Beta(1, 1) (p uniform): E[p] = 1/2, E[1-(1-p)^2] = 2/3, E[p^2] = 1/3; majority of 2 with ties to the
    first sample: E[p^2 + p(1-p)] = 1/2."""
    truth = sim.true_values(1.0, 1.0, 2, [1, 2])
    assert truth == pytest.approx({"mean@2": 0.5, "maj@2": 0.5, "pass@1": 0.5, "pass@2": 2 / 3, "pass^2": 1 / 3},
                                  abs=1e-4)


def test_clustered_intervals_cover_and_naive_ones_do_not() -> None:
    # 600 tasks: 0.95 coverage has a standard error of 0.009; [0.91, 0.985] is 4 of them either side
    shares, naive = sim.coverage(600, 30, 8, 0.5, 0.5, seed=3)
    for metric, share in shares.items():
        assert 0.91 <= share <= 0.985, (metric, share)
    assert naive < 0.8
