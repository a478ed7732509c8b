"""The worker parent forks a work horse per job, so it must not own a native thread pool when it forks:
a horse forked from a parent whose CatBoost (oneTBB) pool exists can block forever in its own first
`Pool(...)` (see worker/__main__.py)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from devtools.environment import REPO
from devtools.redis_server import RedisServer
from devtools.stack import stack_env

PRELOAD = """
import os
import catboost, numpy, pandas, worker.jobs
from worker import startup
from worker.__main__ import preload

def threads():
    return len(os.listdir("/proc/self/task"))

settings = startup.load_settings()
client = startup.connect(settings)
before = threads()
preload(client, settings)
print(before, threads())
"""

PLOT_LOAD = """
import os
from worker import startup
from worker.__main__ import preload
from worker import plot_loading

settings = startup.load_settings()
client = startup.connect(settings)
preload(client, settings)
before = len(os.listdir("/proc/self/task"))
plot_loading.load()  # what a worker parent does when it takes its first plot job, before it forks
import shap, matplotlib.pyplot
print(before, len(os.listdir("/proc/self/task")))
"""

TRAIN = """
from analysis import datasets
from store import default_dataset
from store.frame_cache import FrameCache
from worker import model_store, startup

settings = startup.load_settings()
client = startup.connect(settings)
default_dataset.ensure_loaded(client, settings)
meta, frame = default_dataset.frame(client, FrameCache(), default_dataset.NAME, settings)
target = datasets.resolve_target(meta, None)
print(model_store.get_or_train(client, frame, meta.version, target, datasets.feature_columns(meta, target),
                               thread_count=1).model_id)
"""

KEEP = PRELOAD.replace("print(before, threads())", """
from rq.job import Job
from worker import context, kept_models

job = Job.create(print, connection=client, meta={"dataset": "default", "model_id": MODEL_ID})
kept_models.keep_for_next_jobs(context.current(), job)
assert context.current().models.get(client, MODEL_ID).dataset_shap is not None  # every row explained here
print(before, threads())""")

CANARY = """
import os
import numpy, pandas
from catboost import Pool

before = len(os.listdir("/proc/self/task"))
Pool(pandas.DataFrame({"x": numpy.arange(10.0)}))
print(before, len(os.listdir("/proc/self/task")))
"""


def thread_counts(code: str, redis_server: RedisServer) -> tuple[int, int]:
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=stack_env(redis_server.url),
                          capture_output=True, text=True, timeout=120, check=True)
    before, after = done.stdout.split()
    return int(before), int(after)


class TestWorkerParentThreads:
    def test_the_preload_starts_no_native_thread(self, redis_server):
        """Everything a worker parent does before its first fork leaves it with the threads it had."""
        before, after = thread_counts(PRELOAD, redis_server)
        assert after == before

    def test_loading_shap_and_matplotlib_for_plots_starts_no_thread(self, redis_server):
        """The plot libraries a parent loads on its first plot job (scipy's OpenBLAS included) start no thread."""
        before, after = thread_counts(PLOT_LOAD, redis_server)
        assert after == before

    def test_keeping_a_jobs_model_and_frame_starts_no_native_thread(self, redis_server):
        """After a job, the parent loads its model, tables and frame and explains every row of the dataset
        for the next horses: still no thread."""
        trained = subprocess.run([sys.executable, "-c", TRAIN], cwd=REPO, env=stack_env(redis_server.url),
                                 capture_output=True, text=True, timeout=300, check=True)
        model_id = trained.stdout.split()[-1]
        before, after = thread_counts(KEEP.replace("MODEL_ID", repr(model_id)), redis_server)
        assert after == before

    @pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="TBB starts no worker thread on one CPU")
    def test_a_catboost_pool_starts_a_thread_so_the_check_above_can_fail(self, redis_server):
        """The canary: building one CatBoost Pool starts TBB's worker thread, which the check would see."""
        before, after = thread_counts(CANARY, redis_server)
        assert after > before
