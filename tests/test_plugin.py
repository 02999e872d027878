"""Plugin behaviour end to end, through pytester runs (in this process, but for the xdist runs)."""

from __future__ import annotations

import json

import pytest
from conftest import arith_task, mc_task, section, write_task

RUN = ("-p", "no:cacheprovider")


def test_collects_one_item_per_task_model_and_shots(pytester: pytest.Pytester, tasks_dir) -> None:
    result = pytester.runpytest(*RUN, "--collect-only", "-q", "--lm-model=dummy:oracle",
                                "--lm-model=dummy:random?seed=3", "--lm-shots=0", "--lm-shots=1")
    out = result.stdout.str()
    assert "tasks/arith/task.json::arith[dummy:oracle-0shot]" in out
    assert "tasks/arith/task.json::arith[dummy:random-1shot]" in out
    assert "tasks/family/task.json::family:one[dummy:oracle-1shot]" in out
    assert "tasks/family/task.json::family:two[dummy:random-0shot]" in out
    assert "tasks/family/one/task.json" not in out  # subtasks are collected through their parent
    assert "16 tests collected" in out


def test_report_has_items_and_parent_aggregates(pytester: pytest.Pytester, tasks_dir) -> None:
    result = pytester.runpytest(*RUN, "--lm-model=dummy:oracle", "--lm-shots=0", "--lm-shots=1",
                                "--lm-report=out/report.json")
    result.assert_outcomes(passed=8)
    report = json.loads((pytester.path / "out" / "report.json").read_text())
    assert report["schema_version"] == 1 and report["complete"] is True
    by = {(r["task"], r["shots"]): r for r in report["results"]}
    arith = by[("arith", 0)]
    assert arith["nodeid"] == "tasks/arith/task.json::arith[dummy:oracle-0shot]"
    assert arith["model"] == "dummy:oracle" and arith["n_examples"] == 6
    assert arith["scores"]["exact_str_match"] == 1.0 and arith["preferred_score"] == "exact_str_match"
    assert arith["outcome"] == "scored" and arith["threshold"] == {}
    ex = arith["examples"][0]
    assert set(ex) >= {"id", "prompt", "targets", "response", "score"}
    assert ex["prompt"].endswith("\nA: ") and ex["score"] == 1.0
    colors = by[("colors", 1)]
    assert colors["examples"][0]["log_probs"] and colors["examples"][0]["choices"]
    agg = by[("family", 0)]
    assert agg["nodeid"] is None and agg["aggregate"] is True
    assert agg["subtasks"] == ["family:one", "family:two"]
    assert agg["preferred_score"] == "normalized_aggregate_score"
    assert agg["scores"]["normalized_aggregate_score"] == pytest.approx(100.0)
    assert "lmbench summary" in result.stdout.str()


def test_select_with_k_and_m(pytester: pytest.Pytester, tasks_dir) -> None:
    r = pytester.runpytest(*RUN, "--collect-only", "-q", "--lm-model=dummy:oracle", "-k", "family and one")
    assert "1/4 tests collected (3 deselected)" in r.stdout.str()
    r = pytester.runpytest(*RUN, "--collect-only", "-q", "--lm-model=dummy:oracle", "-k", "arithmetic")
    assert "arith[dummy:oracle-0shot]" in r.stdout.str() and "colors" not in r.stdout.str()
    write_task(tasks_dir, "slow/task.json", arith_task("slowone", lmbench={"marks": ["slow"]}))
    r = pytester.runpytest(*RUN, "--collect-only", "-q", "--lm-model=dummy:oracle", "-m", "slow")
    assert "slowone[dummy:oracle-0shot]" in r.stdout.str() and "colors" not in r.stdout.str()
    r = pytester.runpytest(*RUN, "--collect-only", "-q", "--lm-model=dummy:oracle", "-m", "lmbench")
    assert "5 tests collected" in r.stdout.str() and "PytestUnknownMarkWarning" not in r.stdout.str()


def test_threshold_failure_is_readable(pytester: pytest.Pytester) -> None:
    write_task(pytester.path, "colors/task.json", mc_task(n=8, lmbench={"threshold": {"multiple_choice_grade": 0.9}}))
    result = pytester.runpytest(*RUN, "--lm-model=dummy:random?seed=1", "--lm-report=r.json")
    result.assert_outcomes(failed=1)
    out = section(result, "FAILURES")  # not the warnings, which depend on the tests run before in this process
    assert "multiple_choice_grade = " in out and "< threshold 0.9" in out
    assert "examples wrong; the first" in out and "expected:" in out and "got:" in out
    assert "Traceback" not in out and "pytest_lmbench" not in out
    report = json.loads((pytester.path / "r.json").read_text())
    assert report["results"][0]["outcome"] == "failed"
    assert report["results"][0]["threshold"] == {"multiple_choice_grade": 0.9}


