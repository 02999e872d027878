"""The terminal summary: columns by width, model order, -q / -qq / -v, the reliability sparkline."""

from __future__ import annotations

import pytest

from conftest import arith_task, mc_task, write_task
from pytest_lmbench.report.terminal import sparkline


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
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", "--lm-model=dummy:oracle",
                                         "--lm-model=dummy:random", *args)


def test_models_in_command_line_order_and_wide_columns(suite: pytest.Pytester) -> None:
    result = _run(suite, columns=130)
    out = result.stdout.str()
    assert out.index("model dummy:oracle") < out.index("model dummy:random")
    result.stdout.fnmatch_lines(["task*n*metric*score*±95%*norm*ece*calib*outcome*threshold",
                                 "colors*8*mc_grade*1.000*100.0*0.000*····█*scored*",
                                 "calib: accuracy in each fifth of confidence*"])
    narrow = _run(suite, columns=80).stdout.str()
    assert "calib" not in narrow and " ece " not in narrow


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
