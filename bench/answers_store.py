"""Issue 19 items 2 and 7: the result stored once (rows table + head) and the JSON answer written on demand,
against the build before it (the JSON encoded in the worker, its field index, the gzip copy, the web's in-memory
answer cache with its CLIENT TRACKING connection), both measured in the same run, one after the other, through
the whole product as `make run` starts it (2 workers x 1 thread).

The baseline is `--baseline` (default: main) exported with `git archive` into a temp directory and started from
there (its own code, this virtualenv), beside this tree's service twice: as configured (each web process keeps
the finished answers it wrote, FINISHED_ANSWERS_MB) and with FINISHED_ANSWERS_MB=0 (every read writes the answer
again). The three take turns, run by run. For each:
  - a JSON client, warm, end to end on the wide table (1,650 of its 1,700 rows x 132 features): POST /analyze,
    GET /job_status?wait=30 until finished, the answer's last byte (identity, and gzip as httpx asks for it),
    parsed with orjson after the clock (bench/analysis_latency.end_to_end);
  - a finished wide result read again and again by one keep-alive client (what the answer cache served from
    memory), whole and as ?fields=summary (a small answer);
  - the worker's encode seconds (the job's `encode_s`: JSON encoding before, the table and head now);
  - Redis bytes per explained row: the sum of MEMORY USAGE of every key the analysis wrote (its job hash and
    results stream, everything under shap:result:<id>, its gzip copy), after one JSON read (gzip) and one
    Arrow read, over the rows; on the wide table and on 10,000 rows of it (resampled);
  - the web's RSS after those reads.

    .venv/bin/python bench/answers_store.py [--runs 7] [--reads 20] [--baseline main]
    .venv/bin/python bench/answers_store.py --in-process 100000   # the worker's side alone, at 100,000 rows
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import http.client
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
from analysis_latency import end_to_end
from benchlib import REPO, Service, emit, job_meta, machine, median, rounded, rss_mb, scratch, wait_until

from devtools import wide_table

WIDE_ROWS = 1650
LARGE_ROWS = 10_000


def get(service: Any, path: str, headers: dict[str, str] | None = None) -> tuple[float, bytes, dict[str, str]]:
    connection = http.client.HTTPConnection("127.0.0.1", service.port, timeout=120)
    try:
        started = time.perf_counter()
        connection.request("GET", path, headers=headers or {})
        response = connection.getresponse()
        body = response.read()
        return time.perf_counter() - started, body, {k.lower(): v for k, v in response.getheaders()}
    finally:
        connection.close()


def gzip_end_to_end(service: Any, body: dict[str, Any]) -> float:
    """As end_to_end, asking for gzip (as httpx and the Python client do), the answer decompressed in the clock."""
    connection = http.client.HTTPConnection("127.0.0.1", service.port, timeout=120)
    try:
        started = time.perf_counter()
        connection.request("POST", "/analyze", body=orjson.dumps(body), headers={"Content-Type": "application/json"})
        job_id = orjson.loads(connection.getresponse().read())["job_id"]
        while True:
            connection.request("GET", f"/job_status/{job_id}?wait=30", headers={"Accept-Encoding": "gzip"})
            response = connection.getresponse()
            payload = response.read()
            if response.getheader("Content-Encoding") == "gzip":
                payload = gzip.decompress(payload)
            seconds = time.perf_counter() - started
            if orjson.loads(payload)["status"] in ("finished", "failed", "stopped", "canceled"):
                return seconds
    finally:
        connection.close()


def repeated_reads(service: Any, job_id: str, reads: int, query: str = "", gzip_ok: bool = False) -> float:
    """Median seconds of one keep-alive client reading a finished answer again and again."""
    connection = http.client.HTTPConnection("127.0.0.1", service.port, timeout=120)
    headers = {"Accept-Encoding": "gzip"} if gzip_ok else {}
    seconds = []
    try:
        for _ in range(reads):
            started = time.perf_counter()
            connection.request("GET", f"/job_status/{job_id}{query}", headers=headers)
            connection.getresponse().read()
            seconds.append(time.perf_counter() - started)
    finally:
        connection.close()
    return median(seconds)


def redis_bytes(service: Any, job_id: str) -> dict[str, int]:
    """MEMORY USAGE (every value sampled) of each key the analysis wrote."""
    client = service.redis_client()
    found = {}
    for key in client.scan_iter(match=f"*{job_id}*", count=1000):
        name = key.decode() if isinstance(key, bytes) else str(key)
        found[name.replace(job_id, "<id>")] = int(client.memory_usage(key, samples=0) or 0)
    return found


def finish_case(service: Any, job_id: str, rows: int) -> dict[str, Any]:
    """After the warm runs: one JSON read (gzip: a gzip copy, if the build keeps one) and one Arrow read, then
    the Redis bytes of every key the last analysis wrote."""
    get(service, f"/job_status/{job_id}", {"Accept-Encoding": "gzip"})
    get(service, f"/job_status/{job_id}/rows")
    keys = redis_bytes(service, job_id)
    return {"redis_bytes_by_key": keys, "redis_bytes_per_explained_row": rounded(sum(keys.values()) / rows, 1)}


def warm_runs(services: dict[str, Any], body: dict[str, Any], rows: int, runs: int) -> dict[str, dict[str, Any]]:
    """Warm JSON end to end (identity, then gzip) and the worker's encode seconds, the builds taking turns
    run by run, so a change in the machine's load weighs on both alike."""
    figures: dict[str, dict[str, list[float]]] = {name: {"plain": [], "gzip": [], "encode": []} for name in services}
    last: dict[str, str] = {}
    for service in services.values():
        end_to_end(service, body)
    for _ in range(runs):
        for name, service in services.items():
            seconds, job_id, answer = end_to_end(service, body)
            assert answer["result"]["explained_rows"] == rows, answer["result"]["explained_rows"]
            figures[name]["plain"].append(seconds)
            figures[name]["encode"].append(float(job_meta(service, job_id)["timings"]["encode_s"]))
            figures[name]["gzip"].append(gzip_end_to_end(service, body))
            last[name] = job_id
    return {name: {"rows": rows, "warm_json_e2e_median_s": rounded(median(found["plain"])),
                   "warm_json_e2e_min_s": rounded(min(found["plain"])),
                   "warm_json_gzip_e2e_median_s": rounded(median(found["gzip"])),
                   "encode_median_s": rounded(median(found["encode"])), "job_id": last[name]}
            for name, found in figures.items()}