def test_threshold_sources_and_precedence(pytester: pytest.Pytester) -> None:
    write_task(pytester.path, "a/task.json", arith_task("alpha", lmbench={"threshold": {"exact_str_match": 0.5}}))
    write_task(pytester.path, "b/task.json", arith_task("beta"))
    pytester.makeini("[pytest]\nlm_thresholds =\n    exact_str_match=0.25\n")
    result = pytester.runpytest(*RUN, "--lm-model=dummy:oracle", "--lm-threshold=be*:exact_str_match=0.75",
                                "--lm-report=r.json")
    result.assert_outcomes(passed=2)
    report = {r["task"]: r for r in json.loads((pytester.path / "r.json").read_text())["results"]}
    assert report["alpha"]["threshold"] == {"exact_str_match": 0.5}  # file beats ini
    assert report["beta"]["threshold"] == {"exact_str_match": 0.75}  # command line beats ini
    assert report["alpha"]["outcome"] == "passed"


def test_lower_is_better_threshold(pytester: pytest.Pytester) -> None:
    write_task(pytester.path, "c/task.json", mc_task())
    result = pytester.runpytest(*RUN, "--lm-model=dummy:random",
                                "--lm-threshold=expected_calibration_error=0.0001")
    result.assert_outcomes(failed=1)
    assert "expected_calibration_error = " in result.stdout.str() and "> threshold 0.0001" in result.stdout.str()


def test_backend_exception_is_an_error_not_a_failure(pytester: pytest.Pytester) -> None:
    write_task(pytester.path, "a/task.json", arith_task())
    pytester.makepyfile(broken="""
        class Broken:
            def loglikelihood(self, requests):
                raise ConnectionError("server went away")
            def generate(self, prompts, *, max_tokens, stop=None):
                raise ConnectionError("server went away")
    """)
    result = pytester.runpytest(*RUN, "--lm-model=py:broken.py:Broken", "--lm-report=r.json")
    result.assert_outcomes(errors=1)
    out = result.stdout.str()
    assert "generate() raised ConnectionError: server went away" in out
    assert "Traceback" not in out
    report = json.loads((pytester.path / "r.json").read_text())
    assert report["results"][0]["outcome"] == "error"


def test_python_backend_with_options(pytester: pytest.Pytester) -> None:
    write_task(pytester.path, "a/task.json", arith_task())
    pytester.makepyfile(mymodels="""
        class Constant:
            def __init__(self, answer, scale=1.0):
                self.answer, self.scale = str(answer), scale
            def loglikelihood(self, requests):
                return [-self.scale for _ in requests]
            def generate(self, prompts, *, max_tokens, stop=None):
                return [self.answer for _ in prompts]
    """)
    pytester.syspathinsert()  # py:mymodels imports it by name
    result = pytester.runpytest(*RUN, "--lm-model=py:mymodels:Constant?answer=4&name=four",
                                "--lm-report=r.json")
    result.assert_outcomes(passed=1)
    r = json.loads((pytester.path / "r.json").read_text())["results"][0]
    assert r["model"] == "four" and r["nodeid"].endswith("arith[four-0shot]")
    assert r["scores"]["exact_str_match"] == pytest.approx(1 / 6)  # only 2 + 2 = 4


@pytest.mark.parametrize("spec, message", [
    ("nosuch:thing", "unknown backend 'nosuch'"),
    ("dummy:psychic", "the dummy backend has"),
    ("py:nomodule_here:X", "cannot import module 'nomodule_here'"),
])
def test_bad_model_specs_are_clear(pytester: pytest.Pytester, spec: str, message: str) -> None:
    write_task(pytester.path, "a/task.json", arith_task())
    result = pytester.runpytest(*RUN, f"--lm-model={spec}")
    assert message in result.stdout.str() + result.stderr.str()
    assert "Traceback" not in result.stdout.str()


