"""What GET /metrics (web.operation_routes) reports of the web: each request's sample (route, method,
status, seconds), and what Redis knows at scrape time. Samples of every process come from the multiprocess
directory (common.metrics); queue depths, live workers and cleanup totals are read from Redis at each
scrape."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from flask import Response, g, request

from common import keys, metrics
from common.rqtypes import JSONQueue
from fleet import queue_stats
from fleet.liveness import all_verdicts
from web.services import Services


def start() -> None:
    g.started = time.perf_counter()


def finish(response: Response) -> Response:
    started = g.get("started")
    if started is not None:
        route = request.url_rule.rule if request.url_rule is not None else "unmatched"
        metrics.observe_request(route, request.method, response.status_code, time.perf_counter() - started)
    return response


class RedisCollector:
    """What Redis knows at scrape time: queue depths, live workers, the cleanup's running totals."""

    def __init__(self, svc: Services) -> None:
        self.svc = svc

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        settings, client = self.svc.settings, self.svc.redis
        depth = GaugeMetricFamily("shap_queue_jobs", "Jobs per queue and state", labels=["queue", "state"])
        for state, count in queue_stats.counts(client, settings.queue_name).items():
            depth.add_metric([settings.queue_name, state.removesuffix("_jobs")], count)
        for name in (settings.maintenance_queue_name, settings.callback_queue_name, settings.plots_queue_name):
            depth.add_metric([name, "queued"], JSONQueue(name, connection=client).count)
        yield depth
        verdicts = all_verdicts(client)
        yield GaugeMetricFamily("shap_live_workers", "Live worker records (analysis and maintenance)",
                                value=sum(v.live for v in verdicts))
        cleanup = CounterMetricFamily("shap_cleanup_actions", "Cleanup actions since the Redis data began",
                                      labels=["action"])
        totals: Any = client.hgetall(keys.CLEANUP_TOTALS)
        for action in ("requeued", "failed", "stale_workers_removed"):
            cleanup.add_metric([action], int(totals.get(action.encode(), 0)))
        yield cleanup