def repeated(services: dict[str, Any], job_ids: dict[str, str], reads: int) -> dict[str, dict[str, float]]:
    """A finished wide answer read again and again (what the answer cache served from memory), builds in turn."""
    out: dict[str, dict[str, list[float]]] = {name: {"whole": [], "gzip": [], "small": []} for name in services}
    for _ in range(3):
        for name, service in services.items():
            out[name]["whole"].append(repeated_reads(service, job_ids[name], reads))
            out[name]["gzip"].append(repeated_reads(service, job_ids[name], reads, gzip_ok=True))
            out[name]["small"].append(repeated_reads(service, job_ids[name], reads, "?fields=summary"))
    return {name: {"repeated_read_median_s": rounded(median(found["whole"])),
                   "repeated_read_gzip_median_s": rounded(median(found["gzip"])),
                   "repeated_small_read_median_s": rounded(median(found["small"]))} for name, found in out.items()}


class TreeService(Service):
    """The product as `make run` starts it, from another source tree (its entrypoint, its code first on the path)."""

    tree: Path = REPO

    def environ(self) -> dict[str, str]:
        return super().environ() | {"PYTHONPATH": str(self.tree)}

    def start(self, wait_for_workers: int | None = None) -> Service:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.data_dir / "service.out", "ab")  # noqa: SIM115
        self.process = subprocess.Popen([sys.executable, str(self.tree / "scripts" / "entrypoint.py")],
                                        env=self.environ(), stdout=log, stderr=subprocess.STDOUT, cwd=self.tree,
                                        start_new_session=True)
        wait_until(lambda: self.get("/ping")[0] == 200 if self.alive() else self._died(), 60, message="/ping")
        if wait_for_workers:
            self.wait_for_workers(wait_for_workers)
        return self


