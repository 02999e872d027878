"""Malformed task files: one clear collection error each (file, field, fix), no traceback, others still run."""

from __future__ import annotations

import pytest
from conftest import arith_task, mc_task, section, write_task

from pytest_lmbench.core.errors import TaskFormatError
from pytest_lmbench.core.tasks.bigbench import load_task

CASES = {
    "bad_json": ('{"name": "x", "examples": [', "invalid JSON at line 1", "fix the JSON syntax"),
    "bad_utf8": (b'{"name": "caf\xe9"}', "invalid UTF-8 at byte 13", "save the file as UTF-8"),
    "top_level_list": ("[1, 2]", "the top level is a JSON array", "a task file is an object"),
    "metrics_string": (arith_task(metrics="exact_str_match"), "metrics: must be a non-empty list", "known metrics"),
    "no_input": (arith_task(examples=[{"target": "1"}]), "examples[0]: has no \"input\"", "add the example's input"),
    "no_target": (arith_task(examples=[{"input": "1"}]), "examples[0]: has neither", "add a target string"),
    "input_number": (arith_task(examples=[{"input": 1, "target": "1"}]), "examples[0].input: must be a string", ""),
    "target_dict": (arith_task(examples=[{"input": "a", "target": {"x": 1}}]), "examples[0].target: must be a string",
                    ""),
    "empty_scores": (mc_task(examples=[{"input": "a", "target_scores": {}}]),
                     "examples[0].target_scores: must be a non-empty object", '"right": 1'),
    "text_scores": (mc_task(examples=[{"input": "a", "target_scores": {"x": "1", "y": 0}}]),
                    "examples[0].target_scores['x']: must be a number, not \"1\"", ""),
    "no_correct": (mc_task(examples=[{"input": "a", "target_scores": {"x": 0, "y": 0}}]),
                   "no choice scores higher", "give the correct choice"),
    "mc_without_scores": (mc_task(examples=[{"input": "a", "target": "x"}]),
                          "examples[0]: has no \"target_scores\"", "drop the multiple-choice metrics"),
    "unknown_metric": (arith_task(metrics=["accuracy"]), "metrics: unknown metric 'accuracy'", "known metrics:"),
    "preferred_missing": (arith_task(preferred_score="bleu"), "preferred_score: \"bleu\" is not among", "use one of"),
    "preferred_rouge": (arith_task(metrics=["rouge"], preferred_score="rouge"), "'rouge' is not a single score",
                        "rougeLsum"),
    "bad_regex": (arith_task(output_regex="(\\d+"), "output_regex: invalid regular expression", "fix the pattern"),
    "two_groups": (arith_task(output_regex="(a)(b)"), "output_regex: has 2 capturing groups", "(?:...)"),
    "nesting": ("[" * 100000 + "]" * 100000, "nested too deeply", ""),
    "bad_threshold": (arith_task(lmbench={"threshold": {"exact_str_match": "high"}}),
                      "lmbench.threshold.exact_str_match: must be a number", ""),
    "threshold_unknown_metric": (arith_task(lmbench={"threshold": {"bleu": 10}}),
                                 "lmbench.threshold.bleu: the task does not compute 'bleu'", "use one of"),
    "empty_examples": (arith_task(examples=[]), "examples: must be a non-empty list", ""),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_each_bad_file_gives_one_clear_error_and_others_run(pytester: pytest.Pytester, case: str) -> None:
    content, problem, fix = CASES[case]
    bad = write_task(pytester.path, f"bad/{case}/task.json", content)
    write_task(pytester.path, "good/task.json", arith_task("good"))
    result = pytester.runpytest("-p", "no:cacheprovider", "--lm-model=dummy:oracle")
    result.assert_outcomes(passed=1, errors=1)
    out = section(result, "ERRORS")  # not the warnings, which depend on the tests run before in this process
    assert f"{bad.relative_to(pytester.path)}" in out or str(bad) in out
    assert problem in out
    assert fix in out
    assert "Traceback" not in out and "site-packages" not in out and "pytest_lmbench/" not in out


def test_error_object_names_path_field_and_fix(tmp_path) -> None:
    path = write_task(tmp_path, "t/task.json", arith_task(metrics=["nope"]))
    with pytest.raises(TaskFormatError) as info:
        load_task(path)
    assert info.value.path == str(path) and info.value.field == "metrics" and "known metrics" in info.value.fix


def test_parent_without_subtasks(tmp_path) -> None:
    path = write_task(tmp_path, "p/task.json", {"name": "p", "description": "", "keywords": []})
    with pytest.raises(TaskFormatError, match="hold no task files"):
        load_task(path)


def test_duplicate_subtask_names(tmp_path) -> None:
    write_task(tmp_path, "p/task.json", {"name": "p"})
    write_task(tmp_path, "p/a/task.json", arith_task("same"))
    write_task(tmp_path, "p/b/task.json", arith_task("same"))
    with pytest.raises(TaskFormatError, match="subtask name 'p:same' is also used"):
        load_task(tmp_path / "p" / "task.json")


def test_old_prefix_keys_are_accepted_and_unused_as_in_bigbench(tmp_path) -> None:
    from pytest_lmbench.core.tasks.prompts import build_queries

    path = write_task(tmp_path, "t/task.json", arith_task(prefix="OLD ", input_prefix="IN "))
    task = load_task(path)
    assert "OLD" not in build_queries(task, 0)[0].prompt and "IN " not in build_queries(task, 0)[0].prompt


def test_catastrophic_output_regex_is_stopped() -> None:
    import time

    from pytest_lmbench.core.scoring.postprocess import RegexTimeout, postprocess

    start = time.monotonic()
    with pytest.raises(RegexTimeout, match=r"output_regex '\(a\+\)\+\$' took more than 0.2 s .*simplify the pattern"):
        postprocess("a" * 40 + "b", stop_string=None, output_regex="(a+)+$", timeout=0.2)
    assert time.monotonic() - start < 5
    assert postprocess("aaa", stop_string=None, output_regex="(a+)+$", timeout=0.2) == "aaa"  # fine input: fine


def test_a_hanging_regex_makes_its_item_an_error_and_the_others_run(pytester: pytest.Pytester) -> None:
    write_task(pytester.path, "evil/task.json", arith_task("evil", n=2, output_regex="(a+)+$"))
    write_task(pytester.path, "fine/task.json", arith_task("fine", n=2))
    pytester.makepyfile(aaa="""
        class A:
            def generate(self, prompts, *, max_tokens, stop=None):
                return ["a" * 40 + "b" for _ in prompts]
            def loglikelihood(self, requests):
                return [0.0] * len(requests)
    """)
    # In a process of its own: the 2 s limit is a SIGALRM, which only the main thread of a process gets; where
    # it cannot fire the regex backtracks for hours, and the timeout below stops the process, not this one.
    result = pytester.runpytest_subprocess("--lm-model=py:aaa:A", "-p", "no:cacheprovider", timeout=60)
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*evil (evil*task.json): output_regex '(a+)+$' took more than 2 s on one output*"])
    assert "Traceback" not in result.stdout.str()
