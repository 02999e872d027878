"""The live progress line of long items: only on a terminal, throttled, erased at the end."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from conftest import arith_task, mc_task, write_task

from pytest_lmbench.core.evaluate import evaluate
from pytest_lmbench.core.models.base import BaseModel
from pytest_lmbench.core.tasks.bigbench import load_task
from pytest_lmbench.report.progress import LiveProgress


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def screen(line: str, writes: list[str]) -> tuple[str, int]:
    """What a terminal shows on one line after ``writes`` (printable text and backspaces), and the cursor."""
    cells, cursor = list(line), len(line)
    for text in writes:
        for ch in text:
            if ch == "\b":
                cursor = max(0, cursor - 1)
                continue
            if cursor < len(cells):
                cells[cursor] = ch
            else:
                cells.append(ch)
            cursor += 1
    return "".join(cells), cursor


def test_line_appears_after_a_second_is_throttled_and_erased() -> None:
    out: list[str] = []
    clock = Clock()
    before = "t/task.json ..."  # what pytest has written on its line
    bar = LiveProgress(out.append, "t [m]", 80, column=len(before), clock=clock)
    bar.start(100)
    bar.advance(10)
    assert out == []  # a short item never shows a line
    clock.now += 1.0
    bar.advance(10)  # 20 done in 1 s: 80 left take 4 s
    shown, cursor = screen(before, out)
    assert shown == before + "  t [m]: 20/100 requests, 0:01 elapsed, about 0:04 left".ljust(80 - 1 - len(before))
    assert cursor == len(before)  # pytest's next dot lands where it would have
    assert len(shown) == 79  # never the last column: no line wrap
    clock.now += 0.1
    bar.advance(5)
    assert len(out) == 1  # at most 4 redraws a second
    clock.now += 0.2
    bar.advance(5)
    assert screen(before, out)[0].startswith(before + "  t [m]: 30/100 requests")
    bar.finish()
    shown, cursor = screen(before, out)
    assert shown.rstrip() == before and cursor == len(before)  # erased, pytest's text untouched
    assert "\r" not in "".join(out)  # never rewinds the line pytest is writing


def test_unknown_total_shows_the_count_so_far() -> None:
    """A programmatic task decides its requests as it goes: the line counts them, with no time left."""
    out: list[str] = []
    clock = Clock()
    bar = LiveProgress(out.append, "sudoku [m]", 80, column=10, clock=clock)
    bar.start(0)
    clock.now += 65
    bar.advance(7)
    assert screen("x" * 10, out)[0] == "x" * 10 + "  sudoku [m]: 7 requests, 1:05 elapsed".ljust(69)
    assert bar.text(clock.now, room=20) == "  sudoku [m]: 7"


def test_no_line_without_room() -> None:
    out: list[str] = []
    clock = Clock()
    bar = LiveProgress(out.append, "t [m]", 80, column=70, clock=clock)
    bar.start(10)
    clock.now += 2
    bar.advance(1)
    bar.finish()
    assert out == []


class Ticking(BaseModel):
    reports_progress = True

    def loglikelihood(self, requests, *, progress=None):
        out = []
        for _ in requests:
            out.append(-1.0)
            progress(1)
        return out

    def generate(self, prompts, *, max_tokens, stop=None, progress=None):
        progress(len(prompts))
        return ["x"] * len(prompts)


class Plain(BaseModel):
    """A backend written to the two-method protocol: never handed ``progress=``."""

    def loglikelihood(self, requests):
        return [-1.0] * len(requests)

    def generate(self, prompts, *, max_tokens, stop=None):
        return ["x"] * len(prompts)


class Recorder:
    def __init__(self) -> None:
        self.total, self.done, self.finished = None, 0, False

    def start(self, total: int) -> None:
        self.total = total

    def advance(self, n: int = 1) -> None:
        self.done += n

    def finish(self) -> None:
        self.finished = True


@pytest.mark.parametrize("task, total", [(mc_task(n=5), 5 * 3), (arith_task(n=4), 4),
                                         (arith_task(n=4, lmbench={"verbalized_confidence": True}), 8)])
def test_evaluate_reports_every_request(tmp_path, task: dict, total: int) -> None:
    model, seen = Ticking(), Recorder()
    evaluate(load_task(str(write_task(tmp_path, "t/task.json", task))), model, progress=seen)
    assert seen.total == total and seen.done == total and seen.finished


def test_plain_backends_and_the_cache_count_whole_calls(tmp_path) -> None:
    from pytest_lmbench.core.models.cache import CachedModel, ResponseCache

    task = load_task(str(write_task(tmp_path, "t/task.json", mc_task(n=5))))
    seen = Recorder()
    evaluate(task, Plain(), progress=seen)  # no progress= reaches it (it would raise TypeError)
    assert seen.done == 0 and seen.total == 15 and seen.finished
    for inner, expected in [(Plain(), 15), (Ticking(), 15)]:
        cache = ResponseCache(str(tmp_path / f"{type(inner).__name__}.sqlite"))
        cached, seen = CachedModel(type(inner).__name__, lambda m=inner: m, cache), Recorder()
        evaluate(task, cached, progress=seen)
        assert seen.done == expected  # misses: by the chunk (Plain) or as the backend reports (Ticking)
        again = Recorder()
        evaluate(task, cached, progress=again)
        assert again.done == 15 and cache.hits == 15  # hits: at once


SLOW = '''
import time
from pytest_lmbench.core.models.base import BaseModel
class Slow(BaseModel):
    reports_progress = True
    def loglikelihood(self, requests, *, progress=None):
        return [self._one(progress) for _ in requests]
    def generate(self, prompts, *, max_tokens, stop=None, progress=None):
        return [str(self._one(progress)) for _ in prompts]
    def _one(self, progress):
        time.sleep(0.1)
        if progress is not None:  # None: nobody is showing progress
            progress(1)
        return 0.0
'''


@pytest.mark.skipif(sys.platform == "win32", reason="needs a pseudo-terminal")
def test_shown_on_a_terminal_only(pytester: pytest.Pytester) -> None:
    write_task(pytester.path, "arith/task.json", arith_task(n=20))
    pytester.makepyfile(slow=SLOW)
    args = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--lm-model=py:slow:Slow"]
    env = {**os.environ, "PYTHONPATH": str(pytester.path)}
    master, slave = os.openpty()
    proc = subprocess.Popen(args, cwd=pytester.path, stdin=slave, stdout=slave, stderr=slave, env=env)
    os.close(slave)
    chunks = []
    while True:  # read as it comes: a full pseudo-terminal buffer would block the child
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the child closed its end
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    proc.wait(timeout=120)
    on_tty = b"".join(chunks).decode("utf-8", "replace")
    assert proc.returncode == 0, on_tty[-2000:]
    assert "arith [py:slow:Slow]: " in on_tty and "/20 requests" in on_tty and "left" in on_tty
    piped = subprocess.run(args, cwd=pytester.path, capture_output=True, text=True, env=env, timeout=120)
    assert piped.returncode == 0 and "requests" not in piped.stdout
