"""Diagnose the workers and queues: queue and registry counts, every worker record (live, silent or
stale, by the service's own liveness rule), stuck jobs with their age (a dry run of the repair), the
last scheduled cleanup, and what to do about each problem. It reads and never writes.

Exit status: 0 healthy; 1 a problem needs attention (stuck jobs, no live analysis worker, the scheduled
cleanup is overdue); 2 Redis is unreachable or the configuration is invalid.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass, field
from typing import Any

import redis

from common import keys
from common.settings import Settings
from fleet import cleanup, liveness, queue_stats
from fleet.operator import operator_client, redacted

PROGRAM = "shap-diagnose"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=PROGRAM, description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", help="Redis URL (default: REDIS_URL, or the embedded Redis in DATA_DIR)")
    parser.add_argument("--json", action="store_true", help="print the findings as JSON")
    return parser.parse_args(argv)


@dataclass
class Findings:
    """What Redis says about the fleet, read in one go."""

    settings: Settings
    server: dict[str, Any]
    queues: dict[str, dict[str, int]]
    verdicts: list[liveness.Verdict]
    records: dict[str, dict[bytes, bytes]]
    survey: cleanup.CleanupReport
    last: dict[str, Any] | None
    last_age: float | None

    def queues_of(self, name: str) -> list[str]:
        return (self.records[name].get(b"queues") or b"").decode().split(",")


def gather(client: redis.Redis, settings: Settings) -> Findings:
    server: dict[str, Any] = client.info("server")
    queues = {name: queue_stats.counts(client, name) for name in (settings.queue_name, settings.maintenance_queue_name)}
    verdicts = liveness.all_verdicts(client)
    records: dict[str, dict[bytes, bytes]] = {v.name: client.hgetall(v.key) for v in verdicts}  # type: ignore[misc]
    survey = cleanup.run_cleanup(client, settings, dry_run=True)
    raw_last = client.get(keys.CLEANUP_LAST_RUN)
    last = json.loads(raw_last) if raw_last else None
    return Findings(settings, server, queues, verdicts, records, survey, last,
                    time.time() - last["at"] if last else None)


@dataclass
class Judgement:
    problems: list[str] = field(default_factory=list)
    advice: list[str] = field(default_factory=list)

    @property
    def healthy(self) -> bool:
        return not self.problems


def judge(found: Findings) -> Judgement:
    """The problems the findings show, and what to do about each (and about what is merely untidy)."""
    settings, verdict = found.settings, Judgement()
    if found.survey.stuck_jobs:
        verdict.problems.append(f"{len(found.survey.stuck_jobs)} stuck job(s)")
        verdict.advice.append("requeue or fail them now: shap-repair (or POST /admin/cleanup_jobs); the scheduled "
                              f"cleanup does the same within {settings.cleanup_interval} s if it runs")
    if not [v for v in found.verdicts if v.live and settings.queue_name in found.queues_of(v.name)]:
        verdict.problems.append("no live analysis worker")
        verdict.advice.append("check `supervisorctl status worker:*` and the worker log lines (start-up errors name "
                              "the cause); queued jobs wait until a worker is back")
    if found.last_age is not None and found.last_age > 2 * settings.cleanup_interval + 30:
        verdict.problems.append(f"the scheduled cleanup last ran {found.last_age:.0f}s ago")
        verdict.advice.append("check `supervisorctl status scheduler maintenance`: the scheduler enqueues the "
                              "cleanup, the maintenance worker runs it")
    stale = [v for v in found.verdicts if not v.alive]
    if stale:
        verdict.advice.append(f"{len(stale)} stale worker record(s) will be removed by the next cleanup "
                              "(or now, by shap-repair)")
    if found.last is None:
        verdict.advice.append("no scheduled cleanup has run yet: it runs when the scheduler starts, then every "
                              f"{settings.cleanup_interval} s")
    return verdict


def as_json(found: Findings, verdict: Judgement) -> str:
    return json.dumps({
        "healthy": verdict.healthy, "problems": verdict.problems, "advice": verdict.advice, "queues": found.queues,
        "workers": [{"name": v.name, "alive": v.alive, "listening": v.listening, "reason": v.reason,
                     "last_heartbeat_seconds_ago": v.heartbeat_age} for v in found.verdicts],
        "stuck_jobs": found.survey.summary()["details"]["stuck_jobs"],
        "last_cleanup": found.last, "last_cleanup_seconds_ago": found.last_age,
    }, indent=2)


def as_text(found: Findings, verdict: Judgement) -> str:
    lines = [f"Redis {redacted(found.settings.effective_redis_url)}: version {found.server.get('redis_version')}, "
             f"up {found.server.get('uptime_in_seconds')} s", "Queues:"]
    for name, counts in found.queues.items():
        lines.append(f"  {name}: " + ", ".join(f"{k.removesuffix('_jobs')} {v}" for k, v in counts.items()))
    lines.append(f"Workers ({len(found.verdicts)} registered):")
    for v in found.verdicts:
        record = found.records[v.name]
        label = "LIVE  " if v.live else ("SILENT" if v.alive else "STALE ")
        details = ", ".join(f"{name} {(record.get(name.encode()) or b'-').decode()}"
                            for name in ("hostname", "pid", "state", "current_job"))
        lines.append(f"  {label} {v.name} [{', '.join(found.queues_of(v.name))}]: {details}; {v.reason}")
    lines.append("Stuck jobs:" if found.survey.stuck_jobs else "Stuck jobs: none")
    for stuck in found.survey.stuck_jobs:
        age = "?" if stuck.age_seconds is None else f"{stuck.age_seconds:.0f}s"
        lines.append(f"  {stuck.job_id} on {stuck.queue}, started {age} ago by {stuck.worker_name}: "
                     f"{stuck.reason}; the repair would {stuck.action} it")
    last = found.last
    lines.append("Last cleanup: never" if last is None else
                 f"Last cleanup: {found.last_age:.0f}s ago (requeued={last['requeued']} failed={last['failed']} "
                 f"stale_workers_removed={last['stale_workers_removed']})")
    lines.append("Status: " + ("healthy" if verdict.healthy else "PROBLEMS: " + "; ".join(verdict.problems)))
    lines += [f"  - {line}" for line in verdict.advice]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    client, settings = operator_client(args.url, PROGRAM)
    found = gather(client, settings)
    verdict = judge(found)
    print(as_json(found, verdict) if args.json else as_text(found, verdict))
    return 0 if verdict.healthy else 1
