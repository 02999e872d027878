"""Pausing Python's cyclic garbage collector while records of many examples are built.

Building the records of a 20,000-example task allocates hundreds of thousands of small, long-lived objects;
each allocation burst makes the collector traverse them again and again (measured: a third of the harness's
time on such a task). Our records hold no reference cycles, and reference counting still frees everything
while the collector is paused, so pausing it around those phases costs no memory. Model calls run with the
collector as usual (``resumed``): backends may create cycles.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def paused() -> Iterator[None]:
    """No cyclic collection inside (nested use is fine); the previous state is restored on the way out."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@contextmanager
def resumed() -> Iterator[None]:
    """The collector's usual state inside a ``paused`` block (for code that is not ours, e.g. a backend)."""
    was_enabled = gc.isenabled()
    gc.enable()
    try:
        yield
    finally:
        if not was_enabled:
            gc.disable()
