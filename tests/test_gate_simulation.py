"""A small run of bench/gate_simulation.py: the baseline gate's false-alarm rate and power, through the
plugin's own comparison code (the full table is in docs/gating.md)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

spec = importlib.util.spec_from_file_location("gate_simulation",
                                              Path(__file__).parent.parent / "bench" / "gate_simulation.py")
sim = importlib.util.module_from_spec(spec)
spec.loader.exec_module(sim)


pytestmark = pytest.mark.slow  # simulations: seconds each


@pytest.mark.parametrize("scenario", ["greedy, churn 5%", "sampled, homogeneous"])
def test_same_model_rarely_fails_the_gate(scenario: str) -> None:
    # 400 run pairs: a gate at alpha 0.05 fails about 20 of them at most; 32 (8%) is 3.3 sd above 5%
    rate, _ = sim.simulate(400, 200, scenario, 0.0, 1, 0.05, seed=11)
    assert rate <= 0.08


def test_a_ten_point_drop_is_caught_and_pairing_matters() -> None:
    power, unpaired = sim.simulate(200, 200, "greedy, churn 0%", 0.10, 1, 0.05, seed=12)
    assert power >= 0.95 and unpaired < power
