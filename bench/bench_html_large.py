"""How big, and how slow to open, is the --lm-html report of a large run? 20,000 synthetic examples (20 tasks x
2 models x 500 examples: half multiple choice with four options, half generative; prompts of a few hundred
characters; a baseline of a third model, so that flipped examples are listed too), rendered with
``render_html`` and opened in headless Chromium.

    python bench/bench_html_large.py [--tasks 20] [--examples 500] [--runs 3] [--keep report.html]

Prints the render time, the file size, and per Chromium run: the wall time of ``chromium --headless
--dump-dom`` (a process start, the page's load and the serialized DOM), the time the page's script was done
(``data-ready-ms``: performance.now() when the script set ``data-ready``), and the wall time of the same
command on an empty page (Chromium's own start, to subtract). With Selenium installed, also the page's load
event (navigation timing), the time to open a section (parse its data and render the first 100 rows) and to
filter it by text.
"""

from __future__ import annotations

import argparse
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pytest_lmbench.core.aggregates import model_aggregates  # noqa: E402
from pytest_lmbench.core.compare import BaselineIndex  # noqa: E402
from pytest_lmbench.core.results import ExampleResult, TaskResult  # noqa: E402
from pytest_lmbench.report.html import render_html  # noqa: E402

WORDS = ("the of and to in is was for on that with as by at from his her their an which river city north "
         "capital century language people small large number first second known during after between "
         "government university population history music water mountain island").split()
CAPITALS = ["Paris", "Madrid", "Oslo", "Lima", "Cairo", "Tokyo", "Berlin", "Rome", "Quito", "Accra", "Hanoi", "Seoul"]


def _text(rng: random.Random, n_words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n_words)).capitalize() + "."


def _question(rng: random.Random, i: int, mc: bool) -> tuple[str, list[str], int | None]:
    """One example of a task: (prompt, options or [target], index of the best option or None)."""
    context = " ".join(_text(rng, rng.randint(10, 18)) for _ in range(rng.randint(3, 6)))
    if mc:
        options = rng.sample(CAPITALS, 4)
        prompt = (f"{context}\nQ: Which city is meant in passage {i}?\n"
                  + "".join(f"  choice: {o}\n" for o in options) + "A: ")
        return prompt, options, rng.randrange(4)
    prompt = f"{context}\nAnswer with a number only.\nQ: How many people were counted in passage {i}?\nA:"
    return prompt, [str(rng.randint(10, 999))], None


def _answer(rng: random.Random, task: str, i: int, question: tuple[str, list[str], int | None],
            skill: float) -> ExampleResult:
    """A model's answer to one example: right with probability ``skill``."""
    prompt, options, best = question
    right = rng.random() < skill
    if best is not None:
        log_probs = [rng.gauss(-2.0, 1.0) for _ in options]
        top = best if right else (best + rng.randint(1, 3)) % 4
        log_probs[top] = max(log_probs) + rng.uniform(0.1, 2.0)
        grade = float(top == best)
        return ExampleResult(id=f"{task}-{i:05d}", index=i, prompt=prompt, targets=[options[best]], choices=options,
                             log_probs=log_probs, target_scores={o: float(k == best) for k, o in enumerate(options)},
                             scores={"multiple_choice_grade": grade, "correct": grade}, score=grade)
    target = options[0]
    reply = target if right else str(rng.randint(10, 999))
    match = float(reply == target)
    return ExampleResult(id=f"{task}-{i:05d}", index=i, prompt=prompt, targets=[target], response=reply,
                         raw_response=reply + rng.choice(["", "\nQ: What", " people", "."]),
                         scores={"exact_str_match": match, "numeric_match_with_0_1_relative_error": match},
                         score=match)


def build(n_tasks: int, n_examples: int, models: dict[str, float]) -> list[TaskResult]:
    """Results of ``models`` (label -> chance of a right answer) on ``n_tasks`` tasks of ``n_examples`` each
    (the same tasks for any models: seeded by the task's name)."""
    results = []
    for t in range(n_tasks):
        task, mc = f"synthetic_{t:02d}", t % 2 == 0
        metric = "multiple_choice_grade" if mc else "exact_str_match"
        questions = [_question(random.Random(f"{task}/{i}"), i, mc) for i in range(n_examples)]
        for label, skill in models.items():
            rng = random.Random(f"{task}/{label}")
            examples = [_answer(rng, task, i, q, skill) for i, q in enumerate(questions)]
            mean = statistics.mean(float(ex.score or 0.0) for ex in examples)
            results.append(TaskResult(task=task, model=label, shots=0, n_examples=n_examples, scores={metric: mean},
                                      preferred_score=metric, low_score=0.25 if mc else 0.0, high_score=1.0,
                                      keywords=["synthetic", "multiple choice" if mc else "arithmetic"],
                                      examples=examples))
    return results


