"""A live progress line for long items on a terminal: "  capitals [smollm2]: 120/480 requests, 0:14 left".

It appears only after an item has run for a second, is redrawn at most 4 times a second, and is erased when
the item ends. It is drawn after the text already on pytest's line (the file name and its dots) and moved over
with backspaces, so pytest's line and its own record of that line stay as they were: nothing is rewound with
a carriage return, and no private state of pytest's terminal writer is read or written. Nothing is written
when the output is not a terminal (CI logs, files, xdist workers) or with -q.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pytest_lmbench.core.usage import Usage

#: Below this many free columns on pytest's line the line is not drawn (it would say nothing readable).
MIN_COLUMNS = 16


def _clock(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


class LiveProgress:
    """Implements the harness's progress protocol (start / advance / finish) as text after column ``column``
    of a ``width``-column terminal line, redrawn in place."""

    def __init__(self, write: Callable[[str], None], label: str, width: int, *, column: int = 0,
                 clock: Callable[[], float] = time.monotonic, delay: float = 1.0, interval: float = 0.25,
                 usage: Usage | None = None) -> None:
        self.write, self.label = write, label
        self.usage = usage  # the item's meter: its tokens (and cost) so far join the line
        self.room = max(0, width - 1 - max(0, column))  # the last column stays free: no wrap, ever
        self.clock, self.delay, self.interval = clock, delay, interval
        self.total = self.done = 0
        self.started = self.drawn_at = 0.0
        self.shown = False
        self._lock = threading.Lock()  # backends with a thread pool report from several threads

    def start(self, total: int) -> None:
        """``total``: the requests to come; 0 when not known (only the count so far is shown)."""
        self.total, self.done, self.shown = total, 0, False
        self.started = self.clock()
        self.drawn_at = float("-inf")

    def advance(self, n: int = 1) -> None:
        with self._lock:
            self.done += n
            now = self.clock()
            if self.room >= MIN_COLUMNS and now - self.started >= self.delay and now - self.drawn_at >= self.interval:
                self.drawn_at = now
                # drawn, then the cursor put back where pytest left it: between draws the line is pytest's
                self.write(self.text(now, self.room)[:self.room].ljust(self.room) + "\b" * self.room)
                self.shown = True

    def text(self, now: float, room: int | None = None) -> str:
        """The longest of the line's forms that fits ``room`` columns (the count and time left matter most;
        the label is cut last)."""
        elapsed = now - self.started
        if self.total <= 0:  # not known in advance (a programmatic task decides as it goes)
            forms = [f"  {self.label}: {self.done} requests, {_clock(elapsed)} elapsed{self._spent()}",
                     f"  {self.label}: {self.done} requests, {_clock(elapsed)} elapsed", f"  {self.label}: {self.done}"]
            fits = [f for f in forms if room is None or len(f) <= room]
            return fits[0] if fits else forms[-1][:room]
        left = _clock((self.total - self.done) * elapsed / self.done if self.done else 0.0)
        count = f"{min(self.done, self.total)}/{self.total}"
        spent = self._spent()
        forms = [f"  {self.label}: {count} requests, {_clock(elapsed)} elapsed, about {left} left{spent}",
                 f"  {self.label}: {count} requests, {_clock(elapsed)} elapsed, about {left} left",
                 f"  {self.label}: {count} requests, about {left} left"]
        fits = [f for f in forms if room is None or len(f) <= room]
        if fits:
            return fits[0]
        tail = f": {count}, {left} left"
        return "  " + self.label[:max(0, (room or 0) - len(tail) - 2)] + tail

    def _spent(self) -> str:
        """", 12,345 tokens, $0.0123" from the item's meter (nothing before the model has used any)."""
        u = self.usage
        if u is None or not u.tokens:
            return ""
        return f", {u.tokens:,} tokens" + (f", ${u.cost:.4f}" if u.cost is not None else "")

    def finish(self) -> None:
        with self._lock:
            if self.shown:
                self.write(" " * self.room + "\b" * self.room)
                self.shown = False
