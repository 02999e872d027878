"""SmolLM2 on BIG-bench programmatic tasks: pytest-lmbench against BIG-bench's own code, the same model on both
sides, for docs/bigbench-programmatic.md.

Side A is pytest-lmbench's path (``core/tasks/programmatic.py``: the task's own ``evaluate_model`` through
``BigbenchModel``, batched). Side B is BIG-bench's code driven directly: the task class from the checkout, seeded as
pytest-lmbench documents, with a ``bigbench.api.model.Model`` written after BIG-bench's ``BIGBenchHFModel`` (one
input at a time, ``model_utils.postprocess_output``, scipy's ``logsumexp``) whose forward passes are the same
llama.cpp SmolLM2. Neither side uses the answer cache. Prints one line per task: both ScoreData lists' preferred
scores, whether the lists are identical, and both wall times.

    python bench/fetch_bigbench.py .lmbench
    python bench/bench_programmatic_smollm2.py [--max-examples 32] [TASK ...]
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import importlib
import os
import random
import sys
import time

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
TASKS = ("web_of_lies", "boolean_expressions", "com2sense", "simple_arithmetic", "dynamic_counting")


def reference_model(model: object, max_tokens: int):
    """BIG-bench's model API, one input at a time, over the backend's single requests."""
    import numpy as np
    import scipy.special

    api = importlib.import_module("bigbench.api.model")
    utils = importlib.import_module("bigbench.models.model_utils")

    class Reference(api.Model):
        def generate_text(self, inputs, max_length=0, stop_string=None, output_regex=None):
            input_list = [inputs] if isinstance(inputs, str) else inputs
            tokens = max_length if max_length else max_tokens  # the task's max_length, as BIG-bench's models
            generated = [model.generate([i], max_tokens=tokens)[0] for i in input_list]
            if isinstance(inputs, str):
                generated = generated[0]
            return utils.postprocess_output(generated, max_length, stop_string, output_regex)

        def cond_log_prob(self, inputs, targets, absolute_normalization=False):
            input_list, target_list = ([inputs], [targets]) if isinstance(inputs, str) else (inputs, targets)
            scores = [[model.loglikelihood([(i, t)])[0] for t in ts] for i, ts in zip(input_list, target_list)]
            if not absolute_normalization:
                scores = [list(np.array(row) - scipy.special.logsumexp(row)) for row in scores]
            return scores[0] if isinstance(inputs, str) else scores

        def model_data(self):
            raise NotImplementedError

    return Reference()


def as_dicts(returned) -> list[dict]:
    out = []
    for sd in returned if isinstance(returned, list) else [returned]:
        d = dataclasses.asdict(sd)
        d["score_dict"] = {k: v.item() if hasattr(v, "item") else v for k, v in d["score_dict"].items()}
        out.append({k: v.item() if hasattr(v, "item") else v for k, v in d.items()})
    return out


def main() -> None:
    import numpy as np

    from pytest_lmbench.core.models.base import DEFAULT_MAX_TOKENS
    from pytest_lmbench.core.models.registry import Registry, parse_spec
    from pytest_lmbench.core.tasks.programmatic import evaluate_programmatic, find_programmatic

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tasks", nargs="*", default=list(TASKS))
    parser.add_argument("--max-examples", type=int, default=32)
    parser.add_argument("--src", default=os.path.join(ROOT, ".lmbench", "bigbench-1.0.0"))
    args = parser.parse_args()
    model = Registry().get(parse_spec("smollm2"))
    sys.path.insert(0, args.src)
    print(f"SmolLM2 (llama.cpp), max_examples={args.max_examples}, {os.cpu_count()} cores")
    for name in args.tasks:
        path = os.path.join(args.src, "bigbench", "benchmark_tasks", name, "task.py")
        start = time.perf_counter()
        ours = evaluate_programmatic(find_programmatic(path), model, model_name="smollm2",
                                     max_examples=args.max_examples)
        mid = time.perf_counter()
        module = importlib.import_module(f"bigbench.benchmark_tasks.{name}.task")
        cls = [c.name for c in ast.parse(open(path).read()).body if isinstance(c, ast.ClassDef) and c.bases][-1]
        random.seed(0)
        np.random.seed(0)
        task = getattr(module, cls)()
        random.seed(0)
        np.random.seed(0)
        theirs = as_dicts(task.evaluate_model(reference_model(model, DEFAULT_MAX_TOKENS),
                                              max_examples=args.max_examples, random_seed=0))
        end = time.perf_counter()
        same = ours.score_data == theirs
        print(f"{name:28s} {ours.preferred_score}={ours.preferred_value:.4g} (BIG-bench: "
              f"{theirs[0]['score_dict'][theirs[0]['preferred_score']]:.4g})  identical ScoreData: {same}  "
              f"calls={ours.n_examples}  pytest-lmbench {mid - start:.1f} s, BIG-bench's loop {end - mid:.1f} s",
              flush=True)


if __name__ == "__main__":
    main()
