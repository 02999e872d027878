"""``--lm-shard I/N``: run a deterministic, balanced share of the session's items, so that a suite can be split
over N CI jobs and the jobs' reports merged (``python -m pytest_lmbench merge``) into the report one process
would have written.

Every process computes the same shares from the same collection: items are weighed by the examples they will
evaluate (JSON tasks know theirs at collection; items of other formats weigh the mean of those that do, or 1),
then given, heaviest first and ties by node id, to the lightest share (longest-processing-time first). Under
xdist each worker collects the whole suite and keeps the same share, so the controller's report is the shard's.
The share runs after ``-k``/``-m`` deselection, so it splits what was selected.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import pytest

from pytest_lmbench.plugin.state import WEIGHT_ATTR, get_state


def parse_shard(value: str) -> tuple[int, int]:
    """``I/N`` as (I, N) with 1 <= I <= N; a usage error that says the form."""
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", value or "")
    if not match or not 1 <= int(match.group(1)) <= int(match.group(2)):
        raise pytest.UsageError(f"--lm-shard {value!r}: give I/N with 1 <= I <= N, e.g. --lm-shard 1/4")
    return int(match.group(1)), int(match.group(2))


def shares(items: Sequence[tuple[str, float | None]], count: int) -> list[int]:
    """The share (0-based) of each (node id, weight) item: heaviest first (ties by node id) to the lightest share
    (ties by the lower index). Unknown weights weigh the mean of the known ones (1 when none is known)."""
    known = [w for _, w in items if w is not None]
    default = sum(known) / len(known) if known else 1.0
    weights = [max(float(w if w is not None else default), 1e-9) for _, w in items]
    order = sorted(range(len(items)), key=lambda i: (-weights[i], items[i][0]))
    loads = [0.0] * count
    out = [0] * len(items)
    for i in order:
        share = min(range(count), key=lambda s: (loads[s], s))
        out[i] = share
        loads[share] += weights[i]
    return out


@pytest.hookimpl(trylast=True)  # after -k/-m deselection: the share splits what was selected
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    option = config.getoption("lm_shard", None)
    if not option:
        return
    index, count = parse_shard(option)
    assigned = shares([(item.nodeid, getattr(item, WEIGHT_ATTR, None)) for item in items], count)
    keep = [item for item, share in zip(items, assigned) if share == index - 1]
    dropped = [item for item, share in zip(items, assigned) if share != index - 1]
    get_state(config).shard = {"index": index, "count": count, "items": len(keep), "total": len(items)}
    if dropped:
        config.hook.pytest_deselected(items=dropped)
    items[:] = keep
