"""pytest-xdist integration on the controller: scheduling that loads each model on as few workers as possible,
and items lost with a crashed worker.

With several models and the default ``--dist load``, every worker would soon run items of every model and
load each one: N workers x M models in memory. ``ModelGroupScheduling`` (chosen through xdist's
``pytest_xdist_make_scheduler`` hook when the user did not pick a ``--dist`` mode) sends the items of one
model to the same worker(s): scopes are (model, chunk) with max(1, workers // models) chunks per model, so
every worker has work and loads one model when there are at least as many models as workers. With one model
there is nothing to group and plain load balancing is kept. (``--dist loadgroup`` would do this with
``xdist_group`` marks, but xdist 3.8 silently stops grouping on pytest 9.2: pytest-xdist issue #1386.)
"""

from __future__ import annotations

import os
import re
import shlex
import zlib
from collections.abc import Collection
from typing import Any

import pytest
from xdist.scheduler import LoadScopeScheduling

from pytest_lmbench.core.results import TaskResult
from pytest_lmbench.plugin.state import get_state


def model_of(nodeid: str, labels: list[str]) -> str | None:
    """The model label in an item's parameter id (``arith[smollm2-0shot]``, ``test_x[vote-smollm2]``)."""
    if not nodeid.endswith("]") or "[" not in nodeid:
        return None
    params = nodeid[nodeid.index("[", nodeid.rfind("::") + 1) + 1:-1]
    for label in sorted(labels, key=len, reverse=True):
        if re.search(rf"(?:^|-){re.escape(label)}(?:-|$)", params):
            return label
    return None


class ModelGroupScheduling(LoadScopeScheduling):
    """xdist's load-scope scheduling with one scope per (model, chunk); other tests are scopes of their own."""

    def __init__(self, config: pytest.Config, log: Any, labels: list[str]) -> None:
        super().__init__(config, log)
        self.labels = list(labels)
        self.chunks = max(1, self.numnodes // max(1, len(self.labels)))

    def _split_scope(self, nodeid: str) -> str:
        model = model_of(nodeid, self.labels)
        if model is None:
            return nodeid
        task = nodeid.split("[", 1)[0]
        return f"lmbench-model:{model}#{zlib.crc32(task.encode()) % self.chunks}"


def dist_chosen(config: pytest.Config) -> bool:
    """Did the user pick a --dist mode (command line, PYTEST_ADDOPTS or ini addopts; -d is --dist=load)?"""
    if getattr(config.option, "distload", False):
        return True
    words = list(config.invocation_params.args) + shlex.split(os.environ.get("PYTEST_ADDOPTS", ""))
    words += list(config.getini("addopts"))
    return any(w == "--dist" or w.startswith("--dist=") for w in words)


@pytest.hookimpl(trylast=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    labels = get_state(config).labels
    if config.option.dist != "load" or dist_chosen(config) or len(labels) < 2:
        return None  # xdist's own choice
    return ModelGroupScheduling(config, log, labels)


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
    return TaskResult(task=name, model=model, shots=int(shots.group(1)) if shots else 0, n_examples=0, scores={},
                      preferred_score="", low_score=0.0, high_score=1.0, nodeid=report.nodeid, outcome="error",
                      message=f"{report.nodeid}: the worker running it crashed" + (f" ({text[0]})" if text else "")
                              + f"; model {model} may have crashed natively (see docs/models.md)"
                              + ("; the answers it gave before are cached and a rerun resumes from them" if model in cached
                                 else ""))
