"""A report reads back whole (core/results.Report): every field of the report, its results and their examples
survives save and load, a real run's report saves back to the same bytes, and the run-level results
(core/run.final_results) are recomputed from a loaded report without pytest."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from conftest import arith_task, mc_task, write_task

from pytest_lmbench.core.results import SCHEMA_VERSION, ExampleResult, Report, ReportError, TaskResult

RUN = ("-p", "no:cacheprovider")


def _example() -> ExampleResult:
    return ExampleResult(
        id="e1", index=3, prompt="Q: 2 + 2?\nA:", targets=["4", "four"], response="4", raw_response=" 4\nQ:",
        choices=["4", "5"], log_probs=[-0.125, -2.5], target_scores={"4": 1.0, "5": 0.0},
        target_log_probs=[-0.5, -3.25], scores={"exact_str_match": 1.0, "confidence": 0.75}, score=1.0,
        cluster="q1", confidence_text="75%", picked="4",
        messages=[{"role": "system", "content": "be brief"}, {"role": "user", "content": "2 + 2?"}],
        samples=[{"response": "4", "raw_response": " 4", "score": 1.0, "correct": True}],
        judge={"prompt": "Grade it", "text": "GRADE: 4", "grade": 4, "weighted": 3.7},
        scorer={"match": {"value": "C", "answer": "Paris", "explanation": "Paris"}})


def _result() -> TaskResult:
    return TaskResult(
        task="zoo:sums", model="dummy:oracle", shots=2, n_examples=1, scores={"acc,none": 0.5, "f1,none": 0.25},
        preferred_score="acc,none", low_score=0.25, high_score=2.0, nodeid="ours/zoo.yaml::sums[dummy:oracle-2shot]",
        path="/tmp/ours/sums.yaml", model_spec="dummy:oracle", parent="zoo", parent_subtasks=["sums", "animals"],
        parent_kind="lmeval", keywords=["arithmetic"], threshold={"acc,none": 0.4}, outcome="passed",
        message="clears 0.4", examples=[_example()],
        reliability=[{"bin": 14, "count": 1, "mean_confidence": 0.97, "accuracy": 1.0}],
        confidence_reliability=[{"bin": 11, "count": 1, "mean_confidence": 0.75, "accuracy": 1.0}],
        notes=["lower is better for f1,none"], eval_seconds=1.5, model_load_seconds=0.25,
        model_info={"repack": "off", "repack_reason": "AMX"}, prompt_format="chat (template)", aggregate=True,
        subtasks=["a", "b"], complete=False,
        errors={"acc,none": {"stderr": 0.125, "ci95": [0.25, 0.75], "method": "wilson", "bounds": [0.0, 1.0]}},
        comparisons=[{"task": "zoo:sums", "model": "dummy:oracle", "shots": 2, "against": "base.json (m)",
                      "metric": "acc,none", "candidate": 0.5, "baseline": 0.75, "delta": -0.25, "stderr": 0.125,
                      "ci95": [-0.5, 0.0], "p_two_sided": 0.0625, "p_worse": 0.03125, "p_adjusted": 0.0625,
                      "method": "mcnemar", "margin": 0.0, "n_matched": 1, "only_candidate": 0, "only_baseline": 0,
                      "newly_failing": [{"id": "e1", "index": 3}], "n_newly_failing": 1, "n_newly_passing": 0,
                      "verdict": "no regression", "message": None, "gating": True}],
        cache={"hits": 1, "misses": 2},
        score_data=[{"subtask_description": "sums", "score_dict": {"acc": 0.5}, "preferred_score": "acc",
                     "number_of_shots": 2, "low_score": 0.0, "high_score": 1.0}],
        repeats={"k": 4, "temperature": 1.0, "seeds": [0, 1, 2, 3], "pass_at": [1, 4], "metric": "acc,none"},
        usage={"prompt_tokens": 10, "generated_tokens": 2, "model_calls": 1, "cost": None, "tokens_counted": True},
        source_digest="0123456789abcdef", before_gate={"outcome": "passed", "message": None})


def _report() -> Report:
    return Report(schema_version=SCHEMA_VERSION - 1, complete=False, models=["dummy:oracle", "smollm2"],
                  shots=[0, 2], max_examples=12,
                  aggregates=[{"model": "dummy:oracle", "shots": 2, "group": "all tasks", "n_tasks": 1,
                               "normalized_score": 50.0, "stderr": 5.0, "ci95": [40.0, 60.0], "tasks": ["zoo:sums"],
                               "note": None, "method": "logit", "bounds": [0.0, 100.0]}],
                  results=[_result()], extra={"written_by": {"version": "9.9"}})


def _default(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return dataclasses.MISSING


@pytest.mark.parametrize("value", [_report(), _result(), _example()], ids=["Report", "TaskResult", "ExampleResult"])
def test_the_round_trip_fixture_sets_every_field(value: Any) -> None:
    """A field added later, and not set here, fails: then set it and see that it reads back."""
    unset = [f.name for f in dataclasses.fields(value) if getattr(value, f.name) == _default(f)]
    assert unset == []


def test_a_report_saves_and_loads_losslessly(tmp_path: Path) -> None:
    report = _report()
    report.save(tmp_path / "r.json")
    loaded = Report.load(tmp_path / "r.json")
    for f in dataclasses.fields(Report):
        assert getattr(loaded, f.name) == getattr(report, f.name), f.name
    for f in dataclasses.fields(TaskResult):
        assert getattr(loaded.results[0], f.name) == getattr(report.results[0], f.name), f.name
    for f in dataclasses.fields(ExampleResult):
        assert getattr(loaded.results[0].examples[0], f.name) == getattr(report.results[0].examples[0], f.name), f.name
    assert loaded == report
    loaded.save(tmp_path / "again.json")
    assert (tmp_path / "again.json").read_bytes() == (tmp_path / "r.json").read_bytes()
    data = json.loads((tmp_path / "r.json").read_text())
    assert list(data) == ["schema_version", "complete", "models", "shots", "max_examples", "aggregates",
                          "written_by", "results"]  # keys of another version before the results
    assert Report.from_dict(data) == report == Report.from_dict(report.to_dict())


def test_a_report_of_an_earlier_version_reads_with_defaults_and_declared_parent_kinds() -> None:
    """Before parent_kind, lm-eval groups were told apart by their YAML paths: such a report still aggregates
    its groups by lm-eval's rules. A result that says parent_kind null keeps it."""
    rows = [dataclasses.replace(_result(), path=path, parent=parent, parent_kind=None).to_dict()
            for path, parent in (("/x/sums.yml", "zoo"), ("/x/one/task.json", "family"), ("/x/a.yaml", None))]
    explicit = dict(rows[0])
    for row in rows:
        del row["parent_kind"]
    report = Report.from_dict({"schema_version": 1, "results": [*rows, explicit]})
    assert [r.parent_kind for r in report.results] == ["lmeval", None, None, None]
    assert (report.complete, report.models, report.shots, report.max_examples, report.aggregates, report.extra) \
        == (True, [], [], None, [], {})


