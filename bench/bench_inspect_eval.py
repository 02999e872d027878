"""pytest-lmbench against Inspect's own ``inspect eval`` on ``example_tasks/inspect_capitals.py``: the same task
file, the same model (SmolLM2 served by a real ``python -m llama_cpp.server`` on 127.0.0.1), the same greedy
decoding (temperature 0), no answer cache. Inspect reaches the server through its ``llama-cpp-python`` provider,
pytest-lmbench through ``openai:smollm2?base_url=...&chat=1``. Each command is timed as a user runs it (a fresh
process: imports, collection, the run, the report), ``--repeat`` times in turn; prints each run's wall time and
both tools' scores (they must agree: Inspect scores both).

    python bench/bench_inspect_eval.py [--repeat 2]
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path[:0] = [os.path.join(ROOT, "tests"), ROOT]

from servers import llama_server  # noqa: E402

from pytest_lmbench.core.models.llamacpp import smollm2_path  # noqa: E402

EXAMPLES = os.path.join(ROOT, "example_tasks")
BIN = os.path.dirname(sys.executable)


def inspect_eval(url: str, work: str) -> tuple[float, dict[str, float]]:
    started = time.perf_counter()
    done = subprocess.run([os.path.join(BIN, "inspect"), "eval", "inspect_capitals.py", "--model",
                           "llama-cpp-python/smollm2", "--model-base-url", url, "--temperature", "0", "--log-dir",
                           os.path.join(work, "logs"), "--log-format", "json", "--display", "none"],
                          cwd=EXAMPLES, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if done.returncode:
        sys.exit(f"inspect eval failed:\n{done.stderr[-3000:]}")
    [path] = glob.glob(os.path.join(work, "logs", "*.json"))
    with open(path, encoding="utf-8") as fh:
        log = json.load(fh)
    return elapsed, {f"{s['name']}/{m['name']}": m["value"] for s in log["results"]["scores"]
                     for m in s["metrics"].values()}


def lmbench(url: str, work: str) -> tuple[float, dict[str, float]]:
    report = os.path.join(work, "report.json")
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "pytest", os.path.join(EXAMPLES, "inspect_capitals.py"),
                    f"--lm-model=openai:smollm2?base_url={url}&chat=1", "--lm-no-cache", f"--lm-report={report}",
                    "-q", "-p", "no:randomly", "-p", "no:cacheprovider"], cwd=work, capture_output=True)
    elapsed = time.perf_counter() - started
    with open(report, encoding="utf-8") as fh:
        [result] = json.load(fh)["results"]
    return elapsed, result["scores"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    with llama_server(smollm2_path(), n_ctx=2048) as url, tempfile.TemporaryDirectory() as tmp:
        for i in range(args.repeat):
            for name, run in (("inspect eval", inspect_eval), ("pytest-lmbench", lmbench)):
                work = os.path.join(tmp, f"{name.split()[0]}-{i}")
                os.makedirs(work)
                elapsed, scores = run(url, work)
                shown = {k: round(v, 4) for k, v in scores.items() if k != "normalized_aggregate_score"}
                print(f"run {i + 1}: {name:15s} {elapsed:5.1f} s  {shown}")


if __name__ == "__main__":
    main()
