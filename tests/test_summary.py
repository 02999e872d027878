"""The terminal summary: columns by width, model order, -q / -qq / -v, the reliability sparkline, the
calibration block."""

from __future__ import annotations

import re

import pytest
from conftest import arith_task, mc_task, write_task

from pytest_lmbench.core.results import ExampleResult, TaskResult
from pytest_lmbench.report.terminal import CALIBRATION_LEGEND, render_summary, sparkline


def test_sparkline_by_hand() -> None:
    # BIG-bench's 15 bins: bins 0-2 are the first fifth of confidence, 12-14 the last
    bins = [{"bin": 1, "count": 2, "accuracy": 0.0}, {"bin": 7, "count": 1, "accuracy": 0.5},
            {"bin": 8, "count": 3, "accuracy": 0.5}, {"bin": 13, "count": 4, "accuracy": 1.0}]
    assert sparkline(bins) == "▁·▅·█"


@pytest.fixture
def suite(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    pytester.monkeypatch = monkeypatch  # type: ignore[attr-defined]  # for _run's COLUMNS
    write_task(pytester.path, "arith/task.json", arith_task(n=6, lmbench={"threshold": {"exact_str_match": 0.5}}))
    write_task(pytester.path, "colors/task.json", mc_task(n=8))
    return pytester


def _run(pytester: pytest.Pytester, *args: str, columns: int = 80) -> pytest.RunResult:
    pytester.monkeypatch.setenv("COLUMNS", str(columns))  # type: ignore[attr-defined]
    return pytester.runpytest("-p", "no:cacheprovider", "--lm-model=dummy:oracle",
                              "--lm-model=dummy:random", *args)


def test_models_in_command_line_order_and_wide_columns(suite: pytest.Pytester) -> None:
    result = _run(suite, columns=130)
    out = result.stdout.str()
    assert out.index("model dummy:oracle") < out.index("model dummy:random")
    result.stdout.fnmatch_lines(["task*n*metric*score*±95%*norm*ece*calib*outcome*threshold",
                                 "colors*8*mc_grade*1.000*100.0*0.000*····█*scored*",
                                 "calib: accuracy in each fifth of confidence*"])
    narrow = _run(suite, columns=80)
    header = next(line for line in narrow.stdout.lines if line.startswith("task "))
    assert "calib" not in header and " ece " not in header  # no room for these columns at 80...
    # ...but the calibration block is there, under each model's table, within 80 columns
    narrow.stdout.fnmatch_lines(["model dummy:oracle*", "calibration*n*kind*ECE*95% CI*Brier*95% CI*",
                                 "colors*8*log-prob*0.00*[[]0.00, 0.00[]]*0.00*[[]0.00, 0.00[]]*",
                                 "ECE, Brier: lower is better*bootstrap*", "model dummy:random*",
                                 "colors*8*log-prob*0.*[[]0.*, 0.*[]]*0.*[[]0.*, 0.*[]]*"])
    lines = narrow.stdout.lines
    start = next(i for i, line in enumerate(lines) if line.startswith("model dummy:oracle"))
    # up to pytest's next section (its short summary is not cut to the width under CI=true) or the cache line
    end = next(i for i in range(start, len(lines)) if lines[i].startswith(("=", "lmbench cache")))
    summary = lines[start:end]
    assert summary and max(len(line) for line in summary) <= 80


def test_quiet_keeps_what_needs_attention(suite: pytest.Pytester) -> None:
    result = _run(suite, "-q")
    out = result.stdout.str()
    assert "model dummy:random" in out and "model dummy:oracle" not in out  # all oracle rows passed or scored
    result.stdout.fnmatch_lines(["arith*6*exact_match*0*failed*>= 0.5*", "items: 1 failed, 1 passed, 2 scored"])
    assert "mean normalized score" not in out
    very = _run(suite, "-qq").stdout.str()
    assert "items: 1 failed, 1 passed, 2 scored" in very and "model dummy:random" not in very


def test_verbose_lists_wrong_examples(suite: pytest.Pytester) -> None:
    result = _run(suite, "-v")
    result.stdout.fnmatch_lines(["wrong examples of arith [[]dummy:random, 0-shot[]]: 6 of 6, the first 5 (-vv: all)",
                                 "  #0 prompt: *0 + 0 =*", "      expected: '0'"])
    assert "wrong examples of arith [dummy:oracle" not in result.stdout.str()
    everything = _run(suite, "-vv")
    everything.stdout.fnmatch_lines(["wrong examples of arith [[]dummy:random, 0-shot[]]: 6 of 6", "*#5 prompt*"])


# -- the calibration block, on hand-built results ---------------------------------------------------------------

def _examples(n: int, *, choices: bool = False, stated: int = 0) -> list[ExampleResult]:
    """n examples; multiple choice ones with ``choices``; the first ``stated`` of them stated a confidence."""
    out = []
    for i in range(n):
        ex = ExampleResult(id=str(i), index=i, prompt=f"q{i}", targets=["a"], choices=["a", "b"] if choices else None)
        if i < stated:
            ex.scores["confidence"] = 0.8
        out.append(ex)
    return out


def _mc_item(task: str = "capitals", *, n: int = 20, outcome: str = "scored", shots: int = 0) -> TaskResult:
    return TaskResult(task=task, model="m", shots=shots, n_examples=n, preferred_score="multiple_choice_grade",
                      scores={"multiple_choice_grade": 0.45, "expected_calibration_error": 0.5234,
                              "calibration_multiple_choice_brier_score": 0.3087},
                      low_score=0.25, high_score=1.0, outcome=outcome, examples=_examples(n, choices=True),
                      errors={"expected_calibration_error": {"stderr": 0.07, "ci95": [0.3812, 0.6649]},
                              "calibration_multiple_choice_brier_score": {"stderr": 0.03, "ci95": [0.2461, 0.3702]}})


def _stated_item(task: str = "stated_confidence", *, n: int = 15, stated: int = 12, errors: dict | None = None
                 ) -> TaskResult:
    return TaskResult(task=task, model="m", shots=0, n_examples=n, preferred_score="accuracy",
                      scores={"accuracy": 0.6, "confidence_ece": 0.2871, "confidence_brier_score": 0.2549,
                              "confidence_mad": 0.2},
                      low_score=0.0, high_score=1.0, examples=_examples(n, stated=stated),
                      errors=errors if errors is not None else {
                          "confidence_ece": {"stderr": 0.09, "ci95": [0.1127, 0.4718]},
                          "confidence_brier_score": {"stderr": 0.07, "ci95": [0.1203, 0.3891]}})


def _plain_item(task: str = "arith") -> TaskResult:
    return TaskResult(task=task, model="m", shots=0, n_examples=6, scores={"exact_str_match": 0.5},
                      preferred_score="exact_str_match", low_score=0.0, high_score=1.0, outcome="passed",
                      examples=_examples(6))


def _block(out: str) -> list[str]:
    """The calibration block's lines (header to legend), each with its runs of spaces made one."""
    lines = [" ".join(line.split()) for line in re.sub(r"\x1b\[[0-9;]*m", "", out).splitlines()]
    start = next(i for i, line in enumerate(lines) if line.startswith("calibration n kind"))
    end = next(i for i in range(start, len(lines)) if lines[i].startswith("ECE, Brier: lower is better"))
    return lines[start:end + 1]


def test_calibration_block_at_80_columns() -> None:
    out = render_summary([_plain_item(), _mc_item(), _stated_item()], width=80)
    assert max(len(line) for line in out.splitlines()) <= 80
    assert _block(out) == [
        "calibration n kind ECE 95% CI Brier 95% CI",
        "capitals 20 log-prob 0.52 [0.38, 0.66] 0.31 [0.25, 0.37]",
        "stated_confidence 12 stated 0.29 [0.11, 0.47] 0.25 [0.12, 0.39]",  # n: the 12 of 15 that stated one
        "ECE, Brier: lower is better (0 = calibrated); 95% CI: bootstrap over examples",
    ]
    assert "arith" in out and not any(line.startswith("arith") for line in _block(out))  # no calibration: no row
    assert len(CALIBRATION_LEGEND) <= 80
    # the block comes after the model's table and its mean normalized score
    assert out.index("mean normalized score") < out.index("calibration ") < out.index("items: ")


def test_calibration_block_at_every_width() -> None:
    for width in (100, 110, 130):  # the table's own ece column (110) and sparkline (125) change nothing here
        out = render_summary([_mc_item()], width=width)
        assert "capitals 20 log-prob 0.52 [0.38, 0.66] 0.31 [0.25, 0.37]" in _block(out), width
    # narrower than 80: long names fold and the intervals wrap at their space, nothing is cut
    long = _stated_item("stated_confidence_of_a_rather_long_task_name")
    out = render_summary([_mc_item(), long], width=60)
    assert max(len(line) for line in out.splitlines()) <= 60
    block = _block(out)
    assert block[:3] == ["calibration n kind ECE 95% CI Brier 95% CI", "capitals 20 log-prob 0.52 [0.38, 0.31 [0.25,",
                         "0.66] 0.37]"]


def test_calibration_both_kinds_and_missing_intervals() -> None:
    both = _mc_item("capitals")
    both.scores.update({"confidence_ece": 0.1, "confidence_brier_score": 0.2})  # MC + verbalized_confidence
    both.examples[0].scores["confidence"] = 0.9  # one stated confidence: too few for an interval
    nothing = _stated_item("unsure", errors={"confidence_ece": {"stderr": None, "ci95": None}})  # Brier: none kept
    block = _block(render_summary([both, nothing], width=80))
    assert block[1:4] == ["capitals 20 log-prob 0.52 [0.38, 0.66] 0.31 [0.25, 0.37]",
                          "capitals 1 stated 0.10 n<2 0.20 n<2",
                          "unsure 12 stated 0.29 - 0.25 -"]


def test_no_calibration_block_without_calibration() -> None:
    plain = render_summary([_plain_item(), _plain_item("other")], width=80)
    assert "arith" in plain and "calibration" not in plain and CALIBRATION_LEGEND not in plain
    # a parent's aggregate averages its subtasks' ECE: not an item, no row (its subtasks have theirs)
    parent = _mc_item("family")
    parent.aggregate = True
    out = render_summary([parent, _plain_item()], width=80)
    assert "family (aggregate)" in out and "calibration" not in out


def test_calibration_block_quiet_levels() -> None:
    results = [_mc_item("fails", outcome="failed"), _mc_item("fine", outcome="passed"), _stated_item()]
    assert [line.split()[0] for line in _block(render_summary(results, width=80))[1:-1]] == \
        ["fails", "fine", "stated_confidence"]
    quiet = render_summary(results, width=80, verbose=-1)  # -q: the rows that are shown
    assert [line.split()[0] for line in _block(quiet)[1:-1]] == ["fails"]
    assert "fine" not in quiet
    very = render_summary(results, width=80, verbose=-2)  # -qq: the counts only
    assert "items: 1 failed, 1 passed, 1 scored" in very and "calibration" not in very and "ECE" not in very


def test_calibration_task_names_stay_literal_and_fold() -> None:
    long = "stated_confidence_of_a_rather_long_task_name_that_cannot_fit"
    for color in (False, True):
        out = render_summary([_mc_item("capitals [smollm2]"), _stated_item(long)], width=80, color=color)
        block = _block(out)
        assert "capitals [smollm2] 20 log-prob 0.52 [0.38, 0.66] 0.31 [0.25, 0.37]" in block
        if not color:
            assert max(len(line) for line in out.splitlines()) <= 80
            first = next(i for i, line in enumerate(block) if line.startswith("stated_confidence_of"))
            assert block[first].endswith(" 12 stated 0.29 [0.11, 0.47] 0.25 [0.12, 0.39]")
            # the name folds over the next lines of its cell, whole
            rest = block[first + 1:-1]
            assert rest and block[first].split()[0] + "".join(rest) == long


def test_calibration_rows_name_their_shots() -> None:
    block = _block(render_summary([_mc_item(shots=0), _mc_item(shots=3)], width=80))
    assert [" ".join(line.split()[:2]) for line in block[1:-1]] == ["capitals (0-shot)", "capitals (3-shot)"]


def test_lm_eval_names_and_few_shot_rows_fit_80_columns() -> None:
    long = TaskResult(task="sums", model="m", shots=2, n_examples=12, preferred_score="exact_match,first-number",
                      scores={"exact_match,first-number": 0.167}, low_score=0.0, high_score=1.0, outcome="scored",
                      threshold={"exact_match,first-number": 0.1})
    out = render_summary([long, _mc_item(shots=0)], width=80)
    table = out.split("calibration")[0]
    assert all(len(line) <= 80 for line in table.splitlines())
    assert "threshold" in table and "sums (2-shot)" in table  # no column is cut; the shots go inline
    assert "exact_match," in table and "first-number" in table  # the long name folds at its comma
    wide = render_summary([long, _mc_item(shots=0)], width=120)
    assert "shots" in wide.splitlines()[1] and "sums (2-shot)" not in wide


def test_long_lm_eval_and_inspect_metric_names_break_at_their_comma_or_slash() -> None:
    from pytest_lmbench.report.terminal import _metric_cell

    assert _metric_cell("exact_match,first-number") == "exact_match,\nfirst-number"
    assert _metric_cell("includes/accuracy") == "includes/\naccuracy"
    assert _metric_cell("match/accuracy") == "match/accuracy"  # 14 characters: one line
