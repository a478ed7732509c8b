"""Run the repair now: the same `fleet.cleanup.run_cleanup` the scheduled cleanup and
POST /admin/cleanup_jobs run (requeue or fail jobs of dead workers, stop over-time jobs, clear stale
worker records, RQ's registry maintenance).

Exit status: 0 the repair ran (or, with --dry-run, was surveyed); 1 another run held the lock;
2 Redis is unreachable or the configuration is invalid.
"""

from __future__ import annotations

import argparse
import json
import sys

from fleet import cleanup
from fleet.operator import operator_client

PROGRAM = "shap-repair"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=PROGRAM, description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--timeout", type=float, metavar="S",
                        help="stop jobs that have run longer than S seconds (default: STUCK_JOB_TIMEOUT)")
    parser.add_argument("--force", action="store_true",
                        help=f"when another cleanup holds the lock, wait for it (up to {cleanup.LOCK_TIMEOUT} s, "
                             "the lock's own expiry) instead of giving up after 5 s")
    parser.add_argument("--dry-run", action="store_true", help="report what would be done; change nothing")
    parser.add_argument("--url", help="Redis URL (default: REDIS_URL, or the embedded Redis in DATA_DIR)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    return parser.parse_args(argv)


def as_text(report: cleanup.CleanupReport) -> str:
    if not report.ran:
        return "another cleanup run holds the lock; try again, or use --force to wait for it"
    lines = []
    for stuck in report.stuck_jobs:
        age = "?" if stuck.age_seconds is None else f"{stuck.age_seconds:.0f}s"
        outcome = stuck.action if report.dry_run else (stuck.outcome or stuck.action)
        lines.append(f"stuck job {stuck.job_id} on {stuck.queue}, started {age} ago by {stuck.worker_name}: "
                     f"{stuck.reason} -> {outcome}")
    verb = "would" if report.dry_run else "did"
    lines += [f"stale worker record {name}: {verb} remove" for name in report.stale_workers_removed]
    lines.append(f"{'dry run' if report.dry_run else 'repair'}: requeued={len(report.requeued)} "
                 f"failed={len(report.failed)} stopped={len(report.stopped)} "
                 f"stale_workers_removed={len(report.stale_workers_removed)} in {report.seconds:.3f}s")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.timeout is not None and args.timeout <= 0:
        print(f"{PROGRAM}: --timeout must be a number of seconds > 0", file=sys.stderr)
        return 2
    client, settings = operator_client(args.url, PROGRAM)
    report = cleanup.run_cleanup(client, settings, dry_run=args.dry_run, stuck_timeout=args.timeout,
                                 wait_for_lock=cleanup.LOCK_TIMEOUT if args.force else 5)
    print(json.dumps(report.summary(), indent=2) if args.json else as_text(report))
    return 0 if report.ran else 1