@pytest.mark.parametrize(("content", "message"), [
    (None, "r.json: no such file (write one with --lm-report=r.json)"),
    ("{", "r.json: not valid JSON (line 1: "),
    ("[]", "r.json: not a pytest-lmbench report (no 'results' list)"),
    ('{"schema_version": 99, "results": []}', "r.json: schema_version 99 is not one this pytest-lmbench reads"),
    ('{"schema_version": 1, "results": [{"task": "t"}]}', "r.json: results[0] is not a task result"),
])
def test_a_bad_report_is_a_report_error_naming_the_file(tmp_path: Path, content: str | None, message: str) -> None:
    if content is not None:
        (tmp_path / "r.json").write_text(content)
    with pytest.raises(ReportError) as excinfo:
        Report.load(tmp_path / "r.json", "r.json")
    assert str(excinfo.value).startswith(message)


def test_a_real_report_loads_and_saves_back_to_the_same_bytes(pytester: pytest.Pytester, tasks_dir: Path) -> None:
    write_task(tasks_dir, "shouted/task.json", arith_task("shouted", n=3))
    write_task(tasks_dir, "family/three/task.json", mc_task("three"))
    result = pytester.runpytest(*RUN, "--lm-model=dummy:oracle", "--lm-model=dummy:random?seed=1",
                                "--lm-shots=0", "--lm-shots=1", "--lm-compare=dummy:oracle", "--lm-report=r.json")
    result.assert_outcomes(passed=24)
    written = (pytester.path / "r.json").read_bytes()
    report = Report.load(pytester.path / "r.json")
    assert report.complete and report.models == ["dummy:oracle", "dummy:random?seed=1"] and report.shots == [0, 1]
    assert report.aggregates and any(r.aggregate for r in report.results) and any(r.comparisons for r in report.results)
    report.save(pytester.path / "again.json")
    assert (pytester.path / "again.json").read_bytes() == written
    _recomputed_without_pytest(report, compare_to="dummy:oracle")


def _recomputed_without_pytest(report: Report, **options: Any) -> None:
    """The run-level results from the report's item results alone (as show/diff/merge will): the same."""
    from pytest_lmbench.core.aggregates import model_aggregates
    from pytest_lmbench.core.run import final_results

    items = [dataclasses.replace(r, comparisons=[]) for r in report.results if not r.aggregate]
    again = final_results(items, **options)
    assert again == report.results
    assert [g.to_dict() for g in model_aggregates(again)] == report.aggregates


def test_an_lm_eval_group_is_recomputed_from_a_report_old_or_new(pytester: pytest.Pytester) -> None:
    pytest.importorskip("lm_eval")
    examples = Path(__file__).parent.parent / "example_tasks" / "lmeval"
    ours = pytester.path / "ours"
    shutil.copytree(examples, ours)
    (ours / "zoo.yaml").write_text("group: zoo\ntask:\n  - animals\n  - sums\naggregate_metric_list:\n"
                                   "  - metric: exact_match\n    aggregation: mean\n    weight_by_size: true\n"
                                   "metadata:\n  version: 1.0\n")
    result = pytester.runpytest("ours/zoo.yaml", "--lm-model=dummy:oracle", "--lm-max-examples=4",
                                "--lm-report=r.json", *RUN)
    result.assert_outcomes(passed=2)
    report = Report.load(pytester.path / "r.json")
    assert {r.parent_kind for r in report.results if not r.aggregate} == {"lmeval"}
    assert [r.task for r in report.results if r.aggregate] == ["zoo"]
    _recomputed_without_pytest(report)
    old = json.loads((pytester.path / "r.json").read_text())
    for row in old["results"]:
        del row["parent_kind"]  # as an earlier version wrote it
    assert Report.from_dict(old) == report
