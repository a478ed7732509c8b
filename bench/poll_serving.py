"""Poll and ping serving (issue 5 item 3).

16 concurrent keep-alive clients (in 2 client processes) GET, for a few seconds each:
  ping        /ping
  queued      /job_status/<id> of a queued job (enqueued on a queue no worker serves, so it stays queued)
  large       /job_status/<id> of a finished analysis explaining 1,600 rows x 130 columns (several MB)
  large_gzip  the same with Accept-Encoding: gzip
  fields      the same with ?fields=summary,feature_importance
against the service, and the same bytes from a bare Flask app (bench/bare_app.py) served with the `web`
program's own Waitress command line. Service and baseline alternate case by case.
Targets: service/bare >= 0.7, p99 < 50 ms for the small answers (ping, queued), >= 10x the earlier
service (55 req/s polls, 6 req/s large results).

    .venv/bin/python bench/poll_serving.py [--duration 4]
"""

from __future__ import annotations

import argparse
import gzip
import http.client
import io
import subprocess
import time
from typing import Any

import numpy as np
import pandas as pd
from benchlib import (
    REPO,
    emit,
    free_port,
    load,
    machine,
    rounded,
    running_service,
    scratch,
    wait_finished,
    wait_until,
    waitress_command,
)

ROWS, COLUMNS = 1600, 130
FIELDS = "summary,feature_importance"


def wide_csv(rows: int = ROWS, columns: int = COLUMNS, seed: int = 5) -> bytes:
    """An id column, a categorical column, `columns - 3` numeric features and a target `y`."""
    rng = np.random.default_rng(seed)
    numeric = columns - 3
    x = rng.normal(size=(rows, numeric)).round(4)
    frame = pd.DataFrame(x, columns=[f"f{i:03d}" for i in range(numeric)])
    frame.insert(0, "row_id", [f"R{i:05d}" for i in range(rows)])
    frame.insert(1, "segment", rng.choice(["a", "b", "c", "d"], size=rows))
    frame["y"] = (3 * x[:, 0] - 2 * x[:, 1] + x[:, 2] * x[:, 3] + rng.normal(0, 0.3, rows)).round(4)
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False)
    return buffer.getvalue().encode()


def fetch(port: int, path: str, headers: dict[str, str] | None = None) -> tuple[bytes, dict[str, str]]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.request("GET", path, headers=headers or {})
        response = connection.getresponse()
        return response.read(), dict(response.getheaders())
    finally:
        connection.close()


def answers(port: int, path: str) -> bool:
    try:
        return fetch(port, path)[0][:1] == b"{"
    except OSError:
        return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--duration", type=float, default=4.0)
    args = parser.parse_args()

    from common import jobstates
    from common.rqtypes import JSONQueue

    figures: dict[str, Any] = {}
    with scratch("poll") as directory, running_service(directory / "svc", {"WORKER_COUNT": "1",
                                                                            "THREADS_PER_JOB": "2"},
                                                       workers=1) as service:
        status, answer, _ = service.put("/datasets/wide?default_target=y", raw=wide_csv(),
                                        headers={"Content-Type": "text/csv"})
        assert status in (200, 201), answer
        finished = service.analyze({"dataset": "wide", "target_variable": "y", "reuse": False})
        wait_finished(service, finished, timeout=600)
        idle = JSONQueue("bench-idle", connection=service.redis_client())
        queued = idle.enqueue(jobstates.ANALYSIS_FUNC, kwargs={"request": {"dataset": "default"}}).id

        paths = {"ping": ("/ping", {}), "queued": (f"/job_status/{queued}", {}),
                 "large": (f"/job_status/{finished}", {}),
                 "large_gzip": (f"/job_status/{finished}", {"Accept-Encoding": "gzip"}),
                 "fields": (f"/job_status/{finished}?fields={FIELDS}", {})}
        bare_dir = directory / "bare"
        bare_dir.mkdir()
        for name, (path, _) in paths.items():
            if name == "large_gzip":
                continue
            body, _ = fetch(service.port, path)
            (bare_dir / f"{name}.json").write_bytes(body)
        large = (bare_dir / "large.json").read_bytes()
        served_gzip, gzip_headers = fetch(service.port, paths["large_gzip"][0], {"Accept-Encoding": "gzip"})
        if gzip_headers.get("Content-Encoding") != "gzip":  # a service that does not compress: level 6
            served_gzip = gzip.compress(large, 6)
        (bare_dir / "large_gzip.json").write_bytes(large)
        (bare_dir / "large_gzip.json.gz").write_bytes(served_gzip)  # the same bytes as the service's
        figures["large_result_bytes"] = len(large)
        figures["large_gzip_bytes_service"] = len(served_gzip)
        figures["large_gzip_content_encoding"] = gzip_headers.get("Content-Encoding", "identity")
        figures["fields_bytes"] = (bare_dir / "fields.json").stat().st_size

        bare_port = free_port()
        env = service.environ() | {"BARE_APP_DIR": str(bare_dir), "PYTHONPATH": str(REPO / "bench")}
        log = open(directory / "bare.out", "wb")  # noqa: SIM115
        bare = subprocess.Popen(waitress_command(bare_port, "bare_app:create_app"), env=env, cwd=REPO / "bench",
                                stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_until(lambda: answers(bare_port, "/bare/ping"), 30, message="bare app")
            for name, (path, headers) in paths.items():
                duration = args.duration * (1.5 if name.startswith("large") else 1)
                svc = load(service.port, path, headers=headers, duration=duration)
                time.sleep(0.2)
                base = load(bare_port, f"/bare/{name}", headers=headers, duration=duration)
                ratio = rounded(svc["rps"] / base["rps"], 3) if base["rps"] else None
                figures[name] = {"service": svc, "bare": base, "ratio": ratio}
                time.sleep(0.2)
        finally:
            bare.terminate()
            bare.wait(10)
            log.close()

    figures["targets"] = {"ratio": 0.7, "p99_ms_small": 50, "poll_rps": 550, "large_rps": 60}
    figures["clients"] = 16
    figures["machine"] = machine()
    emit("poll_serving", figures)


if __name__ == "__main__":
    main()
