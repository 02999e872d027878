"""Scores equal BIG-bench 1.0.0's own code fed the same model outputs, on the real tasks in ../shared.

Needs ../shared/bigbench-tasks and the reference code (``bench/fetch_bigbench.py DEST`` and
``LMBENCH_BIGBENCH_SRC=DEST/bigbench-1.0.0``; ``.ci/run`` does both); skipped when either is absent.
"""

from __future__ import annotations

import glob
import os

import pytest
from bigbench_reference import reference_scores, reference_source
from scripted_model import ScriptedModel

from pytest_lmbench.core.evaluate import evaluate_all
from pytest_lmbench.core.tasks.bigbench import is_parent_task_file, load_task

SHARED = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "bigbench-tasks")


def _task_files() -> list[str]:
    out = []
    for f in sorted(glob.glob(os.path.join(SHARED, "**", "task.json"), recursive=True)):
        parent = os.path.join(os.path.dirname(os.path.dirname(f)), "task.json")
        if os.path.isfile(parent) and is_parent_task_file(parent):
            continue  # evaluated through its parent
        out.append(f)
    return out


pytestmark = [
    pytest.mark.skipif(not os.path.isdir(SHARED), reason="../shared/bigbench-tasks is absent"),
    pytest.mark.skipif(reference_source() is None,
                       reason="BIG-bench reference code absent (set LMBENCH_BIGBENCH_SRC, "
                              "see bench/fetch_bigbench.py)"),
]


@pytest.mark.parametrize("max_examples", [None, 7])
@pytest.mark.parametrize("path", _task_files(), ids=lambda p: os.path.relpath(os.path.dirname(p), SHARED))
def test_scores_and_prompts_equal_bigbench(path: str, max_examples: int | None) -> None:
    files = [path] + sorted(glob.glob(os.path.join(os.path.dirname(path), "*", "task.json")))
    model = ScriptedModel.for_task_files(files)
    reference, ref_prompts = reference_scores(reference_source(), path, model, [0, 1], max_examples=max_examples)
    ours = evaluate_all(load_task(path), model, shots=[0, 1], max_examples=max_examples)
    by_key = {(r.task, r.shots): r for r in ours}
    assert len(ours) == len(reference)
    for ref in reference:
        mine = by_key[(ref["task"], ref["shots"])]
        assert set(mine.scores) == set(ref["scores"]), ref["task"]
        for metric, value in ref["scores"].items():
            tol = 1e-4 if metric.startswith(("bleu", "rouge")) else 1e-6
            assert mine.scores[metric] == pytest.approx(value, abs=tol), (ref["task"], ref["shots"], metric)
        assert (mine.preferred_score, mine.low_score, mine.high_score) == pytest.approx(
            (ref["preferred_score"], ref["low_score"], ref["high_score"]))
    our_prompts = {e.prompt for r in ours for e in r.examples}
    assert our_prompts == set(ref_prompts)
