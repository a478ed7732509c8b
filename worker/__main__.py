"""`python -m worker`: an analysis worker, which also renders plots (the plots queue, after the analyses).
Heavy modules are imported once here, before forking (shap and matplotlib on the first plot job:
worker.plot_loading).

The parent runs CatBoost only single-threaded (`warm_up`): with its default thread count CatBoost's
first Pool starts a oneTBB worker thread, and a work horse forked from a parent that owns one can block
forever in its own first `Pool(...)` (about 1 fork in 400; bench/RESULTS.md, section 7). Each horse
starts its own thread pool.
"""

from __future__ import annotations

import redis

from common.settings import Settings
from store import default_dataset
from worker import context, startup


def preload(client: redis.Redis, settings: Settings) -> None:
    import catboost  # noqa: F401
    import numpy  # noqa: F401
    import pandas  # noqa: F401

    import worker.jobs  # noqa: F401  (the job module and its imports are then shared by every horse)
    from explain.run import warm_up

    warm_up()  # CatBoost's one-time clock calibration, single-threaded, inherited by every horse
    ctx = context.WorkerContext(settings, client)
    context.install(ctx)
    default_dataset.ensure_loaded(client, settings)
    ctx.frames.get(client, default_dataset.NAME)


if __name__ == "__main__":
    settings = startup.load_settings()
    # analyses first: RQ takes a job from the first queue that has one, so plots wait behind analyses
    startup.run([settings.queue_name, settings.plots_queue_name], prefix="shap-worker", preload=preload)
