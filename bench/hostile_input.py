"""Hostile filters (issue 11, finding 1): how long a refusal takes, and /ping while they arrive.

Two figures, each against a baseline measured in the same run:
- in process: parse_filter on hostile filters of 24 KB up to the 50 MiB body limit (refused by the length
  cap) and on 1,000-character filters (the cap: the whole text is tokenised), against a valid filter;
- a whole service (`make run`): /ping latency while four clients send 24 KB hostile filters, against
  /ping with no other traffic. The old backtracking pattern took 8 s per 24 KB filter and held the GIL.

    .venv/bin/python bench/hostile_input.py
"""

from __future__ import annotations

import contextlib
import threading
import time

from benchlib import emit, machine, median, percentile, rounded, running_service, scratch

from analysis.filters import MAX_FILTER_CHARS, parse_filter
from common.errors import InvalidFilter, UnknownColumn
from devtools.http import http

TYPES = {"Income": "numeric", "Province": "categorical"}
HOSTILE = {"spaces_24k": "A" + " " * 24_000 + "B", "spaces_50mib": "Income" + " " * (50 * 2**20) + "> 1",
           "operators_1m": "=" * 2**20, "spaces_at_cap": "Income" + " " * (MAX_FILTER_CHARS - 10) + "> 1",
           "operators_at_cap": "Income " + "<" * (MAX_FILTER_CHARS - 10)}


def parse_ms(text: str, repeat: int = 20) -> float:
    """The least of `repeat` timed parses, in ms."""
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        with contextlib.suppress(InvalidFilter, UnknownColumn):
            parse_filter(text, TYPES)
        best = min(best, time.perf_counter() - started)
    return best * 1000


def pings_ms(base: str, count: int) -> list[float]:
    out = []
    for _ in range(count):
        started = time.perf_counter()
        http("GET", base + "/ping", timeout=60)
        out.append((time.perf_counter() - started) * 1000)
    return out


def ping_under_flood(base: str) -> tuple[list[float], int]:
    stop, refused = threading.Event(), []

    def flood() -> None:
        while not stop.is_set():
            refused.append(http("POST", base + "/analyze", {"demographic_filters": [HOSTILE["spaces_24k"]]})[0])

    senders = [threading.Thread(target=flood, daemon=True) for _ in range(4)]
    for sender in senders:
        sender.start()
    time.sleep(0.3)
    pings = pings_ms(base, 100)
    stop.set()
    for sender in senders:
        sender.join(60)
    return pings, len(refused)


def main() -> None:
    baseline = parse_ms("Income > 50000")
    parse = {name: rounded(parse_ms(text, 5 if len(text) > 2**20 else 20), 4) for name, text in HOSTILE.items()}
    with scratch("hostile") as directory, running_service(directory / "svc", {"WORKER_COUNT": "1"}) as service:
        assert service.get("/metadata")[0] == 200
        quiet = pings_ms(service.base, 100)
        flooded, refusals = ping_under_flood(service.base)
    emit("hostile_input", {
        "parse_valid_ms": rounded(baseline, 4), "parse_hostile_ms": parse,
        "parse_worst_ms": max(parse.values()), "ping_quiet_p50_ms": rounded(median(quiet), 2),
        "ping_quiet_p99_ms": rounded(percentile(quiet, 99), 2), "ping_flood_p50_ms": rounded(median(flooded), 2),
        "ping_flood_p99_ms": rounded(percentile(flooded, 99), 2), "ping_flood_max_ms": rounded(max(flooded), 2),
        "hostile_refusals_during_pings": refusals,
        "ratio_flood_to_quiet_p50": rounded(median(flooded) / median(quiet), 2), "machine": machine()})


if __name__ == "__main__":
    main()
