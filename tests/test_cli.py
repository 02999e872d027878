"""Split runs, one result (issue 31): ``--lm-shard I/N`` and ``python -m pytest_lmbench merge`` give the report one
process would have written; ``diff`` decides the baseline gate again on stored reports; ``show`` prints examples.
The runs are of the example suite on dummy models, each in a process of its own (as CI jobs are)."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pytest_lmbench.cli import main
from pytest_lmbench.core.compare import ungated
from pytest_lmbench.core.results import Report
from pytest_lmbench.plugin.shard import shares

EXAMPLES = Path(__file__).parent.parent / "example_tasks"
#: differ from run to run (time, and what the model and cache did), not results
TIMINGS = ("eval_seconds", "model_load_seconds", "usage", "cache")


def _pytest(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "100"}
    env.pop("PYTEST_ADDOPTS", None)
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:randomly", "-q",
                           *args], cwd=cwd, capture_output=True, text=True, env=env, timeout=600)


def _results(path: Path) -> dict[str, Any]:
    """A report's results and aggregates without timings."""
    data = json.loads(path.read_text())
    for r in data["results"]:
        for key in TIMINGS:
            r.pop(key, None)
    return {"complete": data["complete"], "results": data["results"], "aggregates": data["aggregates"]}


@pytest.fixture(scope="module")
def suite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example suite run whole and in two shards on one model, on each model and both, and its JSON tasks
    against a baseline (whole and in shards) and without: the reports, and how pytest exited on each."""
    root = tmp_path_factory.mktemp("suite")
    shutil.copytree(EXAMPLES, root / "example_tasks")
    random, oracle = "--lm-model=dummy:random", "--lm-model=dummy:oracle"
    # the gate's runs on the JSON tasks alone (fast): the baseline has more tasks than they, as baselines may
    gated = ["example_tasks/capitals", "example_tasks/opposites", "example_tasks/small_addition",
             "example_tasks/sayings", "example_tasks/test_capitals_twin.py", random, "--lm-baseline=oracle.json"]
    runs = {"random.json": ["example_tasks", random], "oracle.json": ["example_tasks", oracle],
            "both.json": ["example_tasks", random, oracle],
            "shard1.json": ["example_tasks", random, "--lm-shard=1/2"],
            "shard2.json": ["example_tasks", random, "--lm-shard", "2/2"],
            "gated.json": gated, "gated1.json": [*gated, "--lm-shard=1/2"], "gated2.json": [*gated, "--lm-shard=2/2"],
            "plain.json": gated[:-1]}
    codes = {}
    for name, args in runs.items():
        run = _pytest(root, f"--lm-report={name}", *args)
        assert run.returncode in (0, 1), run.stdout[-3000:] + run.stderr[-3000:]
        codes[name] = run.returncode
    (root / "codes.json").write_text(json.dumps(codes))
    return root


def _code(suite: Path, name: str) -> int:
    """How pytest exited on the run that wrote the report ``name`` (what a merge equal to it exits with)."""
    return int(json.loads((suite / "codes.json").read_text())[name])


def test_two_shards_merged_equal_the_whole_run(suite: Path, capsys: pytest.CaptureFixture[str]) -> None:
    one, two = (json.loads((suite / f"shard{i}.json").read_text()) for i in (1, 2))
    assert one["shard"]["index"] == 1 and two["shard"]["index"] == 2
    assert one["shard"]["total"] == two["shard"]["total"] == one["shard"]["items"] + two["shard"]["items"]
    ids = [{r["nodeid"] for r in rep["results"] if not r["aggregate"]} for rep in (one, two)]
    assert ids[0] and ids[1] and not ids[0] & ids[1]  # disjoint shares, neither empty
    code = main(["merge", str(suite / "shard1.json"), str(suite / "shard2.json"), "-o", str(suite / "m.json")])
    assert code == _code(suite, "random.json") == 1  # dummy:random misses thresholds: pytest failed, so does merge
    merged, whole = _results(suite / "m.json"), _results(suite / "random.json")
    assert merged == whole  # scores, intervals, outcomes, parents' aggregates, mean normalized scores
    assert any(r["aggregate"] for r in whole["results"]) and whole["aggregates"]  # there was something to recompute
    out = capsys.readouterr().out
    assert "model dummy:random" in out and "merged 2 report(s)" in out  # the summary
    assert json.loads((suite / "m.json").read_text())["merged"]["from"] == [str(suite / "shard1.json"),
                                                                              str(suite / "shard2.json")]


def test_one_job_per_model_merged_equals_the_multi_model_run(suite: Path) -> None:
    assert main(["merge", str(suite / "random.json"), str(suite / "oracle.json"), "-o", str(suite / "pm.json"),
                 "--html", str(suite / "pm.html")]) == _code(suite, "both.json")
    assert _results(suite / "pm.json") == _results(suite / "both.json")
    assert json.loads((suite / "pm.json").read_text())["models"] == ["dummy:random", "dummy:oracle"]
    # the merged HTML: every item's examples, both models side by side
    import re

    page = (suite / "pm.html").read_text()
    sections = [json.loads(m) for m in re.findall(r'<script type="application/json" id="lmx-data-\d+">(.*?)</script>',
                                                  page)]
    both = Report.load(suite / "both.json").results
    assert {(s["task"], s["shots"]) for s in sections} == {(r.task, r.shots) for r in both if not r.aggregate
                                                             and r.examples and r.score_data is None}
    capitals = next(s for s in sections if s["task"] == "capitals")
    assert capitals["models"] == ["dummy:random", "dummy:oracle"] and len(capitals["rows"]) == 20


def test_merge_decides_the_baseline_gate_over_all_items_as_one_run_would(
        suite: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(suite)  # the baseline named as the run named it (messages quote it)
    # each shard gated alone (Holm over half the items); the merge gates again over all of them
    code = main(["merge", "gated1.json", "gated2.json", "-o", "g.json", "--baseline", "oracle.json"])
    assert code == _code(suite, "gated.json") == 1 and "regressed against" in capsys.readouterr().out
    merged, single = _results(suite / "g.json"), _results(suite / "gated.json")
    assert merged == single
    alone = {c["task"]: c["p_adjusted"] for n in ("gated1.json", "gated2.json")
             for r in json.loads((suite / n).read_text())["results"] for c in r["comparisons"]}
    together = {c["task"]: c["p_adjusted"] for r in single["results"] for c in r["comparisons"]}
    assert alone.keys() == together.keys() and alone != together  # Holm over all items is not over each shard's
    assert any(r["outcome"] == "regressed" for r in single["results"])
    # without the baseline, the shards' own gates are undone: the merge equals the ungated whole run
    assert main(["merge", str(suite / "gated1.json"), str(suite / "gated2.json"), "-o", str(suite / "u.json")]) \
        == _code(suite, "plain.json")
    assert _results(suite / "u.json") == _results(suite / "plain.json")


def test_merge_refuses_what_cannot_be_one_run_and_marks_missing_shards(suite: Path, tmp_path: Path,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    # a missing shard: merged, marked incomplete, with a note
    code = main(["merge", str(suite / "shard1.json"), "-o", str(tmp_path / "half.json")])
    half = json.loads((tmp_path / "half.json").read_text())
    assert code == int(any(r["outcome"] in ("failed", "error") for r in half["results"]))
    assert half["complete"] is False and "share(s) 2/2 missing" in " ".join(half["merged"]["notes"])
    # the same report twice: each item kept once
    assert main(["merge", str(suite / "random.json"), str(suite / "random.json"), "-o", str(tmp_path / "t.json")]) \
        == _code(suite, "random.json")
    assert _results(tmp_path / "t.json") == _results(suite / "random.json")
    # ... also when a score is NaN (NaN equals NaN here: it is one report read twice)
    with_nan = json.loads((suite / "random.json").read_text())
    with_nan["results"][0]["scores"]["undefined_metric"] = float("nan")
    (tmp_path / "nan.json").write_text(json.dumps(with_nan))
    assert main(["merge", str(tmp_path / "nan.json"), str(tmp_path / "nan.json"), "-o", str(tmp_path / "n.json")]) \
        == _code(suite, "random.json")
    capsys.readouterr()
    # the same item with another score
    changed = json.loads((suite / "random.json").read_text())
    row = next(r for r in changed["results"] if r["task"] == "capitals")
    row["scores"][row["preferred_score"]] += 0.05
    (tmp_path / "changed.json").write_text(json.dumps(changed))
    assert main(["merge", str(suite / "random.json"), str(tmp_path / "changed.json"), "-o",
                 str(tmp_path / "x.json")]) == 2
    err = capsys.readouterr().err
    assert "capitals [dummy:random, 0-shot] is in" in err and "changed.json with different results" in err
    assert not (tmp_path / "x.json").exists()
    # a task run from another version of its file
    other = json.loads((suite / "oracle.json").read_text())
    for r in other["results"]:
        if r["task"] == "capitals":
            r["source_digest"] = "0123456789abcdef"
    (tmp_path / "other.json").write_text(json.dumps(other))
    assert main(["merge", str(suite / "random.json"), str(tmp_path / "other.json"), "-o",
                 str(tmp_path / "y.json")]) == 2
    assert "capitals: run from two versions of its file" in capsys.readouterr().err
    # different example limits; a file that is not a report
    limited = {**json.loads((suite / "oracle.json").read_text()), "max_examples": 5}
    (tmp_path / "limited.json").write_text(json.dumps(limited))
    assert main(["merge", str(suite / "random.json"), str(tmp_path / "limited.json"), "-o", str(tmp_path / "z.json")]) \
        == 2
    assert "different --lm-max-examples" in capsys.readouterr().err
    (tmp_path / "junk.json").write_text("{")
    assert main(["merge", str(tmp_path / "junk.json"), "-o", str(tmp_path / "j.json")]) == 2
    assert "junk.json: not valid JSON" in capsys.readouterr().err


def test_every_result_carries_its_task_files_digest(suite: Path) -> None:
    import hashlib

    rows = json.loads((suite / "random.json").read_text())["results"]
    capitals = next(r for r in rows if r["task"] == "capitals")
    expected = hashlib.sha256((EXAMPLES / "capitals" / "task.json").read_bytes()).hexdigest()[:16]
    assert capitals["source_digest"] == expected
    assert all(r["source_digest"] for r in rows if not r["aggregate"])


def test_diff_exits_1_on_a_regressed_report_and_0_on_an_identical_one(suite: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["diff", str(suite / "oracle.json"), str(suite / "plain.json"), "--color=no", "--limit=1"]) == 1
    out = capsys.readouterr().out
    assert "regressed" in out and "flipped examples" in out and "newly failing" in out
    assert "baseline (dummy:oracle):" in out and "\x1b[" not in out
    gated = Report.load(suite / "gated.json")
    verdicts = {c["task"]: c["verdict"] for r in gated.results for c in r.comparisons}
    assert f"{list(verdicts.values()).count('regressed')} regressed of" in out  # as the run's own gate decided
    assert main(["diff", str(suite / "oracle.json"), str(suite / "oracle.json")]) == 0
    assert "0 regressed of" in capsys.readouterr().out
    # a generous allowed drop: nothing regresses
    assert main(["diff", str(suite / "oracle.json"), str(suite / "random.json"), "--max-regression=1.0"]) == 0
    capsys.readouterr()
    assert main(["diff", str(suite / "nope.json"), str(suite / "random.json")]) == 2
    assert "nope.json: no such file" in capsys.readouterr().err
    # nothing to pair (other tasks): not a pass
    other = json.loads((suite / "random.json").read_text())
    for r in other["results"]:
        r["task"] = "renamed_" + r["task"]
    (suite / "renamed.json").write_text(json.dumps(other))
    assert main(["diff", str(suite / "oracle.json"), str(suite / "renamed.json")]) == 2
    assert "nothing compared: no item of" in capsys.readouterr().err


def test_show_prints_examples_wrong_first_filtered_and_literal(suite: Path, tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["show", str(suite / "both.json"), "capitals", "--model", "dummy:random", "--color=no"]) == 0
    out = capsys.readouterr().out
    rows = [r for r in Report.load(suite / "both.json").results if r.task == "capitals" and r.model == "dummy:random"]
    [result] = rows
    assert out.startswith("capitals [dummy:random]") and out.count("\n#") == len(result.examples)
    marks = [line.split()[1] for line in out.splitlines() if line.startswith("#")]
    assert marks == sorted(marks, key=lambda m: m != "WRONG") and "WRONG" in marks  # wrong ones first
    assert main(["show", str(suite / "both.json"), "capitals", "--wrong", "--model=dummy:random", "--color=no"]) == 0
    assert "right" not in [line.split()[1] for line in capsys.readouterr().out.splitlines() if line.startswith("#")]
    assert main(["show", str(suite / "both.json"), "opposites:*", "--limit=1", "--color=yes"]) == 0
    colored = capsys.readouterr().out
    assert "\x1b[" in colored and "more (--limit)" in colored and "opposites:write" in colored
    # text that looks like rich markup stays as written
    report = Report.load(suite / "random.json")
    report.results[0].examples[0].prompt = "[bold]not markup[/bold] [smollm2]"
    report.save(tmp_path / "markup.json")
    assert main(["show", str(tmp_path / "markup.json"), report.results[0].task, "--color=yes"]) == 0
    assert "[bold]not markup[/bold] [smollm2]" in capsys.readouterr().out
    assert main(["show", str(suite / "both.json"), "no_such_task"]) == 2
    assert "no task 'no_such_task'" in capsys.readouterr().err


def test_python_dash_m_runs_the_tool(suite: Path) -> None:
    run = subprocess.run([sys.executable, "-m", "pytest_lmbench", "diff", "oracle.json", "oracle.json"], cwd=suite,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and "0 regressed of" in run.stdout
    bad = subprocess.run([sys.executable, "-m", "pytest_lmbench", "merge", "missing.json", "-o", "o.json"], cwd=suite,
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and bad.stderr.startswith("error: missing.json: no such file") and "Traceback" not in \
        bad.stderr


def test_shares_are_balanced_by_weight_and_deterministic() -> None:
    items = [(f"t{i}", float(w)) for i, w in enumerate([100, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10])]
    got = shares(items, 2)
    assert got == shares(list(items), 2)  # the same in every process
    loads = [sum(w for (_, w), s in zip(items, got) if s == k) for k in range(2)]
    assert loads == [100.0, 100.0]
    # unknown weights weigh the mean of the known ones; with none known, each item weighs 1
    assert sorted(shares([("a", None), ("b", None), ("c", None), ("d", None)], 2)) == [0, 0, 1, 1]
    assert set(shares([("a", 5.0), ("b", None)], 3)) <= {0, 1}


def test_a_bad_shard_is_a_usage_error(pytester: pytest.Pytester) -> None:
    for bad in ("3/2", "0/2", "1-2"):
        result = pytester.runpytest(f"--lm-shard={bad}", "-p", "no:cacheprovider")
        assert result.ret == pytest.ExitCode.USAGE_ERROR
        result.stderr.fnmatch_lines([f"*--lm-shard '{bad}': give I/N with 1 <= I <= N*"])


def test_the_same_share_under_xdist(suite: Path) -> None:
    run = _pytest(suite, "example_tasks", "--lm-model=dummy:random", "--lm-shard=1/2", "-n", "2",
                  "--lm-report=xdist1.json")
    assert run.returncode in (0, 1), run.stdout[-3000:]
    xdist, serial = (json.loads((suite / n).read_text()) for n in ("xdist1.json", "shard1.json"))
    assert xdist["shard"] == serial["shard"]
    assert _results(suite / "xdist1.json") == _results(suite / "shard1.json")


def test_ungated_gives_back_the_outcome_before_the_gate(suite: Path) -> None:
    gated = Report.load(suite / "gated.json").results
    regressed = [r for r in gated if r.outcome == "regressed"]
    assert regressed and all(r.before_gate is not None for r in regressed)
    plain = {(r.task, r.model): r for r in Report.load(suite / "plain.json").results}
    for r in regressed:
        back = ungated(r)
        assert (back.outcome, back.message, back.comparisons) == (plain[(r.task, r.model)].outcome,
                                                                   plain[(r.task, r.model)].message, [])
        assert r.outcome == "regressed"  # a copy: the loaded result is left as it was
    # a report written before before_gate existed: the thresholds are judged again (the default gate)
    old = dataclasses.replace(regressed[0], before_gate=None)
    back = ungated(old)
    assert back.outcome == plain[(old.task, old.model)].outcome and back.outcome != "regressed"
    assert "predates before_gate" in back.notes[-1]
