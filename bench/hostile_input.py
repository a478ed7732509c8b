"""Hostile input: filters (issue 11, finding 1), Parquet that decodes to gigabytes and a plot flood (issue
22): how long a refusal takes, /ping while they arrive, and the web's peak memory.

Figures, each against a baseline measured in the same run:
- in process: parse_filter on hostile filters of 24 KB up to the 50 MiB body limit (refused by the length
  cap) and on 1,000-character filters (the cap: the whole text is tokenised), against a valid filter;
- a whole service (`make run`): /ping latency while four clients send 24 KB hostile filters, against
  /ping with no other traffic. The old backtracking pattern took 8 s per 24 KB filter and held the GIL;
- the same service, the decode bound: the web's peak RSS (VmHWM) and /ping while two clients upload, again
  and again, the issue's Parquet file (one 10,000-character string, dictionary-encoded, in 100,000 rows:
  about 1 GB decoded, a few KB sent), each refused with 413 dataset_too_large under the default
  MAX_DATASET_MB;
- the same service, the lying page: the web's peak RSS (VmHWM, reset just before) and /ping while two clients
  upload, again and again, a file of about 50 KB whose one text page is a zstd bomb its header truly declares
  (1 GiB decompressed) while the footer's column chunk says about 100 KB, and a file whose page header
  declares 2 GiB - 1 for 1,400 bytes of data (devtools/hostile_parquet.py): each refused with 413
  dataset_too_large from the page headers, before Arrow reads a page. Before that check the bomb was
  decompressed and decoded first (about 2 GB in the web, a second or more per upload);
- the same service, the plot flood: 400 distinct `waterfall?row=N` requests on one finished analysis from
  four clients, with the default PLOT_QUEUE_PER_JOB / PLOT_QUEUE_MAX: answers by status, the most renders
  queued at once, the web's peak RSS and /ping meanwhile;
- last, a table that fits (unique text, about 103 MiB decoded) stored: the web's growth per decoded MiB.

    .venv/bin/python bench/hostile_input.py
"""

from __future__ import annotations

import contextlib
import io
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from benchlib import (
    DEFAULT_ANALYSIS,
    Service,
    emit,
    machine,
    median,
    percentile,
    rounded,
    running_service,
    scratch,
    wait_finished,
)

from analysis.filters import MAX_FILTER_CHARS, parse_filter
from common.errors import InvalidFilter, UnknownColumn
from devtools.hostile_parquet import lying_page_header, page_bomb
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


def dictionary_bomb(rows: int = 100_000, chars: int = 10_000) -> bytes:
    """The issue's file: one long string, dictionary-encoded, in every row."""
    column = pa.DictionaryArray.from_arrays(pa.array(np.zeros(rows, dtype=np.int32)), pa.array(["x" * chars]))
    sink = io.BytesIO()
    pq.write_table(pa.table({"y": pa.array(np.arange(rows) % 2), "text": column}), sink, compression="zstd")
    return sink.getvalue()


def web_memory_mb(service: Service) -> dict[str, float]:
    """The web process's resident memory now (VmRSS) and its peak since it started (VmHWM), MB."""
    pid = service.pids("waitress-serve")[0]
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return {name: round(int(fields[name].split()[0]) / 1024, 1) for name in ("VmRSS", "VmHWM")}


def pings_during(base: str, work: Any, clients: int) -> tuple[list[float], list[Any]]:
    """/ping latencies (ms) while `clients` threads each run `work()` until it returns None; their answers."""
    stop, answers = threading.Event(), []

    def client() -> None:
        while not stop.is_set():
            answer = work()
            if answer is None:
                return
            answers.append(answer)

    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    for thread in threads:
        thread.start()
    pings: list[float] = []
    while any(thread.is_alive() for thread in threads) and len(pings) < 2000:
        pings.extend(pings_ms(base, 1))
        time.sleep(0.01)
    stop.set()
    for thread in threads:
        thread.join(120)
    return pings, answers


def reset_peak(service: Service) -> None:
    """Start the web's VmHWM again from its VmRSS (Linux: 5 to /proc/<pid>/clear_refs), so a peak read next
    is this phase's own."""
    Path(f"/proc/{service.pids('waitress-serve')[0]}/clear_refs").write_text("5")


def lying_page(service: Service) -> dict[str, Any]:
    """The decode bound against page headers: a one-page bomb and a header declaring 2 GiB - 1, alternately."""
    files = [page_bomb(decompressed_mb=1024), lying_page_header()]
    reset_peak(service)
    figures = decode_bound(service, files)
    return {**figures, "file_bytes": max(len(data) for data in files), "declared_mb": [1024, 2048]}


