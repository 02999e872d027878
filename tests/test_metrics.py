"""Metrics against ../shared/reference/bigbench-metric-vectors.md (computed with BIG-bench's own code)
and against values worked out by hand."""

from __future__ import annotations

import pytest

from pytest_lmbench.core.results import TaskResult, aggregate
from pytest_lmbench.core.scoring import metrics as M
from pytest_lmbench.core.scoring.postprocess import postprocess
from pytest_lmbench.core.tasks.bigbench import DEFAULT_OUTPUT_REGEX

MC_ALL = ["multiple_choice_grade", "calibration_multiple_choice_brier_score", "expected_calibration_error",
          "weighted_log_probabilities", "weighted_probabilities"]


def test_vector_1_two_mc_samples() -> None:
    lp = [-0.1, -0.5, -3, -9]
    v = M.multiple_choice([["5", "4", "6", "3"], ["13", "4", "6", "3"]],
                          [{"5": 1, "4": 0, "6": 0, "3": 0}, {"13": 0.5, "4": 0, "6": 0, "3": 0}], [lp, lp], [lp, lp],
                          MC_ALL)
    assert v.scores["multiple_choice_grade"] == pytest.approx(0.75, abs=1e-12)
    assert v.scores["calibration_multiple_choice_brier_score"] == pytest.approx(0.08217880533576256, abs=1e-12)
    assert v.scores["expected_calibration_error"] == pytest.approx(0.4204510049762008, abs=1e-12)
    assert v.scores["weighted_log_probabilities"] == pytest.approx(-0.075, abs=1e-12)
    assert v.scores["weighted_probabilities"] == pytest.approx(0.6786280635269697, abs=1e-12)


def test_vector_2_soft_targets() -> None:
    choices = [["a", "b", "c"]] * 3
    scores = [{"a": 1, "b": .5, "c": 0}, {"a": 1, "b": 1, "c": 0}, {"a": 0, "b": 1, "c": 1}]
    lps = [[-2, -.5, -1.5], [-.2, -3, -1], [-.9, -1, -.3]]
    v = M.multiple_choice(choices, scores, lps, lps, MC_ALL)
    assert v.scores["multiple_choice_grade"] == pytest.approx(0.8333333333333334, abs=1e-12)
    assert v.scores["calibration_multiple_choice_brier_score"] == pytest.approx(0.2585154808733118, abs=1e-12)
    assert v.scores["expected_calibration_error"] == pytest.approx(0.2598750214020098, abs=1e-12)
    assert v.scores["weighted_log_probabilities"] == pytest.approx(-2.25, abs=1e-12)
    assert v.scores["weighted_probabilities"] == pytest.approx(0.8052720321306451, abs=1e-12)


@pytest.mark.parametrize("values, expected", [([-1, -1, -2], 1), ([-1, -2, -1], 0), ([0, 0, 0, 0], 1),
                                              ([-.5, -.5], 0), ([-3, -1, -2], 1)])
def test_vector_3_hashed_argmax(values, expected) -> None:
    assert M.hashed_argmax(values) == expected


def test_vector_4_binary_calibration_and_buckets() -> None:
    p_correct = [.9, .9, .6, .4, .55, 1.0]
    import math

    choices = [["y", "n"]] * 6
    scores = [{"y": 1, "n": 0}] * 6
    lps = [[math.log(p), math.log(1 - p) if p < 1 else -1e9] for p in p_correct]
    v = M.multiple_choice(choices, scores, lps, lps, MC_ALL)
    assert v.scores["expected_calibration_error"] == pytest.approx(0.14166666666666666, abs=1e-9)
    assert v.scores["multiple_choice_grade"] == pytest.approx(0.8333333333333334)
    assert v.scores["calibration_multiple_choice_brier_score"] == pytest.approx(0.12375, abs=1e-9)
    assert M.ece_buckets([1 / 15, 0, 0.5, 1.0, 14 / 15]) == [1, 0, 7, 14, 14]
    bins = v.extra["reliability"]
    assert sum(b["count"] for b in bins) == 6


