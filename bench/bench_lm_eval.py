"""pytest-lmbench against lm-evaluation-harness on the same BIG-bench prompts and the same SmolLM2 GGUF.

lm-evaluation-harness runs in its own virtual environment (``python -m venv V && V/bin/pip install
torch==2.13.0 'lm_eval[hf]' gguf``), fed by task configs this script writes: every example's prompt exactly as
pytest-lmbench builds it (0-shot, BIG-bench's format), its options or targets, nothing left to either tool's
own templates. (For multiple choice the prompt's trailing space is moved to the front of each option, as
lm-evaluation-harness expects: context + option is the same text.) Two of the ways lm-evaluation-harness can run a GGUF:

- ``--backend hf``: its Hugging Face backend loading the GGUF itself (``pretrained=DIR,gguf_file=FILE``;
  transformers dequantises the weights to float32 and runs them with torch on the CPU);
- ``--backend gguf``: its ``gguf`` backend, one HTTP request per option, against ``python -m llama_cpp.server``
  serving the GGUF (llama.cpp, as on our side). This backend cannot set a generation length (the server's
  default of 16 tokens applies), so it is used for multiple choice only.

Each side is one whole process, timed from start to exit (interpreter start, model load, everything); our side is
``pytest TASKS --lm-model=smollm2 --lm-no-cache`` (``--ours SPEC`` for another spec of the same GGUF).
Accuracy is compared example by example: the option each picks
(multiple choice, graded with BIG-bench's target scores) and the text each generates (exact_str_match after
BIG-bench's post-processing, applied to both).

    python bench/bench_lm_eval.py --venv /tmp/lmeval-venv [--backend hf|gguf] [--generative] [--limit N]
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
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(HERE), str(ROOT), str(ROOT / "tests")]

from bench_llamacpp import DEFAULT, GENERATIVE, MAX_TOKENS, SHARED  # noqa: E402
from raw_llama import smollm2_file  # noqa: E402

from pytest_lmbench.core.scoring.metrics import generative  # noqa: E402
from pytest_lmbench.core.scoring.postprocess import postprocess  # noqa: E402
from pytest_lmbench.core.tasks.bigbench import load_task  # noqa: E402
from pytest_lmbench.core.tasks.prompts import build_queries  # noqa: E402


def trimmed_copy(src: str, dest: Path, limit: int | None) -> Path:
    """The task file with its first ``limit`` examples (both tools then see the same examples)."""
    data = json.loads(Path(src).read_text(encoding="utf-8"))
    if limit:
        data["examples"] = data["examples"][:limit]
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "task.json").write_text(json.dumps(data), encoding="utf-8")
    return dest / "task.json"


def lm_eval_task(task_file: Path, name: str, out: Path, generative: bool) -> str:
    """An lm-evaluation-harness task (YAML + JSONL) whose documents are our queries, prompt included."""
    task = load_task(task_file)
    rows = []
    for q in build_queries(task, 0):
        if generative:
            rows.append({"prompt": q.prompt, "target": q.targets[0] if q.targets else ""})
        else:
            scores = [float(q.example.target_scores.get(c, 0.0)) for c in q.choices]
            # lm-evaluation-harness's convention: the context's trailing spaces go with the option (its hf
            # backend moves them itself; its gguf backend fails on an option token that starts in the context)
            context = q.prompt.rstrip(" ")
            space = q.prompt[len(context):]
            rows.append({"prompt": context, "choices": [space + c for c in q.choices],
                         "label": scores.index(max(scores)), "bigbench_prompt": q.prompt})
    data = out / f"{name}.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    lines = [f"task: {name}", "dataset_path: json", "dataset_kwargs:", "  data_files:",
             f"    test: {json.dumps(str(data))}", "test_split: test", "doc_to_text: prompt"]
    if generative:
        # until: the end-of-text token only, as on our side (BIG-bench post-processes the whole generation)
        lines += ["output_type: generate_until", "doc_to_target: target", "generation_kwargs:",
                  "  until: ['<|im_end|>']", f"  max_gen_toks: {MAX_TOKENS}", "  do_sample: false",
                  "metric_list:", "  - metric: exact_match"]
    else:
        # target_delimiter "": the option follows the prompt directly (context + option is BIG-bench's text)
        lines += ["output_type: multiple_choice", "doc_to_choice: choices", "doc_to_target: label",
                  'target_delimiter: ""', "metric_list:", "  - metric: acc"]
    (out / f"{name}.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return name


def run_timed(cmd: list[str], env: dict, cwd: Path, log: Path) -> float:
    t0 = time.perf_counter()
    with open(log, "w") as fh:
        proc = subprocess.run(cmd, env=env, cwd=cwd, stdout=fh, stderr=subprocess.STDOUT)
    elapsed = time.perf_counter() - t0
    if proc.returncode not in (0, 1):
        sys.exit(f"{cmd[0]} failed ({proc.returncode}); see {log}:\n" + log.read_text()[-3000:])
    return elapsed


def lm_eval_samples(out_dir: Path, name: str) -> list[dict]:
    files = sorted(out_dir.rglob(f"samples_{name}_*.jsonl"), key=os.path.getmtime)
    if not files:
        sys.exit(f"no samples of {name} under {out_dir}")
    rows = [json.loads(line) for line in files[-1].read_text(encoding="utf-8").splitlines() if line.strip()]
    return sorted(rows, key=lambda r: r["doc_id"])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--venv", required=True, help="the virtual environment with lm_eval installed")
    ap.add_argument("--backend", choices=["hf", "gguf"], default="hf")
    ap.add_argument("--generative", action="store_true", help="generation-only tasks instead of multiple choice")
    ap.add_argument("--limit", type=int, default=None, help="the first N examples of each task")
    ap.add_argument("--batch-size", default="16", help="lm_eval's --batch_size (hf backend)")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--keep", default=None, help="work in this directory and keep it")
    ap.add_argument("--ours", default="smollm2", metavar="SPEC",
                    help="our model spec, e.g. 'smollm2?tokenize=joint' to tokenize context and option together "
                         "as lm-evaluation-harness does")
    args = ap.parse_args()
    if not (Path(args.venv) / "bin" / "lm_eval").exists():
        sys.exit(f"{args.venv}/bin/lm_eval not found: python -m venv {args.venv} && "
                 f"{args.venv}/bin/pip install torch==2.13.0 'lm_eval[hf]' gguf")
    if args.backend == "gguf" and args.generative:
        sys.exit("the gguf backend sends no generation length (the server's 16 tokens apply): use --backend hf")
    work = Path(args.keep or tempfile.mkdtemp(prefix="lmbench-lmeval-"))
    work.mkdir(parents=True, exist_ok=True)
    tasks_dir, conf_dir = work / "tasks", work / "lm_eval_tasks"
    conf_dir.mkdir(exist_ok=True)
    names, files = [], []
    for t in (GENERATIVE if args.generative else DEFAULT):
        f = trimmed_copy(os.path.join(SHARED, t, "task.json"), tasks_dir / t.replace("/", "__"), args.limit)
        files.append(f)
        names.append(lm_eval_task(f, "lmbench_" + t.replace("/", "__"), conf_dir, args.generative))
    gguf = Path(smollm2_file())
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", TRANSFORMERS_OFFLINE="1",
               TOKENIZERS_PARALLELISM="false", PYTHONDONTWRITEBYTECODE="1")
    lm_eval = [str(Path(args.venv) / "bin" / "lm_eval"), "--tasks", ",".join(names), "--include_path",
               str(conf_dir), "--log_samples", "--output_path", str(work / "lm_eval_out")]
    ours = [sys.executable, "-m", "pytest", *map(str, files), f"--lm-model={args.ours}", "--lm-no-cache", "-p",
            "no:cacheprovider", "-q", f"--lm-report={work / 'ours.json'}", "--rootdir", str(work)]
    theirs_t, ours_t = [], []
    server = None
    if args.backend == "gguf":
        from servers import llama_server

        server = llama_server(str(gguf), n_ctx=2048, threads=2, timeout=300)
        base = server.__enter__()[:-len("/v1")]
        lm_eval += ["--model", "gguf", "--model_args", f"base_url={base}"]
    else:
        lm_eval += ["--model", "hf", "--model_args", f"pretrained={gguf.parent},gguf_file={gguf.name},dtype=float32",
                    "--device", "cpu", "--batch_size", args.batch_size]
    try:
        for i in range(args.repeat):  # interleaved
            theirs_t.append(run_timed(lm_eval, env, work, work / f"lm_eval_{i}.log"))
            ours_t.append(run_timed(ours, env, ROOT, work / f"ours_{i}.log"))
    finally:
        if server is not None:
            server.__exit__(None, None, None)
    report = {r["task"]: r for r in json.loads((work / "ours.json").read_text())["results"]}
    print(f"work directory: {work}")
    print("| task | examples | ours: score | lm-eval: score | same answer |")
    print("|---|---|---|---|---|")
    total_n = total_same = 0
    for f, name in zip(files, names):
        task = load_task(f)
        mine = report[task.name]
        samples = lm_eval_samples(work / "lm_eval_out", name)
        queries = build_queries(task, 0)
        assert len(samples) == len(queries) == len(mine["examples"]), (name, len(samples), len(queries))
        by_prompt = {ex["prompt"]: ex for ex in mine["examples"]}
        theirs_scores, answers, same = [], [], 0
        for q, s in zip(queries, samples):
            ex = by_prompt[q.prompt]
            if args.generative:
                text = s["resps"][0][0]
                answers.append(postprocess(text, stop_string=task.stop_string, output_regex=task.output_regex))
                same += text.strip() == (ex["raw_response"] or "").strip()
            else:
                lls = [float(r[0][0] if isinstance(r[0], list) else r[0]) for r in s["resps"]]  # logged as strings
                pick = max(range(len(lls)), key=lambda k: lls[k])
                theirs_scores.append(float(q.example.target_scores.get(q.choices[pick], 0.0)))
                ours_pick = max(range(len(ex["log_probs"])), key=lambda k: ex["log_probs"][k])
                same += pick == ours_pick
        metric = "exact_str_match" if args.generative else "multiple_choice_grade"
        if args.generative:  # BIG-bench's metric, as on our side
            theirs_scores = [generative([q.targets for q in queries], answers, [metric]).scores[metric]]
        print(f"| {task.name} | {len(queries)} | {mine['scores'][metric]:.3f} | "
              f"{statistics.mean(theirs_scores):.3f} | {same}/{len(queries)} |")
        total_n, total_same = total_n + len(queries), total_same + same
    med = statistics.median
    print(f"same answer on {total_same} of {total_n} examples")
    print(f"lm-evaluation-harness ({args.backend}): {med(theirs_t):.1f} s  runs {[round(x, 1) for x in theirs_t]}")
    print(f"pytest-lmbench ({args.ours}): {med(ours_t):.1f} s  runs {[round(x, 1) for x in ours_t]}  "
          f"({med(theirs_t) / med(ours_t):.2f}x faster)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
