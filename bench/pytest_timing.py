"""Shared by the benchmarks: time one whole ``pytest`` process (what a user waits for)."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path


def timed_pytest(args: Sequence[str], cwd: Path, ok: Sequence[int] = (0, 1),
                 env: Mapping[str, str] | None = None) -> float:
    """Wall seconds of ``python -m pytest -q -p no:cacheprovider ARGS`` in ``cwd``; exits with its output when
    its status is not in ``ok`` (so a broken run never passes for a fast one)."""
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args], cwd=cwd,
                          capture_output=True, text=True, env=None if env is None else dict(env))
    elapsed = time.perf_counter() - start
    if proc.returncode not in ok:
        sys.exit(proc.stdout[-3000:] + proc.stderr[-3000:])
    return elapsed
