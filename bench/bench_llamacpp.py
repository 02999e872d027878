"""Plugin vs a raw llama-cpp-python loop on the same prompts (SmolLM2, 0-shot, CPU): multiple choice by default,
``--generative`` for greedy generation of up to 64 tokens per example.

Three timings per run, each in a fresh process so both sides pay interpreter start-up and model load:
- raw:     bench/raw_llama.py scoring the prompts pytest-lmbench builds, in task order (each example's prompt
           evaluated once, then each option after it);
- raw+prefix: the same, also keeping the KV cache of the token prefix shared with the previous example (what
           the plugin does; with prompts that share a long task prefix this is the least work there is);
- plugin:  ``pytest TASKS --lm-model=smollm2`` — collection, prompting, scoring, metrics, summary, report
           (batched decoding, ``batch=auto``);
- plugin batch=1: the same with ``smollm2?batch=1``, one sequence at a time (the plugin before batching);
- engine:  the plugin's evaluate() in-process, without pytest and start-up (for where the time goes).

    python bench/bench_llamacpp.py [--repeat 3] [--generative] [TASK.json ...]

Default tasks: five multiple-choice-only tasks of ../shared/bigbench-tasks (324 examples), or with
--generative five generation-only ones (167 examples).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path[:0] = [HERE, ROOT]

from pytest_lmbench.core.tasks.bigbench import load_task  # noqa: E402
from pytest_lmbench.core.tasks.prompts import build_queries  # noqa: E402

SHARED = os.path.join(ROOT, "..", "shared", "bigbench-tasks")
DEFAULT = ["analytic_entailment", "english_proverbs", "known_unknowns", "logical_args",
           "fact_checker/covid19_scientific"]
GENERATIVE = ["auto_debugging", "linguistic_mappings/plural_irregular_json", "repeat_copy_logic",
              "simple_arithmetic_json",
              "sufficient_information"]
MAX_TOKENS = 64  # the plugin's default generation budget


def wall(cmd: list[str], env: dict | None = None) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=ROOT)
    return time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("tasks", nargs="*")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--generative", action="store_true", help="default to generation-only tasks")
    args = ap.parse_args()
    files = args.tasks or [os.path.join(SHARED, t, "task.json") for t in (GENERATIVE if args.generative else DEFAULT)]
    items = []
    for f in files:
        task = load_task(f)
        for q in build_queries(task, 0):
            if task.multiple_choice_metrics and q.choices:
                items.append([q.prompt, q.choices])
            if task.generative_metrics:
                items.append([q.prompt, MAX_TOKENS])
    tmp = tempfile.mkdtemp(prefix="lmbench-bench-")
    prompts, raw_out, report = (os.path.join(tmp, n) for n in ("prompts.json", "raw.json", "report.json"))
    with open(prompts, "w") as fh:
        json.dump(items, fh)
    n_options = sum(len(c) for _, c in items if isinstance(c, list))
    n_gen = sum(isinstance(c, int) for _, c in items)
    print(f"{len(files)} tasks, {len(items) - n_gen} multiple-choice examples ({n_options} options), "
          f"{n_gen} generations of up to {MAX_TOKENS} tokens")
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    raw_cmd = [sys.executable, os.path.join(HERE, "raw_llama.py"), prompts, raw_out]
    # --lm-no-cache: every repeat must ask the model (a warm answer cache would make the plugin's side free)
    plugin_cmd = [sys.executable, "-m", "pytest", *files, "--lm-model=smollm2", "--lm-no-cache", "-p",
                  "no:cacheprovider", "-q", f"--lm-report={report}", "--rootdir", tmp]
    one_cmd = [a.replace("--lm-model=smollm2", "--lm-model=smollm2?batch=1") for a in plugin_cmd]
    one_cmd[one_cmd.index(f"--lm-report={report}")] = f"--lm-report={report}.one"
    raw_t, plugin_t, raw_inner, pre_t, pre_inner, one_t = [], [], [], [], [], []
    env_prefix = dict(env, RAW_REUSE_PREFIX="1")
    for _ in range(args.repeat):  # interleaved, so drift in machine load hits all alike
        raw_t.append(wall(raw_cmd, env))
        with open(raw_out) as fh:
            raw_inner.append(json.load(fh))
        pre_t.append(wall(raw_cmd, env_prefix))
        with open(raw_out) as fh:
            pre_inner.append(json.load(fh))
        plugin_t.append(wall(plugin_cmd, env))
        one_t.append(wall(one_cmd, env))
    # the engine alone, in this process
    from raw_llama import smollm2_file

    from pytest_lmbench.core.evaluate import evaluate
    from pytest_lmbench.core.models.llamacpp import LlamaCppModel

    model = LlamaCppModel(smollm2_file(), n_ctx=2048, n_threads=2)
    engine_t = []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        for f in files:
            evaluate(load_task(f), model, shots=0)
        engine_t.append(time.perf_counter() - t0)
    # the same answers? mc grade from the raw log-probs (plain argmax) next to the plugin's report, and the
    # raw generations next to the plugin's raw responses
    with open(report) as fh:
        rows = json.load(fh)["results"]
    ours = {r["task"]: r["scores"].get("multiple_choice_grade") for r in rows}
    generated = {ex["prompt"]: ex.get("raw_response") for r in rows for ex in r["examples"]}
    answers, i, raw_grades, same_text = raw_inner[-1]["scores"], 0, {}, 0
    for f in files:
        task = load_task(f)
        grades = []
        for q in build_queries(task, 0):
            if task.multiple_choice_metrics and q.choices:
                best = max(range(len(q.choices)), key=lambda k: answers[i][k])
                grades.append(float(q.example.target_scores.get(q.choices[best], 0.0)))
                i += 1
            if task.generative_metrics:
                same_text += answers[i] == generated.get(q.prompt)
                i += 1
        if grades:
            raw_grades[task.name] = round(sum(grades) / len(grades), 4)
    med = statistics.median
    score_med = med(r["score_seconds"] for r in raw_inner)
    raw_load = med(r['load_seconds'] for r in raw_inner)
    print(f"raw loop, whole process:   {med(raw_t):6.2f} s  (model load {raw_load:.2f} s, "
          f"scoring {score_med:.2f} s)")
    pre_med = med(r["score_seconds"] for r in pre_inner)
    print(f"raw+prefix, whole process: {med(pre_t):6.2f} s  (scoring {pre_med:.2f} s)")
    print(f"plugin, whole pytest run:  {med(plugin_t):6.2f} s  ({(med(plugin_t) / med(raw_t) - 1) * 100:+.1f}% vs raw, "
          f"{(med(plugin_t) / med(pre_t) - 1) * 100:+.1f}% vs raw+prefix)")
    print(f"plugin batch=1, whole run: {med(one_t):6.2f} s  (batch=auto is {med(one_t) / med(plugin_t):.2f}x faster; "
          f"raw+prefix / batch=auto: {med(pre_t) / med(plugin_t):.2f}x)")
    with open(report + ".one") as fh:
        one_rows = json.load(fh)["results"]
    same = [ex == ex1 for r, r1 in zip(rows, one_rows) for ex, ex1 in zip(r["examples"], r1["examples"])]
    print(f"batch=auto and batch=1 reports: {sum(same)} of {len(same)} examples identical (log-probs, texts)")
    print(f"plugin engine, in-process: {med(engine_t):6.2f} s  ({(med(engine_t) / score_med - 1) * 100:+.1f}% vs raw "
          f"scoring, {(med(engine_t) / pre_med - 1) * 100:+.1f}% vs raw+prefix scoring)")
    print("runs (s): raw", [round(x, 1) for x in raw_t], "raw+prefix", [round(x, 1) for x in pre_t],
          "plugin", [round(x, 1) for x in plugin_t], "plugin batch=1", [round(x, 1) for x in one_t],
          "engine", [round(x, 1) for x in engine_t])
    if raw_grades:
        print("mc grade, plugin:", {k: round(v, 4) for k, v in ours.items() if v is not None})
        print("mc grade, raw:   ", raw_grades)
    if n_gen:
        print(f"generations identical to the plugin's: {same_text} of {n_gen}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
