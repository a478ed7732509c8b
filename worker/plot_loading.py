"""shap and matplotlib, loaded into a worker parent when it first takes a plot job, before it forks the
horse: every later plot of that worker costs no import (about 2 s), and a worker that never draws never
holds them (about 80 MB of private memory per worker parent, measured: bench/RESULTS.md; docs/plots.md)."""

from __future__ import annotations

import contextlib
import functools
import gc
import logging
import os
import time
from collections.abc import Iterator

log = logging.getLogger(__name__)


@contextlib.contextmanager
def single_threaded_blas() -> Iterator[None]:
    """OPENBLAS_NUM_THREADS=1 while libraries load: an OpenBLAS reads it when it is loaded and then starts
    no thread of its own (shap imports scipy, which ships an OpenBLAS apart from numpy's; a fork parent must
    own no thread pool, see worker/__main__.py). The variable is put back after."""
    before = os.environ.get("OPENBLAS_NUM_THREADS")
    os.environ["OPENBLAS_NUM_THREADS"] = "1"
    try:
        yield
    finally:
        if before is None:
            del os.environ["OPENBLAS_NUM_THREADS"]
        else:
            os.environ["OPENBLAS_NUM_THREADS"] = before


@functools.cache
def load() -> None:
    """Import the plot job and what it draws with, and draw one figure, in this process, once. Starts no
    thread. The new objects are frozen like the preloaded ones (worker.startup), so the horses' garbage
    collections do not touch, and copy, their pages."""
    started = time.perf_counter()
    try:
        with single_threaded_blas():
            from worker import plot_job  # noqa: F401
        from explain import plots as drawing
    except ImportError:  # the horse imports it again and fails the plot job with this error; the worker stays
        log.exception("cannot load the plotting libraries")
        return
    drawing.warm_up()
    gc.freeze()
    log.info("loaded shap and matplotlib for plots in %.2fs", time.perf_counter() - started)
