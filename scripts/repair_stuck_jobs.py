#!/usr/bin/env python3
"""Run the SPEC §6 repair now: the same `fleet.cleanup.run_cleanup` the scheduled cleanup and
POST /admin/cleanup_jobs run (requeue or fail jobs of dead workers, stop over-time jobs, clear stale
worker records, RQ's registry maintenance).

Exit status: 0 the repair ran (or, with --dry-run, was surveyed); 1 another run held the lock;
2 Redis is unreachable or the configuration is invalid.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fleet import cleanup
from fleet.operator import operator_client


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--timeout", type=float, metavar="S",
                        help="stop jobs that have run longer than S seconds (default: STUCK_JOB_TIMEOUT)")
    parser.add_argument("--force", action="store_true",
                        help=f"when another cleanup holds the lock, wait for it (up to {cleanup.LOCK_TIMEOUT} s, "
                             "the lock's own expiry) instead of giving up after 5 s")
    parser.add_argument("--dry-run", action="store_true", help="report what would be done; change nothing")
    parser.add_argument("--url", help="Redis URL (default: REDIS_URL, or the embedded Redis in DATA_DIR)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.timeout is not None and args.timeout <= 0:
        print("repair_stuck_jobs: --timeout must be a number of seconds > 0", file=sys.stderr)
        return 2
    client, settings = operator_client(args.url, "repair_stuck_jobs")
    report = cleanup.run_cleanup(client, settings, dry_run=args.dry_run, stuck_timeout=args.timeout,
                                 wait_for_lock=cleanup.LOCK_TIMEOUT if args.force else 5)
    if args.json:
        print(json.dumps(report.summary(), indent=2))
    elif not report.ran:
        print("another cleanup run holds the lock; try again, or use --force to wait for it")
    else:
        verb = "would" if args.dry_run else "did"
        for stuck in report.stuck_jobs:
            age = "?" if stuck.age_seconds is None else f"{stuck.age_seconds:.0f}s"
            outcome = stuck.action if args.dry_run else (stuck.outcome or stuck.action)
            print(f"stuck job {stuck.job_id} on {stuck.queue}, started {age} ago by {stuck.worker_name}: "
                  f"{stuck.reason} -> {outcome}")
        for name in report.stale_workers_removed:
            print(f"stale worker record {name}: {verb} remove")
        print(f"{'dry run' if args.dry_run else 'repair'}: requeued={len(report.requeued)} "
              f"failed={len(report.failed)} stopped={len(report.stopped)} "
              f"stale_workers_removed={len(report.stale_workers_removed)} in {report.seconds:.3f}s")
    return 0 if report.ran else 1


if __name__ == "__main__":
    raise SystemExit(main())
