"""Hooks pytest-lmbench offers to other plugins (registered with pytest's plugin manager).

Implement them in a conftest.py or a plugin installed through the ``pytest11`` entry point.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from pytest_lmbench.core.results import TaskResult


@pytest.hookspec
def pytest_lmbench_backends() -> dict[str, Any]:
    """Return ``{backend_name: factory}`` to add model backends.

    ``factory(spec)`` receives a :class:`pytest_lmbench.core.models.registry.ModelSpec` and returns an object with
    ``loglikelihood(requests)`` and ``generate(prompts, *, max_tokens, stop)``. The name is what users write
    before the colon in ``--lm-model NAME:TARGET?opts``. Backends can also be published without pytest
    through the ``pytest_lmbench.backends`` entry-point group.
    """
    return {}  # a specification only: pluggy never calls it (this is what an implementation adding none returns)


@pytest.hookspec
def pytest_lmbench_metrics() -> dict[str, Any]:
    """Return ``{metric_name: scorer}`` for generative metrics that need an external scorer (``bleurt``).

    ``scorer(targets, responses)`` gets a list of target lists and a list of responses and returns one float
    per example; the task score is their mean.
    """
    return {}  # a specification only: pluggy never calls it (this is what an implementation adding none returns)


@pytest.hookspec
def pytest_lmbench_result(result: TaskResult) -> None:
    """Called on the controller for every finished item and parent aggregate, before the report is written.

    Use it to forward results elsewhere (a dashboard, a database).
    """
