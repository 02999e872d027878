"""Output post-processing, as BIG-bench's ``postprocess_output`` does it (the harness does it, not models)."""

from __future__ import annotations

import re
import signal
import threading
from functools import lru_cache

#: BIG-bench cuts raw model output to this many characters before anything else.
BIGBENCH_MAX_LENGTH = 256
#: Longest a task file's output_regex may take on one output: a pattern with catastrophic backtracking must
#: not hang the run (Python's regex engine checks for signals while it backtracks, so an alarm stops it).
REGEX_TIMEOUT = 2.0


class RegexTimeout(ValueError):
    """An output_regex took longer than REGEX_TIMEOUT seconds on one output."""


def _search(pattern: re.Pattern[str], text: str, timeout: float) -> re.Match[str] | None:
    """``pattern.search(text)``, stopped after ``timeout`` seconds where an alarm can be used (the main thread
    of a Unix process); elsewhere unbounded."""
    if not hasattr(signal, "setitimer") or threading.current_thread() is not threading.main_thread():
        return pattern.search(text)

    def expire(signum: int, frame: object) -> None:
        raise RegexTimeout(f"output_regex {pattern.pattern!r} took more than {timeout:g} s on one output "
                           f"({len(text)} characters): it backtracks catastrophically; simplify the pattern "
                           "(avoid nested quantifiers such as (a+)+)")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, timeout)
    try:
        return pattern.search(text)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@lru_cache(maxsize=256)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def postprocess(text: str, *, stop_string: str | None, output_regex: str | None,
                max_length: int | None = BIGBENCH_MAX_LENGTH, timeout: float = REGEX_TIMEOUT) -> str:
    """Cut to ``max_length`` chars, then just after ``stop_string`` (if found past index 0), then take the
    first match of ``output_regex`` ("" when nothing matches). A regex slower than ``timeout`` seconds raises
    RegexTimeout."""
    if max_length:
        text = text[:max_length]
    if stop_string:
        index = text.find(stop_string)
        if index > 0:
            text = text[: index + len(stop_string)]
    if output_regex:
        match = _search(_compiled(output_regex), text, timeout)
        if match is None:
            return ""
        # re.findall semantics: the whole match, or the single group when there is one.
        return (match.group(1) or "") if match.re.groups == 1 else match.group(0)
    return text
