#!/usr/bin/env python3
"""Diagnose the workers and queues: queue and registry counts, every worker record (live, silent or
stale, by the service's own liveness rule), stuck jobs with their age (a dry run of the SPEC §6 repair),
the last scheduled cleanup, and what to do about each problem. It reads and never writes.

Exit status: 0 healthy; 1 a problem needs attention (stuck jobs, no live analysis worker, the scheduled
cleanup is overdue); 2 Redis is unreachable or the configuration is invalid.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import keys
from fleet import cleanup, liveness, queue_stats
from fleet.operator import operator_client, redacted


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", help="Redis URL (default: REDIS_URL, or the embedded Redis in DATA_DIR)")
    parser.add_argument("--json", action="store_true", help="print the findings as JSON")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    client, settings = operator_client(args.url, "diagnose_worker")
    server: dict[str, Any] = client.info("server")
    queues = {name: queue_stats.counts(client, name) for name in (settings.queue_name, settings.maintenance_queue_name)}
    verdicts = liveness.all_verdicts(client)
    records: dict[str, dict[bytes, bytes]] = {v.name: client.hgetall(v.key) for v in verdicts}  # type: ignore[misc]
    survey = cleanup.run_cleanup(client, settings, dry_run=True)
    raw_last = client.get(keys.CLEANUP_LAST_RUN)
    last = json.loads(raw_last) if raw_last else None
    last_age = time.time() - last["at"] if last else None

    def queues_of(name: str) -> list[str]:
        return (records[name].get(b"queues") or b"").decode().split(",")

    live_analysis = [v for v in verdicts if v.live and settings.queue_name in queues_of(v.name)]
    problems, advice = [], []
    if survey.stuck_jobs:
        problems.append(f"{len(survey.stuck_jobs)} stuck job(s)")
        advice.append("requeue or fail them now: python scripts/repair_stuck_jobs.py (or POST /admin/cleanup_jobs); "
                      f"the scheduled cleanup does the same within {settings.cleanup_interval} s if it runs")
    if not live_analysis:
        problems.append("no live analysis worker")
        advice.append("check `supervisorctl status worker:*` and the worker log lines (start-up errors name the "
                      "cause); queued jobs wait until a worker is back")
    overdue = 2 * settings.cleanup_interval + 30
    if last_age is not None and last_age > overdue:
        problems.append(f"the scheduled cleanup last ran {last_age:.0f}s ago")
        advice.append("check `supervisorctl status scheduler maintenance`: the scheduler enqueues the cleanup, "
                      "the maintenance worker runs it")
    stale = [v for v in verdicts if not v.alive]
    if stale:
        advice.append(f"{len(stale)} stale worker record(s) will be removed by the next cleanup "
                      "(or now, by repair_stuck_jobs.py)")
    if last is None:
        advice.append("no scheduled cleanup has run yet: it runs when the scheduler starts, then every "
                      f"{settings.cleanup_interval} s")

    if args.json:
        print(json.dumps({
            "healthy": not problems, "problems": problems, "advice": advice, "queues": queues,
            "workers": [{"name": v.name, "alive": v.alive, "listening": v.listening, "reason": v.reason,
                         "last_heartbeat_seconds_ago": v.heartbeat_age} for v in verdicts],
            "stuck_jobs": survey.summary()["details"]["stuck_jobs"],
            "last_cleanup": last, "last_cleanup_seconds_ago": last_age,
        }, indent=2))
        return 1 if problems else 0

    print(f"Redis {redacted(settings.effective_redis_url)}: version {server.get('redis_version')}, "
          f"up {server.get('uptime_in_seconds')} s")
    print("Queues:")
    for name, counts in queues.items():
        print(f"  {name}: " + ", ".join(f"{k.removesuffix('_jobs')} {v}" for k, v in counts.items()))
    print(f"Workers ({len(verdicts)} registered):")
    for v in verdicts:
        record = records[v.name]
        label = "LIVE  " if v.live else ("SILENT" if v.alive else "STALE ")
        details = ", ".join(f"{field} {(record.get(field.encode()) or b'-').decode()}"
                            for field in ("hostname", "pid", "state", "current_job"))
        print(f"  {label} {v.name} [{', '.join(queues_of(v.name))}]: {details}; {v.reason}")
    print("Stuck jobs:" if survey.stuck_jobs else "Stuck jobs: none")
    for stuck in survey.stuck_jobs:
        age = "?" if stuck.age_seconds is None else f"{stuck.age_seconds:.0f}s"
        print(f"  {stuck.job_id} on {stuck.queue}, started {age} ago by {stuck.worker_name}: {stuck.reason}; "
              f"the repair would {stuck.action} it")
    if last is None:
        print("Last cleanup: never")
    else:
        print(f"Last cleanup: {last_age:.0f}s ago (requeued={last['requeued']} failed={last['failed']} "
              f"stale_workers_removed={last['stale_workers_removed']})")
    print("Status: " + ("healthy" if not problems else "PROBLEMS: " + "; ".join(problems)))
    for line in advice:
        print(f"  - {line}")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