@contextlib.contextmanager
def three_services(ref: str) -> Iterator[dict[str, Any]]:
    """`ref`'s service (exported with git archive), and this tree's with and without its kept finished answers
    (FINISHED_ANSWERS_MB=0), all running."""
    tree = Path(tempfile.mkdtemp(prefix="answers-store-baseline-"))
    archive = subprocess.run(["git", "-C", str(REPO), "archive", ref], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
    before = TreeService(tree / "data")
    before.tree = tree
    with scratch("answers-store") as directory:
        services = {"before": before, "after": Service(directory / "kept"),
                    "after_nothing_kept": Service(directory / "none", env={"FINISHED_ANSWERS_MB": "0"})}
        try:
            for service in services.values():
                service.start(wait_for_workers=2)
            yield services
        finally:
            for service in services.values():
                if service.alive():
                    with contextlib.suppress(subprocess.TimeoutExpired):
                        service.stop(timeout=60)
            shutil.rmtree(tree, ignore_errors=True)


def measure(ref: str, runs: int, reads: int) -> dict[str, Any]:
    target = wide_table.TARGETS[0]
    with three_services(ref) as services:
        for service in services.values():
            wide_table.upload(service)
        body = {"dataset": "wide", "target_variable": target, "sample_size": WIDE_ROWS, "reuse": False}
        wide = warm_runs(services, body, WIDE_ROWS, runs)
        reads_by = repeated(services, {name: found["job_id"] for name, found in wide.items()}, reads)
        for name, service in services.items():
            wide[name] |= reads_by[name] | finish_case(service, wide[name]["job_id"], WIDE_ROWS)
            wide[name]["web_rss_mb"] = rounded(rss_mb(service.pids("waitress-serve")[0]), 1)
            wide_table.upload(service, "large", data=wide_table.csv_bytes(LARGE_ROWS))
        large_body = {"dataset": "large", "target_variable": target, "sample_size": LARGE_ROWS, "reuse": False}
        large = warm_runs(services, large_body, LARGE_ROWS, max(2, runs // 3))
        for name, service in services.items():
            large[name] |= finish_case(service, large[name]["job_id"], LARGE_ROWS)
            web_pid = service.pids("waitress-serve")[0]
            large[name] |= {"web_rss_mb": rounded(rss_mb(web_pid), 1),
                            "web_peak_rss_mb": rounded(rss_mb(web_pid, "VmHWM"), 1)}
    return {name: {"wide": wide[name], "large": large[name]} for name in services}


def ratios(before: dict[str, Any], after: dict[str, Any]) -> dict[str, float]:
    out = {}
    for case in ("wide", "large"):
        for name, value in after[case].items():
            if isinstance(value, float | int) and name != "rows" and before[case].get(name):
                out[f"{case}.{name}"] = rounded(value / before[case][name], 3)
    return out


def in_process(rows: int) -> dict[str, Any]:
    """One `rows`-row result of the wide table resampled (bench/rows_answer.resampled), in this process: the
    worker's stored form (rows table + head) against main's encoder (analysis.encoding.encode) on the same
    result, and the JSON the web writes back from the stored form, compared byte for byte."""
    from rows_answer import resampled

    from analysis import datasets, rows_table, stored_result
    from analysis.encoding import encode
    from analysis.request import AnalyzeRequest
    from explain.run import analyze
    from explain.training import TrainedModel, train
    from worker.jobs import stored_form

    target = wide_table.TARGETS[0]
    meta, frame = datasets.describe(resampled(rows).to_csv(index=False).encode(), wide_table.options(target),
                                    name="big", max_rows=rows)
    model, model_meta = train(frame.iloc[:2000], target, datasets.feature_columns(meta, target), thread_count=1)
    result = analyze(frame, meta, AnalyzeRequest.model_validate({"sample_size": rows}), target,
                     TrainedModel("big", model, model_meta), thread_count=1, batch_size=20_000, max_rows=rows)
    explained = result.shap_values.frame
    assert explained is not None
    started = time.perf_counter()
    head, table = stored_form(result, explained.index.to_numpy())
    figures: dict[str, Any] = {"rows": rows, "features": len(model_meta.features),
                               "result_s": rounded(float(result.timings["result_s"])),
                               "stored_form_s": rounded(time.perf_counter() - started),
                               "table_bytes_per_row": rounded(len(table) / rows, 1), "head_bytes": len(head)}
    started = time.perf_counter()
    encoded = encode(result)
    figures["main_json_encode_s"] = rounded(time.perf_counter() - started)
    del result
    started = time.perf_counter()
    found = stored_result.read_head(head)
    rows_read = rows_table.from_ipc(table)
    values = stored_result.DatasetValues(frame, stored_result.positions(rows_read), found.layout)
    written = b"".join(stored_result.json_pieces(found, rows_read, values))
    figures["json_written_from_stored_s"] = rounded(time.perf_counter() - started)
    figures |= {"json_bytes": len(encoded), "json_written_identical": written == encoded,
                "ratio_stored_form_to_main_encode":
                    rounded(figures["stored_form_s"] / figures["main_json_encode_s"], 3)}
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--reads", type=int, default=20)
    parser.add_argument("--baseline", default="main")
    parser.add_argument("--in-process", type=int, metavar="ROWS",
                        help="instead: one ROWS-row result in this process (stored form against main's encoder)")
    args = parser.parse_args()
    if args.in_process:
        emit("answers_store_in_process", in_process(args.in_process) | {"machine": machine()})
        return
    found = measure(args.baseline, args.runs, args.reads)
    emit("answers_store", {"baseline": args.baseline, **found,
                           "ratio_after_to_before": ratios(found["before"], found["after"]),
                           "ratio_nothing_kept_to_before": ratios(found["before"], found["after_nothing_kept"]),
                           "ratio_after_to_nothing_kept": ratios(found["after_nothing_kept"], found["after"]),
                           "runs": args.runs, "reads": args.reads, "machine": machine()})


if __name__ == "__main__":
    main()
