"""Global random generators seeded around code that is not ours (BIG-bench tasks, lm-eval's evaluator), so that
it draws the same numbers every run and in every process, and the rest of the run's draws are left as they were."""

from __future__ import annotations

import contextlib
import random
import sys
from collections.abc import Iterator

#: BIG-bench's seed for shuffling few-shot examples and options (``json_task.py``'s default).
BIGBENCH_SEED = 42


@contextlib.contextmanager
def global_seeds(python: int, numpy: int, torch: int | None = None) -> Iterator[None]:
    """Python's ``random`` and numpy's global generator seeded (and torch's, when it is imported and ``torch`` is
    given); the states of ``random`` and numpy are restored afterwards."""
    import numpy as np

    state, np_state = random.getstate(), np.random.get_state()
    random.seed(python)
    np.random.seed(numpy)
    module = sys.modules.get("torch") if torch is not None else None
    if module is not None:
        module.manual_seed(torch)
    try:
        yield
    finally:
        random.setstate(state)
        np.random.set_state(np_state)
