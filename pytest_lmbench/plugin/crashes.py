"""Items lost with a crashed pytest-xdist worker, on the controller: xdist reports them with ``when == "???"``;
they become error results naming the model, so the summary and the report show them (tests/test_xdist.py,
tests/test_crash.py). Apart from ``distributed`` so that the session state can use it without importing
xdist's scheduler."""

from __future__ import annotations

import re
from collections.abc import Collection

import pytest

from pytest_lmbench.core.results import TaskResult


def model_of(nodeid: str, labels: list[str]) -> str | None:
    """The model label in an item's parameter id (``arith[smollm2-0shot]``, ``test_x[vote-smollm2]``)."""
    if not nodeid.endswith("]") or "[" not in nodeid:
        return None
    params = nodeid[nodeid.index("[", nodeid.rfind("::") + 1) + 1:-1]
    for label in sorted(labels, key=len, reverse=True):
        if re.search(rf"(?:^|-){re.escape(label)}(?:-|$)", params):
            return label
    return None


def crashed_item_result(report: pytest.TestReport, labels: list[str], cached: Collection[str] = ()
                        ) -> TaskResult | None:
    """An error result for an lmbench item whose worker crashed (xdist reports it with ``when == "???"``),
    so that the report and summary show it instead of silently dropping it. ``cached``: the labels of the models
    whose answers go to the answer cache (what they answered before the crash was committed chunk by chunk)."""
    if report.when != "???":
        return None
    model = model_of(report.nodeid, labels)
    if model is None:
        return None
    name = report.nodeid.rsplit("::", 1)[-1].split("[", 1)[0]
    shots = re.search(r"-(\d+)shot\]$", report.nodeid)
    text = str(report.longrepr).strip().splitlines()
    message = (f"{report.nodeid}: the worker running it crashed" + (f" ({text[0]})" if text else "")
               + f"; model {model} may have crashed natively (see docs/models.md)"
               + ("; the answers it gave before are cached and a rerun resumes from them" if model in cached else ""))
    return TaskResult.placeholder(name, model, "error", message, shots=int(shots.group(1)) if shots else 0,
                                  nodeid=report.nodeid)
