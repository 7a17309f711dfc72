"""Pausing Python's cyclic garbage collector while an import builds a million objects.

A 100k-row sheet becomes about 700k cell values in 100k lists, and checking
it creates a few objects more per row that all stay alive until the import
ends. The cyclic collector treats every such survivor as a reason to rescan
the whole heap, again and again: half the checking time went there. Nothing
an import builds is cyclic, so reference counting frees all of it anyway; the
collector simply waits until the last import running in the process is done.
"""

from __future__ import annotations

import contextlib
import gc
import threading
from collections.abc import Callable, Iterator
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")

_lock = threading.Lock()
_paused = 0
_enabled_before = True


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Within, the cyclic collector does not run (process-wide, counted across threads)."""
    global _paused, _enabled_before
    with _lock:
        if _paused == 0:
            _enabled_before = gc.isenabled()
            gc.disable()
        _paused += 1
    try:
        yield
    finally:
        with _lock:
            _paused -= 1
            if _paused == 0 and _enabled_before:
                gc.enable()


def without_collector(function: Callable[P, T]) -> Callable[P, T]:
    """``function`` run with the collector paused (for ``asyncio.to_thread``)."""

    def run(*args: P.args, **kwargs: P.kwargs) -> T:
        with collector_paused():
            return function(*args, **kwargs)

    return run
