"""A live progress line for long items on a terminal: "  capitals [smollm2]: 120/480 requests, 0:14 left".

It appears only after an item has run for a second, is redrawn at most 4 times a second on the line pytest
is writing, and is erased (the line's earlier text put back) when the item ends. Nothing is written when the
output is not a terminal (CI logs, files, xdist workers) or with -q.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


def _clock(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


class LiveProgress:
    """Implements the harness's progress protocol (start / advance / finish) as one rewritten line."""

    def __init__(self, write: Callable[[str], None], label: str, width: int, *, restore: str = "",
                 clock: Callable[[], float] = time.monotonic, delay: float = 1.0, interval: float = 0.25) -> None:
        self.write, self.label, self.width, self.restore = write, label, max(20, width), restore
        self.clock, self.delay, self.interval = clock, delay, interval
        self.total = self.done = 0
        self.started = self.drawn_at = 0.0
        self.shown = False
        self._lock = threading.Lock()  # backends with a thread pool report from several threads

    def start(self, total: int) -> None:
        self.total, self.done, self.shown = total, 0, False
        self.started = self.clock()
        self.drawn_at = float("-inf")

    def advance(self, n: int = 1) -> None:
        with self._lock:
            self.done += n
            now = self.clock()
            if now - self.started >= self.delay and now - self.drawn_at >= self.interval:
                self.drawn_at = now
                self.write("\r" + self.text(now)[:self.width - 1].ljust(self.width - 1))
                self.shown = True

    def text(self, now: float) -> str:
        elapsed = now - self.started
        left = (self.total - self.done) * elapsed / self.done if self.done else 0.0
        return (f"  {self.label}: {min(self.done, self.total)}/{self.total} requests, {_clock(elapsed)} elapsed, "
                f"about {_clock(left)} left")

    def finish(self) -> None:
        if self.shown:
            self.write("\r" + " " * (self.width - 1) + "\r" + self.restore)
            self.shown = False