def chromium_times(chromium: str, url: str) -> tuple[float, int | None, int]:
    """(wall seconds of --dump-dom, the page's data-ready-ms, the dumped DOM's size)."""
    start = time.perf_counter()
    run = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", url],
                         capture_output=True, text=True, timeout=300)
    wall = time.perf_counter() - start
    found = re.search(r'data-ready-ms="(\d+)"', run.stdout)
    return wall, int(found.group(1)) if found else None, len(run.stdout)


def selenium_times(url: str, task: str) -> tuple[float, float, float] | None:
    """(ms from navigation start to the load event, ms to open the section of ``task`` and render its first rows,
    ms to filter it by text), or None without Selenium and chromedriver."""
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        return None
    driver_path = shutil.which("chromedriver")
    if driver_path is None:
        return None
    options = webdriver.ChromeOptions()
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    try:
        driver.get(url)
        loaded = driver.execute_script("var t = performance.getEntriesByType('navigation')[0];"
                                       "return t.loadEventEnd - t.startTime;")
        opened = driver.execute_script(
            "var d = document.querySelector('details.lmx[data-task=\"' + arguments[0] + '\"]');"
            "var t = performance.now(); d.open = true; d.dispatchEvent(new Event('toggle'));"
            "d.querySelector('tbody').offsetHeight; return performance.now() - t;", task)
        filtered = driver.execute_script(
            "var d = document.querySelector('details.lmx[data-task=\"' + arguments[0] + '\"]');"
            "var q = d.querySelector('input.lmx-q'); var t = performance.now(); q.value = 'Paris';"
            "d.querySelector('select.lmx-show').dispatchEvent(new Event('change'));"
            "d.querySelector('tbody').offsetHeight; return performance.now() - t;", task)
        return float(loaded), float(opened), float(filtered)
    finally:
        driver.quit()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=20)
    parser.add_argument("--examples", type=int, default=500)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--keep", type=Path, default=None, help="also write the report here")
    args = parser.parse_args()
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")

    start = time.perf_counter()
    results = build(args.tasks, args.examples, {"small-model": 0.55, "large-model": 0.8})
    baseline = BaselineIndex(build(args.tasks, args.examples, {"old-model": 0.7}), "baseline.json")
    built = time.perf_counter() - start
    n = sum(len(r.examples) for r in results)
    start = time.perf_counter()
    page = render_html(results, model_aggregates(results), models=["small-model", "large-model"], baseline=baseline)
    rendered = time.perf_counter() - start
    data = page.encode("utf-8")
    print(f"{n:,} examples ({args.tasks} tasks x 2 models x {args.examples}), built in {built:.2f} s; "
          f"render_html {rendered:.2f} s; file {len(data) / 1e6:.2f} MB")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "report.html"
        path.write_bytes(data)
        empty = Path(tmp) / "empty.html"
        empty.write_text("<!DOCTYPE html><title>empty</title><p>empty</p>", encoding="utf-8")
        if args.keep:
            args.keep.write_bytes(data)
        if chromium is None:
            print("headless Chromium not installed: no open times (apt-get install chromium)")
            return
        for _ in range(args.runs):
            base_wall, _, _ = chromium_times(chromium, empty.as_uri())
            wall, ready, dom = chromium_times(chromium, path.as_uri())
            print(f"chromium --dump-dom: {wall:.2f} s wall (empty page: {base_wall:.2f} s); script done at "
                  f"{ready} ms after navigation start; DOM dumped {dom / 1e6:.1f} MB")
        timed = selenium_times(path.as_uri(), results[0].task)
        if timed is not None:
            print(f"Selenium: the load event {timed[0]:.0f} ms after navigation start; opening a section of "
                  f"{args.examples} rows (first 100 rendered): {timed[1]:.0f} ms; filtering it by text: "
                  f"{timed[2]:.0f} ms")


if __name__ == "__main__":
    main()
