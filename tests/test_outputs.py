"""Files for CI: JUnit XML properties and the GitHub step summary."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from conftest import arith_task, mc_task, write_task


@pytest.mark.parametrize("workers", [[], ["-n", "2"]])
def test_junit_xml_carries_scores_and_outcomes(pytester: pytest.Pytester, workers: list[str]) -> None:
    write_task(pytester.path, "arith/task.json", arith_task(n=8, lmbench={"threshold": {"exact_str_match": 0.5}}))
    write_task(pytester.path, "colors/task.json", mc_task(n=8))
    run = pytester.runpytest_subprocess if workers else pytester.runpytest  # xdist starts worker processes
    result = run("--lm-model=dummy:oracle", "--junitxml=j.xml", "-p", "no:cacheprovider", *workers)
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
    result = pytester.runpytest("--lm-model=dummy:oracle", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)
    text = summary.read_text()
    assert text.startswith("earlier step\n## lmbench summary")  # appended, as GitHub expects
    assert "items: 1 inconclusive, 1 scored" in text
    assert "| `arith` | 0 | 6 | exact_match | 1.000 | ±0.390 | ⚠️ inconclusive | >= 0.8 |" in text
    assert "| `co\\|lors` |" in text  # a pipe in a name does not break the table
    assert "| all tasks | 0 | 2 | 100.0 |" in text
    assert "about 11 examples would settle it" in text



def test_serialised_reports_carry_results_as_builtin_types(pytester: pytest.Pytester) -> None:
    """In the process that runs an item the report carries the TaskResult itself; whenever pytest serialises
    the report (xdist, report logs) it becomes a dict that plain json (and execnet) can write."""
    write_task(pytester.path, "colors/task.json", mc_task(n=6))
    pytester.makeconftest("""
        import json

        def pytest_runtest_logreport(report):
            if getattr(report, "lmbench_result", None) is not None:
                REPORTS.append(report)

        REPORTS = []

        def pytest_sessionfinish(session):
            for report in REPORTS:
                data = session.config.hook.pytest_report_to_serializable(config=session.config, report=report)
                back = json.loads(json.dumps(data["lmbench_result"]))  # no default=: builtin types only
                assert back["task"] == "colors" and len(back["examples"]) == 6
                print("SERIALISED", type(report.lmbench_result).__name__, type(data["lmbench_result"]).__name__)
    """)
    result = pytester.runpytest("--lm-model=dummy:oracle", "-p", "no:cacheprovider", "-s")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*SERIALISED TaskResult dict*"])


def test_report_values_json_cannot_write_itself_are_converted(tmp_path) -> None:
    import json

    import numpy as np

    from pytest_lmbench.core.results import ExampleResult, Report, TaskResult, _builtin

    value = {"a": np.float64(1.5), "b": (np.int64(2), np.float32(0.5)), 3: [True, np.bool_(False)],
             "s": np.str_("x"), "arr": np.arange(2)}
    converted = _builtin(value)
    assert converted == {"a": 1.5, "b": [2, 0.5], "3": [True, False], "s": "x", "arr": [0, 1]}
    assert [type(v) for v in converted["b"]] == [int, float] and type(converted["s"]) is str
    assert type(converted["3"][1]) is bool
    result = TaskResult(task="t", model="m", shots=0, n_examples=1, scores={"x": np.float64(0.25)},
                        preferred_score="x", low_score=0.0, high_score=1.0,
                        examples=[ExampleResult(id="e", index=0, prompt="p", targets=["t"],
                                                scores={"x": np.float32(0.25)}, log_probs=[np.float64(-1.0)])])
    Report(results=[result]).save(tmp_path / "r.json")
    row = json.loads((tmp_path / "r.json").read_text())["results"][0]
    assert row["scores"] == {"x": 0.25} and row["examples"][0]["scores"] == {"x": 0.25}
    assert row == json.loads(json.dumps(result.to_dict()))
