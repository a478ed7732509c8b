"""`python -m worker`: an analysis worker. Heavy modules are imported once here, before forking.

The parent imports CatBoost but never runs it: CatBoost's first Pool starts a oneTBB worker thread,
and a work horse forked from a parent whose TBB pool exists can block forever inside its own first
`Pool(...)` (seen about once in 200 forks; stack in bench/RESULTS.md). Each horse starts its own pool.
"""

from __future__ import annotations

import redis

from common import default_dataset
from common.settings import Settings
from worker import context, startup


def preload(client: redis.Redis, settings: Settings) -> None:
    import catboost  # noqa: F401
    import numpy  # noqa: F401
    import pandas  # noqa: F401

    import worker.jobs  # noqa: F401  (the job module and its imports are then shared by every horse)

    ctx = context.WorkerContext(settings, client)
    context.install(ctx)
    default_dataset.ensure_loaded(client, settings)
    ctx.frames.get(client, default_dataset.NAME)


if __name__ == "__main__":
    settings = startup.load_settings()
    startup.run([settings.queue_name], prefix="shap-worker", preload=preload)
