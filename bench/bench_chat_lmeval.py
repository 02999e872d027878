"""Our chat prompts against lm-evaluation-harness's ``--apply_chat_template --fewshot_as_multiturn``.

A user moving from lm-evaluation-harness should get the same numbers for the same task. This builds one
BIG-bench task both ways with SmolLM2's own chat template and compares every request as text:

- ours: the task through ``build_queries`` and ``core/models/chat.py`` (``smollm2?chat=1``), rendered by the GGUF's
  template (llama-cpp-python's formatter), each option the start of the assistant's reply;
- lm-evaluation-harness's: the same examples as a local lm-eval task config (``description`` = the task prefix,
  ``doc_to_text`` = the question as our user turn shows it, the few-shot examples as its fewshot split with
  the ``first_n`` sampler), its own ``Task.build_all_requests(apply_chat_template=True,
  fewshot_as_multiturn=True)``, and the template applied as its HF model applies it (transformers'
  ``render_jinja_template``, i.e. ``tokenizer.apply_chat_template``).

0-shot: every example. k-shot: lm-eval draws shots its own way, so the first query is compared with its shots
given to lm-eval in BIG-bench's order. Needs ``pip install lm_eval`` (not a dependency of this project).

    python bench/bench_chat_lmeval.py [example_tasks/capitals/task.json] [--shots 0 2]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

from pytest_lmbench.core.models.chat import PromptFormat, conversation, strip_output_prefix  # noqa: E402
from pytest_lmbench.core.models.llamacpp import gguf_chat_template, smollm2_path  # noqa: E402
from pytest_lmbench.core.tasks.bigbench import load_task  # noqa: E402
from pytest_lmbench.core.tasks.prompts import Query, build_queries  # noqa: E402


def ours(task: Any, queries: list[Query]) -> list[list[tuple[str, str]]]:
    """Per query, the (context, continuation) requests of smollm2?chat=1 (one per option; one with an empty
    continuation for a generative task)."""
    template = gguf_chat_template(smollm2_path())
    out = []
    for q in queries:
        conv = conversation(PromptFormat(chat=True), task_prefix=task.task_prefix, shots=q.shots, query=q.input,
                            prompt=q.prompt, output_prefix=task.example_output_prefix)
        context = template.render(conv)
        out.append([(context, c) for c in q.choices] if q.choices else [(context, "")])
    return out


def theirs(task: Any, queries: list[Query], shots: int, root: Path) -> list[list[tuple[str, str]]]:
    """The same requests as lm-evaluation-harness builds them from a task config over the same examples."""
    from lm_eval.tasks import TaskManager, get_task_dict
    from transformers.utils.chat_template_utils import render_jinja_template

    template = gguf_chat_template(smollm2_path())

    def apply_chat_template(chat_history: list[dict[str, str]], add_generation_prompt: bool = True) -> str:
        rendered, _ = render_jinja_template(conversations=[chat_history], chat_template=template.source,
                                            add_generation_prompt=add_generation_prompt,
                                            bos_token=template.bos_token, eos_token=template.eos_token)
        return rendered[0]

    prefix = task.example_output_prefix

    def doc(q: Query) -> dict[str, Any]:
        d: dict[str, Any] = {"text": strip_output_prefix(q.input, prefix)}
        if q.choices:
            d["choices"] = q.choices
            best = max(q.example.target_scores.values())
            d["gold"] = next(i for i, c in enumerate(q.choices) if q.example.target_scores[c] == best)
        else:
            d["gold"] = q.targets[0]
        return d

    asked = queries if shots == 0 else queries[:1]
    (root / "test.jsonl").write_text("\n".join(json.dumps(doc(q)) for q in asked), encoding="utf-8")
    fewshot = [{"text": strip_output_prefix(s, prefix), "choices": [t], "gold": 0} if asked[0].choices else
               {"text": strip_output_prefix(s, prefix), "gold": t} for s, t in asked[0].shots]
    (root / "train.jsonl").write_text("\n".join(json.dumps(d) for d in fewshot) or json.dumps(doc(asked[0])),
                                      encoding="utf-8")
    mc = bool(asked[0].choices)
    config = {
        "task": "bench_chat_lmeval", "dataset_path": "json",
        "dataset_kwargs": {"data_files": {"test": str(root / "test.jsonl"), "train": str(root / "train.jsonl")}},
        "test_split": "test", "fewshot_split": "train", "fewshot_config": {"sampler": "first_n"},
        "num_fewshot": shots, "description": task.task_prefix.strip(), "doc_to_text": "{{text}}",
        "doc_to_target": "{{gold}}" if not mc else "gold",
        "output_type": "multiple_choice" if mc else "generate_until",
        "metric_list": [{"metric": "acc"}] if mc else [{"metric": "exact_match"}],
    }
    if mc:
        config["doc_to_choice"] = "{{choices}}"
    else:
        config["generation_kwargs"] = {"until": ["\n"], "max_gen_toks": 8}
    import yaml

    (root / "bench_chat_lmeval.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    lm_task = get_task_dict(["bench_chat_lmeval"], TaskManager(include_path=str(root)))["bench_chat_lmeval"]
    lm_task.build_all_requests(apply_chat_template=True, fewshot_as_multiturn=True,
                               chat_template=apply_chat_template, tokenizer_name="smollm2")
    out: list[list[tuple[str, str]]] = [[] for _ in asked]
    for inst in sorted(lm_task.instances, key=lambda i: (i.doc_id, i.idx)):
        context, continuation = inst.arguments[0], inst.arguments[1]
        out[inst.doc_id].append((context, continuation if mc else ""))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("task", nargs="?", default="example_tasks/capitals/task.json")
    parser.add_argument("--shots", type=int, nargs="+", default=[0, 2])
    args = parser.parse_args()
    task = load_task(args.task)
    for shots in args.shots:
        queries = build_queries(task, shots)
        a = ours(task, queries)
        with tempfile.TemporaryDirectory() as tmp:
            b = theirs(task, queries, shots, Path(tmp))
        pairs = [(x, y) for qa, qb in zip(a, b) for x, y in zip(qa, qb)]
        same = sum(x == y for x, y in pairs)
        print(f"{task.name} {shots}-shot: {same}/{len(pairs)} requests identical "
              f"({len(b)} queries compared, contexts and continuations as text)")
        for x, y in pairs:
            if x != y:
                print("  first difference:\n    ours:   ", repr(x)[:400], "\n    lm-eval:", repr(y)[:400])
                break
        if shots and pairs:
            print("  e.g. the context:", repr(pairs[0][0][0])[:600])


if __name__ == "__main__":
    main()
