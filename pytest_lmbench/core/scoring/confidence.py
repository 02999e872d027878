"""Verbalized confidence ("Confidence: 80%"), after "Teaching models to express their uncertainty in words".

``parse_confidence`` reads a stated confidence as a probability; ``confidence_calibration`` scores stated
confidences against correctness: Brier score (mean squared error), expected calibration error with
BIG-bench's 15 equal-width bins, the paper's mean absolute deviation over equal-count (quantile) bins, and
the reliability-diagram data.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from pytest_lmbench.core.scoring.metrics import calibration_bins

#: Words people and models use for confidence, as probabilities (configurable per call).
CONFIDENCE_WORDS: dict[str, float] = {
    "lowest": 0.05, "very low": 0.1, "low": 0.3, "medium": 0.5, "moderate": 0.5, "high": 0.7, "very high": 0.9,
    "highest": 0.95, "certain": 1.0, "uncertain": 0.3, "unsure": 0.3, "sure": 0.9,
}

_PERCENT = re.compile(r"(?<![\d.])(\d{1,3}(?:\.\d+)?)\s*%")
_OUT_OF = re.compile(r"(?<![\d.])(\d{1,3}(?:\.\d+)?)\s*(?:/|out of)\s*(10|100)(?![\d.])")
_FRACTION = re.compile(r"(?<![\d.])(0?\.\d+|1\.0*|0|1)(?![\d.%])")
_NUMBER = re.compile(r"(?<![\d.])(\d{1,3}(?:\.\d+)?)(?![\d%])")
_LABEL = re.compile(r"confidence\s*(?:level)?\s*[:=]?\s*(.*)", re.IGNORECASE | re.DOTALL)


def parse_confidence(text: str, words: Mapping[str, float] | None = None) -> float | None:
    """A probability in [0, 1] from "83%", "0.83", "8/10", a bare "83" (read as a percentage) or a word ("high"),
    preferring what follows "Confidence"; None when nothing is stated."""
    if not text:
        return None
    table = dict(CONFIDENCE_WORDS if words is None else words)
    label = _LABEL.search(text)
    for part in ([label.group(1)] if label else []) + [text]:
        m = _PERCENT.search(part)
        if m and float(m.group(1)) <= 100:
            return float(m.group(1)) / 100
        m = _OUT_OF.search(part)
        if m and float(m.group(1)) <= float(m.group(2)):
            return float(m.group(1)) / float(m.group(2))
        m = _FRACTION.search(part)
        if m:
            return float(m.group(1))
        m = _NUMBER.search(part)
        if m and 1 < float(m.group(1)) <= 100:  # a bare "80" after a question asking for a percentage
            return float(m.group(1)) / 100
        low = part.lower()
        best = None
        for word in sorted(table, key=len, reverse=True):  # "very high" before "high"
            m2 = re.search(rf"\b{re.escape(word)}\b", low)
            if m2 and (best is None or m2.start() < best[0]):
                best = (m2.start(), table[word])
        if best is not None:
            return float(best[1])
    return None


#: The scores of stated-confidence calibration (all lower is better).
CONFIDENCE_METRICS = ("confidence_brier_score", "confidence_ece", "confidence_mad")
MAD_BINS = 5  # "Teaching models to express their uncertainty in words" uses 5 equal-count bins for MAD


def quantile_calibration_error(confidences: Sequence[float], correct: Sequence[float], bins: int) -> float:
    """Mean absolute deviation between mean confidence and accuracy over ``bins`` equal-count bins of the
    examples sorted by confidence (the paper's MAD with bins=5; HELM's equal-mass ECE weights bins by size,
    which for equal bins is the same number). Sizes differ by at most one when n is not a multiple."""
    n = len(confidences)
    if n == 0:
        return float("nan")
    order = sorted(range(n), key=lambda i: confidences[i])
    parts = [p for p in np.array_split(np.asarray(order), min(bins, n)) if len(p)]
    return float(sum(len(p) / n * abs(np.mean([confidences[i] for i in p]) - np.mean([correct[i] for i in p]))
                     for p in parts))


def selective_accuracy_area(confidences: Sequence[float], correct: Sequence[float]) -> float:
    """Area under the coverage-accuracy curve: answer only the k most confident examples, k = 1..n, and
    average the accuracies. 1.0 when confidence ranks every right answer above every wrong one."""
    order = sorted(range(len(confidences)), key=lambda i: -confidences[i])
    running, total = 0.0, 0.0
    for k, i in enumerate(order, start=1):
        running += correct[i]
        total += running / k
    return total / len(order) if order else float("nan")


def confidence_calibration(confidences: Sequence[float], correct: Sequence[float]) -> dict[str, Any]:
    """Calibration of stated confidences against 0/1 correctness: Brier score (the paper's MSE), ECE over
    BIG-bench's 15 equal-width bins, MAD over 5 quantile bins, and the reliability bins."""
    n = len(confidences)
    if n == 0:
        return {"scores": {}, "reliability": []}
    brier = sum((c - y) ** 2 for c, y in zip(confidences, correct)) / n
    ece, bins = calibration_bins(list(confidences), list(correct))
    mad = quantile_calibration_error(confidences, correct, MAD_BINS)
    return {"scores": {"confidence_brier_score": float(brier), "confidence_ece": float(ece),
                       "confidence_mad": mad}, "reliability": bins}