def decode_bound(service: Service, files: list[bytes] | None = None) -> dict[str, Any]:
    files, sent = files or [dictionary_bomb()], list[int]()
    before = web_memory_mb(service)

    def upload() -> tuple[str, float] | None:
        if len(sent) >= 40:
            return None
        sent.append(1)
        started = time.perf_counter()
        status, body, _ = http("PUT", service.base + "/datasets/bomb", raw=files[len(sent) % len(files)], timeout=120,
                               headers={"Content-Type": "application/vnd.apache.parquet"})
        answer = f"{status} {body.get('code') if isinstance(body, dict) else body}"
        return answer, (time.perf_counter() - started) * 1000

    pings, answers = pings_during(service.base, upload, 2)
    after = web_memory_mb(service)
    refusals = [ms for _, ms in answers]
    return {"file_bytes": len(files[0]), "answers": dict(Counter(a for a, _ in answers)), "refusals": len(refusals),
            "refusal_p50_ms": rounded(median(refusals), 2),
            "refusal_max_ms": rounded(max(refusals), 2), "ping_p50_ms": rounded(median(pings), 2),
            "ping_p99_ms": rounded(percentile(pings, 99), 2), "ping_max_ms": rounded(max(pings), 2),
            "web_rss_before_mb": before["VmRSS"], "web_peak_before_mb": before["VmHWM"],
            "web_peak_after_mb": after["VmHWM"], "web_rss_after_mb": after["VmRSS"]}


def stored_near_the_bound(service: Service) -> dict[str, Any]:
    """A table that fits: 100,000 rows of 10 columns of unique 100-character text (about 103 MiB decoded),
    stored; the web's growth against its decoded size (the multiple docs/hostile-input.md states)."""
    rows, columns = 100_000, 10
    values = np.array([f"v{i:07d}" * 12 for i in range(rows)])
    table = pa.table({"y": pa.array(np.arange(rows) % 2), **{f"t{i}": pa.array(np.roll(values, i))
                                                              for i in range(columns)}})
    sink = io.BytesIO()
    pq.write_table(table, sink)
    data = sink.getvalue()
    decoded_mb = (rows * (columns + 1) * 8 + rows * columns * 96) / 2**20
    before = web_memory_mb(service)
    started = time.perf_counter()
    status, body, _ = http("PUT", service.base + "/datasets/near", raw=data, timeout=300,
                           headers={"Content-Type": "application/vnd.apache.parquet"})
    took = time.perf_counter() - started
    assert status in (200, 201), (status, body)
    after = web_memory_mb(service)
    grown = after["VmHWM"] - before["VmRSS"]
    return {"file_mb": rounded(len(data) / 2**20, 1), "decoded_mb": rounded(decoded_mb, 1),
            "upload_s": rounded(took, 2), "web_rss_before_mb": before["VmRSS"], "web_peak_after_mb": after["VmHWM"],
            "web_growth_mb": rounded(grown, 1), "growth_per_decoded": rounded(grown / decoded_mb, 2)}


def plot_flood(service: Service) -> dict[str, Any]:
    job_id = service.analyze({**DEFAULT_ANALYSIS, "sample_size": 500})
    wait_finished(service, job_id)
    rows, queued = list(range(400)), []
    client = service.redis_client()
    before = web_memory_mb(service)

    def ask() -> int | None:
        if not rows:
            return None
        row = rows.pop()
        status = http("GET", f"{service.base}/job_status/{job_id}/plots/waterfall?row={row}", timeout=60)[0]
        queued.append(client.llen("rq:queue:shap-jobs-plots"))
        return status

    pings, statuses = pings_during(service.base, ask, 4)
    after = web_memory_mb(service)
    return {"requests": len(statuses), "answers": dict(Counter(str(s) for s in statuses)),
            "most_renders_queued": max(queued), "ping_p50_ms": rounded(median(pings), 2),
            "ping_p99_ms": rounded(percentile(pings, 99), 2), "ping_max_ms": rounded(max(pings), 2),
            "web_rss_before_mb": before["VmRSS"], "web_peak_after_mb": after["VmHWM"]}


def main() -> None:
    baseline = parse_ms("Income > 50000")
    parse = {name: rounded(parse_ms(text, 5 if len(text) > 2**20 else 20), 4) for name, text in HOSTILE.items()}
    with scratch("hostile") as directory, running_service(directory / "svc", {"WORKER_COUNT": "1"}) as service:
        assert service.get("/metadata")[0] == 200
        quiet = pings_ms(service.base, 100)
        flooded, refusals = ping_under_flood(service.base)
        decoding = decode_bound(service)
        lying = lying_page(service)
        plots = plot_flood(service)
        stored = stored_near_the_bound(service)
    emit("hostile_input", {
        "parse_valid_ms": rounded(baseline, 4), "parse_hostile_ms": parse,
        "parse_worst_ms": max(parse.values()), "ping_quiet_p50_ms": rounded(median(quiet), 2),
        "ping_quiet_p99_ms": rounded(percentile(quiet, 99), 2), "ping_flood_p50_ms": rounded(median(flooded), 2),
        "ping_flood_p99_ms": rounded(percentile(flooded, 99), 2), "ping_flood_max_ms": rounded(max(flooded), 2),
        "hostile_refusals_during_pings": refusals,
        "ratio_flood_to_quiet_p50": rounded(median(flooded) / median(quiet), 2), "decode_bound": decoding,
        "lying_page": lying,
        "plot_flood": plots, "stored_near_the_bound": stored, "machine": machine()})


if __name__ == "__main__":
    main()