@pytest.mark.parametrize("option, message", [
    ("--lm-threshold=exact_str_match", "the form is [TASK_GLOB:]METRIC=VALUE"),
    ("--lm-threshold=exact_str_match=high", "'high' is not a number"),
    ("--lm-shots=-1", "--lm-shots must be 0 or more"),
])
def test_bad_options_are_usage_errors(pytester: pytest.Pytester, option: str, message: str) -> None:
    write_task(pytester.path, "a/task.json", arith_task())
    result = pytester.runpytest(*RUN, "--lm-model=dummy:oracle", option)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert message in result.stderr.str()


def test_max_examples_splits_over_subtasks(pytester: pytest.Pytester, tasks_dir) -> None:
    result = pytester.runpytest(*RUN, "--lm-model=dummy:oracle", "--lm-max-examples=4", "--lm-report=r.json")
    result.assert_outcomes(passed=4)
    by = {r["task"]: r for r in json.loads((pytester.path / "r.json").read_text())["results"]}
    assert by["arith"]["n_examples"] == 4
    assert by["family:one"]["n_examples"] == 2 and by["family"]["n_examples"] == 4
    result = pytester.runpytest(*RUN, "--lm-model=dummy:oracle", "--lm-max-examples=1")
    assert "less than the number of subtasks (2)" in result.stdout.str()


def test_too_many_shots_is_an_error_with_reason(pytester: pytest.Pytester) -> None:
    write_task(pytester.path, "a/task.json", arith_task(n=3))
    result = pytester.runpytest(*RUN, "--lm-model=dummy:oracle", "--lm-shots=5")
    result.assert_outcomes(errors=1)
    assert "needs at least 6" in result.stdout.str() and "Traceback" not in result.stdout.str()


def test_bleurt_without_scorer_skips_with_reason(pytester: pytest.Pytester) -> None:
    write_task(pytester.path, "a/task.json",
               arith_task(metrics=["bleurt", "exact_str_match"], preferred_score="bleurt"))
    write_task(pytester.path, "b/task.json", arith_task("other", metrics=["bleurt", "exact_str_match"]))
    result = pytester.runpytest(*RUN, "--lm-model=dummy:oracle", "-rs", "--lm-report=r.json")
    result.assert_outcomes(skipped=1, passed=1)
    assert "bleurt needs a BLEURT scorer" in result.stdout.str()
    by = {r["task"]: r for r in json.loads((pytester.path / "r.json").read_text())["results"]}
    assert by["other"]["scores"]["exact_str_match"] == 1.0 and "bleurt" not in by["other"]["scores"]
    assert any("bleurt not computed" in n for n in by["other"]["notes"])


def test_bleurt_scorer_from_hook(pytester: pytest.Pytester) -> None:
    write_task(pytester.path, "a/task.json", arith_task(metrics=["bleurt"], preferred_score="bleurt"))
    pytester.makeconftest("""
        def pytest_lmbench_metrics():
            return {"bleurt": lambda targets, responses: [float(r in t) * 0.9 for t, r in zip(targets, responses)]}
    """)
    result = pytester.runpytest(*RUN, "--lm-model=dummy:oracle", "--lm-report=r.json")
    result.assert_outcomes(passed=1)
    assert json.loads((pytester.path / "r.json").read_text())["results"][0]["scores"]["bleurt"] == pytest.approx(0.9)


def test_backend_from_hook(pytester: pytest.Pytester) -> None:
    write_task(pytester.path, "a/task.json", arith_task())
    pytester.makeconftest("""
        class Echo:
            def loglikelihood(self, requests):
                return [0.0 for _ in requests]
            def generate(self, prompts, *, max_tokens, stop=None):
                return ["0" for _ in prompts]
        def pytest_lmbench_backends():
            return {"echo": lambda spec: Echo()}
    """)
    result = pytester.runpytest(*RUN, "--lm-model=echo", "--lm-report=r.json")
    result.assert_outcomes(passed=1)
    assert json.loads((pytester.path / "r.json").read_text())["results"][0]["scores"]["exact_str_match"] == \
        pytest.approx(1 / 6)


def test_summary_does_not_read_markup_and_respects_color(pytester: pytest.Pytester) -> None:
    write_task(pytester.path, "a/task.json", arith_task("x[bold]y"))
    plain = pytester.runpytest(*RUN, "--lm-model=dummy:oracle?name=[red]m", "--color=no")
    assert "x[bold]y" in plain.stdout.str() and "model [red]m" in plain.stdout.str()
    assert "\x1b[" not in plain.stdout.str()
    colored = pytester.runpytest(*RUN, "--lm-model=dummy:oracle", "--color=yes")
    assert "\x1b[" in colored.stdout.str()