def test_vector_5_numeric_match() -> None:
    pairs = [("100", "90", 1), ("100", "111", 0), ("-100", "5000", 1), ("0", "0.1", 1), ("0", "-10", 0),
             ("3", "3.3", 1), ("3", "three", 0)]
    got = M.numeric_match([[t] for t, _, _ in pairs], [r for _, r, _ in pairs])
    assert got == [float(e) for _, _, e in pairs]


def test_vector_6_string_matches() -> None:
    targets = [["42"], ["Paris", "paris"], ["yes"]]
    assert sum(M.exact_str_match(targets, ["42", "Paris ", " yes"])) / 3 == pytest.approx(0.3333333333333333)
    assert M.case_insensitive_str_match(targets, ["42", "Paris ", " YES"]) == [1.0, 1.0, 1.0]


def test_vector_7_log_likelihood() -> None:
    v = M.log_likelihood([[-4], [-9]], [["the cat"], ["a big dog"]])
    assert v.scores["log_likelihood"] == pytest.approx(-6.5)
    assert v.scores["log_likelihood_per_word"] == pytest.approx(-2.5)
    assert v.scores["log_likelihood_per_char"] == pytest.approx(-0.7857142857142857)
    multi = M.log_likelihood([[-0.1, -0.5, -3, -9], [-2]], [["a", "b", "c", "d"], ["e"]])
    assert multi.scores == {"log_likelihood": pytest.approx(-0.777247463644066)}


def test_vector_8_sequence_f1() -> None:
    got = M.sequence_f1([["B-PER O O B-LOC"], ["O O"]], ["B-PER O B-LOC", "O O O"])
    assert sum(got) / 2 == pytest.approx(75.0)


def test_vector_9_bleu_rouge() -> None:
    pytest.importorskip("sacrebleu")
    pytest.importorskip("rouge_score")
    assert M.bleu([["the cat sat on the mat"]], ["the cat sat on a mat"]) == pytest.approx(53.7284965911771, abs=1e-4)
    r = M.rouge([["the cat sat on the mat"]], ["the cat sat on a mat"])
    assert r["rouge1"][0] == pytest.approx(83.33333333333334, abs=1e-4)
    assert r["rouge2"][0] == pytest.approx(60.0, abs=1e-4)
    assert r["rougeLsum"][0] == pytest.approx(83.33333333333334, abs=1e-4)


def test_bleu_pads_short_reference_lists() -> None:
    pytest.importorskip("sacrebleu")
    # A second reference equal to the first changes nothing: padding repeats ref[0].
    one = M.bleu([["the cat sat on the mat"], ["a dog ran"]], ["the cat sat on a mat", "a dog ran"])
    two = M.bleu([["the cat sat on the mat", "the cat sat on the mat"], ["a dog ran"]],
                 ["the cat sat on a mat", "a dog ran"])
    assert one == pytest.approx(two)


def test_vector_10_postprocessing() -> None:
    assert postprocess(" 42. 7*7 = 49", stop_string=None, output_regex=DEFAULT_OUTPUT_REGEX) == " 42"
    assert postprocess("\nParis", stop_string=None, output_regex=DEFAULT_OUTPUT_REGEX) == "Paris"
    assert postprocess(".abc.def", stop_string=".", output_regex=None) == ".abc.def"
    assert postprocess("The apple is on the ground. What is", stop_string=".", output_regex=None) == \
        "The apple is on the ground."
    assert postprocess("no digits", stop_string=None, output_regex=r"\d+") == ""
    assert postprocess("x" * 300, stop_string=None, output_regex=None) == "x" * 256
    assert postprocess("answer: 12 and 13", stop_string=None, output_regex=r"answer: (\d+)") == "12"


def test_macro_f1_by_hand() -> None:
    # y_true a a b b, predictions a b b b: F1(a) = 2/3, F1(b) = 0.8 -> macro 0.7333...
    choices = [["a", "b"]] * 4
    scores = [{"a": 1, "b": 0}, {"a": 1, "b": 0}, {"a": 0, "b": 1}, {"a": 0, "b": 1}]
    lps = [[0, -1], [-1, 0], [-1, 0], [-1, 0]]
    v = M.multiple_choice(choices, scores, lps, lps, ["macro_f1"])
    assert v.scores["macro_f1"] == pytest.approx((2 / 3 + 0.8) / 2)


