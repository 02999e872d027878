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


def test_line_appears_after_a_second_is_throttled_and_erased() -> None:
    out: list[str] = []
    clock = Clock()
    bar = LiveProgress(out.append, "t [m]", 60, restore="t/task.json ", clock=clock)
    bar.start(100)
    bar.advance(10)
    assert out == []  # a short item never shows a line
    clock.now += 1.0
    bar.advance(10)  # 20 done in 1 s: 80 left take 4 s
    assert out == ["\r" + "  t [m]: 20/100 requests, 0:01 elapsed, about 0:04 left".ljust(59)]
    clock.now += 0.1
    bar.advance(5)
    assert len(out) == 1  # at most 4 redraws a second
    clock.now += 0.2
    bar.advance(5)
    assert out[-1].startswith("\r  t [m]: 30/100 requests")
    bar.finish()
    assert out[-1] == "\r" + " " * 59 + "\r" + "t/task.json "  # erased, the line's earlier text put back


class Ticking(BaseModel):
    def loglikelihood(self, requests):
        out = []
        for _ in requests:
            out.append(-1.0)
            self._advance()
        return out

    def generate(self, prompts, *, max_tokens, stop=None):
        self._advance(len(prompts))
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
    assert model.progress is None  # unhooked afterwards


SLOW = '''
import time
from pytest_lmbench.core.models.base import BaseModel
class Slow(BaseModel):
    def loglikelihood(self, requests):
        return [self._one() for _ in requests]
    def generate(self, prompts, *, max_tokens, stop=None):
        return [str(self._one()) for _ in prompts]
    def _one(self):
        time.sleep(0.1)
        self._advance()
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