def test_summary_follows_force_color_and_no_color(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    write_task(pytester.path, "a/task.json", arith_task())
    monkeypatch.delenv("PY_COLORS", raising=False)
    monkeypatch.setenv("FORCE_COLOR", "1")
    forced = pytester.runpytest(*RUN, "--lm-model=dummy:oracle")
    summary = forced.stdout.str().split("lmbench summary")[1]
    assert "\x1b[" in summary
    monkeypatch.setenv("NO_COLOR", "1")  # wins over FORCE_COLOR, as pytest decides
    plain = pytester.runpytest(*RUN, "--lm-model=dummy:oracle")
    assert "\x1b[" not in plain.stdout.str().split("lmbench summary")[1]


def test_explicit_subtask_file_is_collected_with_parent_name(pytester: pytest.Pytester, tasks_dir) -> None:
    result = pytester.runpytest(*RUN, "--collect-only", "-q", "--lm-model=dummy:oracle",
                                "tasks/family/one/task.json")
    assert "tasks/family/one/task.json::family:one[dummy:oracle-0shot]" in result.stdout.str()


def test_xdist_gives_the_same_report(pytester: pytest.Pytester, tasks_dir) -> None:
    args = (*RUN, "--lm-model=dummy:oracle", "--lm-model=dummy:random", "--lm-shots=0", "--lm-shots=1")
    pytester.runpytest(*args, "--lm-report=serial.json", "-n", "0").assert_outcomes(passed=16)
    # xdist starts its workers as processes: a run with -n 2 is a process of its own
    pytester.runpytest_subprocess(*args, "--lm-report=parallel.json", "-n", "2").assert_outcomes(passed=16)

    def strip(path):
        data = json.loads((pytester.path / path).read_text())
        for r in data["results"]:
            r.pop("eval_seconds"), r.pop("model_load_seconds")
        return data

    assert strip("serial.json") == strip("parallel.json")
    # one subtask of a parent deselected: the parent's aggregate is partial in both (the xdist controller,
    # which never collects, knows the parent's subtasks from the results)
    for name, workers in (("serial-k.json", "0"), ("parallel-k.json", "2")):
        run = pytester.runpytest if workers == "0" else pytester.runpytest_subprocess  # xdist workers: processes
        run(*RUN, "--lm-model=dummy:oracle", "-k", "not two", f"--lm-report={name}", "-n", workers
            ).assert_outcomes(passed=3)
    assert strip("serial-k.json") == strip("parallel-k.json")
    family = next(r for r in strip("parallel-k.json")["results"] if r["task"] == "family")
    assert family["complete"] is False and family["subtasks"] == ["family:one"]
    assert family["notes"] == ["aggregate over 1 of 2 subtasks (others were not run)"]


def test_noise_aware_gate_inconclusive_strict_and_point(pytester: pytest.Pytester) -> None:
    """6/6 right clears 0.8, but its one-sided 95% Wilson lower bound (6 / (6 + 1.645^2) = 0.689) does not."""
    write_task(pytester.path, "small/task.json", arith_task("small", n=6))
    write_task(pytester.path, "big/task.json", arith_task("big", n=40))
    args = ["--lm-model", "dummy:oracle", "--lm-threshold", "exact_str_match=0.8", "-p", "no:cacheprovider",
            "--lm-report", "r.json"]
    result = pytester.runpytest(*args)
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines([
        "*small*inconcl.*", "*big*passed*", "items: 1 inconclusive, 1 passed",
        "inconcl. = inconclusive: the score clears its threshold but its one-sided 95%*",
        "*small [[]dummy:oracle, 0-shot, n=6[]]: exact_str_match = 1 clears 0.8 but its 95%*",
        "lower bound 0.6892 does not; about 11 examples would settle it"])
    rows = {r["task"]: r for r in json.loads((pytester.path / "r.json").read_text())["results"]}
    assert rows["small"]["outcome"] == "inconclusive" and rows["big"]["outcome"] == "passed"
    strict = pytester.runpytest(*args, "--lm-strict")
    strict.assert_outcomes(passed=1, failed=1)
    point = pytester.runpytest(*args, "--lm-gate=point")
    point.assert_outcomes(passed=2)
    point.stdout.fnmatch_lines(["items: 2 passed"])
