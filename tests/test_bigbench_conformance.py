"""Scores and prompts equal BIG-bench 1.0.0's own code fed the same model outputs, on the real tasks in ../shared.

Every run is compared with the reference recorded in ``tests/data/bigbench_reference.json``
(``bench/record_bigbench_reference.py``), so exactness is checked on every machine, with or without BIG-bench's
code. Where the code is present (``bench/fetch_bigbench.py .lmbench``, or ``LMBENCH_BIGBENCH_SRC``), our scores
are also compared with it live, and so is the recording (a stale recording fails). Skipped without ../shared.
"""

from __future__ import annotations

import os

import pytest
from bigbench_reference import (
    MAX_EXAMPLES,
    RECORDING,
    SHARED,
    bigbench_scores,
    files_sha256,
    load_recording,
    our_scores,
    prompts_digest,
    reference_source,
    run_key,
    score_differences,
    scripted_model_sha256,
    task_family,
    task_files,
)

pytestmark = pytest.mark.skipif(not os.path.isdir(SHARED), reason="../shared/bigbench-tasks is absent")

REGENERATE = "python bench/record_bigbench_reference.py (see its docstring)"


@pytest.fixture(scope="module")
def recording() -> dict:
    return load_recording()


def _recorded_run(recording: dict, path: str, max_examples: int | None) -> dict:
    key = run_key(path, max_examples)
    assert key in recording["runs"], f"{key} is not in {RECORDING}: {REGENERATE}"
    run = recording["runs"][key]
    assert run["task_files_sha256"] == files_sha256(task_family(path)), \
        f"{key}: the task file changed since it was recorded: {REGENERATE}"
    return run


def test_the_recording_covers_every_shared_task_with_the_current_scripted_model(recording: dict) -> None:
    want = {run_key(p, m) for p in task_files() for m in MAX_EXAMPLES}
    assert set(recording["runs"]) == want
    assert recording["header"]["scripted_model_sha256"] == scripted_model_sha256(), \
        f"tests/scripted_model.py changed since the recording: {REGENERATE}"
    header = recording["header"]
    # says where it came from; one not recorded from BIG-bench's own code is marked to be re-verified
    assert header["reverify"] == ("pytest-lmbench" in header["source"])
    assert header["reverify"] is False or ("commit" in header and header["verified"])


@pytest.mark.parametrize("max_examples", MAX_EXAMPLES)
@pytest.mark.parametrize("path", task_files(), ids=lambda p: os.path.relpath(os.path.dirname(p), SHARED))
def test_scores_and_prompts_equal_bigbench(recording: dict, path: str, max_examples: int | None) -> None:
    recorded = _recorded_run(recording, path, max_examples)
    ours, our_prompts = our_scores(path, max_examples)
    assert score_differences(ours, recorded["score_data"]) == []
    assert prompts_digest(our_prompts) == recorded["prompts"]
    src = reference_source()
    if src is None:
        return
    live, live_prompts = bigbench_scores(src, path, max_examples)
    assert score_differences(ours, live) == []
    assert set(our_prompts) == set(live_prompts)
    assert score_differences(recorded["score_data"], live) == [], f"the recording is stale: {REGENERATE}"
    assert prompts_digest(live_prompts) == recorded["prompts"], f"the recording is stale: {REGENERATE}"


def test_a_changed_score_or_prompt_is_caught(recording: dict) -> None:
    """The comparison can fail: a score moved by 1e-5, a metric missing, another prompt."""
    path = os.path.join(SHARED, "arithmetic", "task.json")
    recorded = _recorded_run(recording, path, 7)
    ours, prompts = our_scores(path, 7)
    assert score_differences(ours, recorded["score_data"]) == []
    moved = [{**r, "scores": {k: v + 1e-5 for k, v in r["scores"].items()}} for r in ours]
    assert score_differences(moved, recorded["score_data"])
    fewer = [{**r, "scores": dict(list(r["scores"].items())[1:])} for r in ours]
    assert any("metrics" in p for p in score_differences(fewer, recorded["score_data"]))
    assert prompts_digest(prompts[:-1] + [prompts[-1] + " "]) != recorded["prompts"]
