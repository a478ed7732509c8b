"""`python -m worker.maintenance`: the light worker that runs the scheduled cleanup on its own queue.

It never imports catboost, so it starts fast and keeps running when every analysis worker is busy or dead.
"""

from __future__ import annotations

import redis

from common.settings import Settings
from worker import startup


def preload(client: redis.Redis, settings: Settings) -> None:
    import fleet.cleanup  # noqa: F401
    import worker.callback_job  # noqa: F401


if __name__ == "__main__":
    settings = startup.load_settings()
    # It also delivers completion callbacks; with RQ's scheduler, which requeues a failed delivery after
    # its Retry interval (rq-scheduler, worker.scheduler, knows nothing of RQ's own scheduled registry).
    startup.run([settings.maintenance_queue_name, settings.callback_queue_name], prefix="shap-maintenance",
                preload=preload, with_scheduler=True)
