"""pytest-xdist integration on the controller: scheduling that loads each model on as few workers as possible
(items lost with a crashed worker: ``crashes``).

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
import shlex
import zlib
from typing import Any

import pytest
from xdist.scheduler import LoadScopeScheduling

from pytest_lmbench.plugin.crashes import model_of
from pytest_lmbench.plugin.state import get_state


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
