"""Files for CI: JUnit XML properties and the GitHub step summary."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from conftest import arith_task, mc_task, write_task


@pytest.mark.parametrize("workers", [[], ["-n", "2"]])
def test_junit_xml_carries_scores_and_outcomes(pytester: pytest.Pytester, workers: list[str]) -> None:
    write_task(pytester.path, "arith/task.json", arith_task(n=8, lmbench={"threshold": {"exact_str_match": 0.5}}))
    write_task(pytester.path, "colors/task.json", mc_task(n=8))
    result = pytester.runpytest_subprocess("--lm-model=dummy:oracle", "--junitxml=j.xml", "-p", "no:cacheprovider",
                                           *workers)
    result.assert_outcomes(passed=2)
    cases = {c.get("name"): {p.get("name"): p.get("value") for p in c.iter("property")}
             for c in ET.parse(pytester.path / "j.xml").iter("testcase")}
    arith = cases["arith[dummy:oracle-0shot]"]
    assert arith["lmbench.task"] == "arith" and arith["lmbench.model"] == "dummy:oracle"
    assert arith["lmbench.metric"] == "exact_str_match" and float(arith["lmbench.score"]) == 1.0
    assert arith["lmbench.outcome"] == "passed" and float(arith["lmbench.threshold.exact_str_match"]) == 0.5
    lo, hi = map(float, arith["lmbench.ci95"].split())
    assert lo == pytest.approx(0.6755, abs=1e-4) and hi == 1.0  # Wilson 8/8
    colors = cases["colors[dummy:oracle-0shot]"]
    assert colors["lmbench.outcome"] == "scored" and "lmbench.expected_calibration_error" in colors


def test_github_step_summary_gets_markdown(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    write_task(pytester.path, "arith/task.json", arith_task(n=6, lmbench={"threshold": {"exact_str_match": 0.8}}))
    write_task(pytester.path, "colors/task.json", mc_task("co|lors", n=8))
    summary = pytester.path / "step.md"
    summary.write_text("earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    result = pytester.runpytest_subprocess("--lm-model=dummy:oracle", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)
    text = summary.read_text()
    assert text.startswith("earlier step\n## lmbench summary")  # appended, as GitHub expects
    assert "items: 1 inconclusive, 1 scored" in text
    assert "| `arith` | 0 | 6 | exact_match | 1.000 | ±0.390 | ⚠️ inconclusive | >= 0.8 |" in text
    assert "| `co\\|lors` |" in text  # a pipe in a name does not break the table
    assert "| all tasks | 0 | 2 | 100.0 |" in text
    assert "about 11 examples would settle it" in text