def _result(task, pref, value, low, high=1.0):
    return TaskResult(task=task, model="m", shots=0, n_examples=10, scores={pref: value}, preferred_score=pref,
                      low_score=low, high_score=high)


def test_vector_12_aggregation() -> None:
    mixed = aggregate("p", [_result("p:a", "multiple_choice_grade", 0.5, .25),
                            _result("p:b", "exact_str_match", 0.3, 0.0)])
    assert mixed.scores["normalized_aggregate_score"] == pytest.approx(31.666666666666664)
    assert mixed.preferred_score == "normalized_aggregate_score"
    mc = aggregate("p", [_result("p:a", "multiple_choice_grade", 0.5, .25),
                         _result("p:b", "multiple_choice_grade", 0.8, .5)])
    assert mc.scores["multiple_choice_grade"] == pytest.approx(0.65)
    assert mc.low_score == pytest.approx(0.375)
    assert mc.scores["normalized_aggregate_score"] == pytest.approx(46.666666666666664)
    assert mc.preferred_score == "multiple_choice_grade"


def test_rouge_does_not_import_nltk_until_used() -> None:
    """rouge_score imports nltk (over a second) for features BIG-bench's ROUGE does not use: it is deferred."""
    import subprocess
    import sys

    pytest.importorskip("rouge_score")
    code = ("import sys; from pytest_lmbench.core.scoring import metrics as M\n"
            "r = M.rouge([['the cat sat on the mat']], ['the cat sat on a mat'])\n"
            "print(round(r['rouge2'][0], 6), 'nltk' in sys.modules)\n"
            "from rouge_score import tokenizers\n"
            "print(tokenizers.porter.PorterStemmer().stem('running'), 'nltk' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["60.0", "False", "run", "True"]


def test_hashed_argmax_fast_path_agrees_with_numpy() -> None:
    """Plain float lists with one maximum skip numpy; ties, ints, -0.0/0.0 and infinities take the numpy road.
    Both give what BIG-bench's argmax gives."""
    import hashlib

    import numpy as np

    def reference(values):
        a = np.asarray(values, dtype=np.float64)
        best = np.flatnonzero(a == np.max(a))
        return int(best[int(hashlib.sha256(a.tobytes()).hexdigest(), 16) % len(best)])

    rng = np.random.default_rng(0)
    cases = [[float(x) for x in rng.normal(size=int(rng.integers(1, 9)))] for _ in range(500)]
    cases += [[1.0, 1.0, 0.5], [0.0, -0.0], [-0.0, 0.0, -1.0], [float("-inf"), -1.0], [-1.0, float("inf")],
              [2, 1], (0.1, 0.3), [-1e308, -1e308, -1.0], [0.5, 0.5, 0.5, 0.5]]
    assert [M.hashed_argmax(c) for c in cases] == [reference(c) for c in cases]


def test_normalized_log_probs_equal_one_example_at_a_time() -> None:
    """The row-wise normalisation gives bit for bit what log_probs - logsumexp(log_probs) gives per example,
    with -inf options, all -inf rows and mixed option counts."""
    import math
    import warnings

    import numpy as np

    rng = np.random.default_rng(1)
    data = [[float(x) for x in rng.normal(-5, 3, size=int(rng.integers(1, 9)))] for _ in range(2000)]
    data += [[float("-inf"), -1.0], [float("-inf"), float("-inf")], [-1e308, -1e308], [float("inf"), 1.0]]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = [[float(x) for x in np.asarray(a) - M._logsumexp(a)] for a in data]
    got = M.normalize_log_probs(data)
    assert len(got) == len(expected)
    for e, g in zip(expected, got):
        assert len(e) == len(g)
        assert all(x == y or (math.isnan(x) and math.isnan(y)) for x, y in zip(e, g)), (e, g)
