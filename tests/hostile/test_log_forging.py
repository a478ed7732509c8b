"""Issue 22, finding 4: a Parquet target name holding a line break, or a callback_url with CR/LF, wrote
whole fake log lines (with made-up timestamps) into the web and worker logs under LOG_FORMAT=text. The
log formatters now escape every record's text, whoever logged it (RQ's own lines carry job descriptions),
so no text of client origin can start a log line; JSON logs stay one object per line."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from common import logs
from devtools.service import Service
from devtools.waiting import wait_until

MARK = "FORGED"
BREAKS = {"LF": "\n", "CR": "\r", "CRLF": "\r\n", "NEL": "\u0085", "LS": "\u2028", "PS": "\u2029", "VT": "\x0b",
          "FF": "\x0c", "RS": "\x1e"}
FORGERY = "{brk}" + MARK + " 2026-12-07 14:00:00,000 web INFO forged: all is well"


def forged(brk: str) -> str:
    return FORGERY.format(brk=brk)


def lines_of(directory: Path) -> list[str]:
    """Every line of every program's log: supervisord's stdout (the programs') and its own log files, split
    wherever any reader would split them (str.splitlines: \\n, \\r, NEL, U+2028, ...)."""
    texts = [directory / "service.out", *sorted((directory / "logs").glob("*"))]
    return [line for path in texts if path.is_file() for line in path.read_text(errors="replace").splitlines()]


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    running = Service(tmp_path_factory.mktemp("forging") / "svc", env={
        "LOG_FORMAT": "text", "WORKER_COUNT": "1", "CALLBACK_SECRET": "s", "CALLBACK_ALLOWED_HOSTS": "127.0.0.1",
        "CALLBACK_TIMEOUT": "1", "CALLBACK_RETRIES": "0"}).start(wait_for_workers=1)
    yield running
    if running.alive():
        running.stop()


def parquet_of(columns: dict[str, list]) -> bytes:
    sink = io.BytesIO()
    pq.write_table(pa.table(columns), sink)
    return sink.getvalue()


def test_no_client_field_can_start_a_line_in_any_programs_log(service: Service) -> None:
    """Each client field (names, values, filters, URLs, labels) gets each line break; then no line of any
    program's log starts with the forged text."""
    csv = {"Content-Type": "text/csv"}
    jobs, called = [], 0
    for name, brk in BREAKS.items():
        evil = forged(brk)
        rows = 30
        # a column name (the target) with a break, in a Parquet file (the case) and in a CSV
        target = f"y{evil}"
        service.request("PUT", f"/datasets/p{name}", raw=parquet_of({
            target: [i % 2 for i in range(rows)], "x": [i % 7 for i in range(rows)]}),
            headers={"Content-Type": "application/vnd.apache.parquet"})
        service.request("POST", "/analyze", {"dataset": f"p{name}", "target_variable": target})
        # a cell value with a break, then filters, cohorts, scenarios and labels naming it
        body = "y,x,place\n" + "".join(f'{i % 2},{i % 7},"{evil if i % 2 else "a"}"\n' for i in range(rows))
        status, answer, _ = service.request("PUT", f"/datasets/v{name}?default_target=y", raw=body.encode(),
                                            headers=csv)
        assert status in (200, 201), answer
        for request in (
                {"dataset": f"v{name}", "demographic_filters": [f"place == {evil}"]},
                {"dataset": f"v{name}", "demographic_filters": [f"x{evil} > 1"]},
                {"dataset": f"v{name}", "analysis_type": "comparison",
                 "cohorts": {f"c{evil}": [f"place == {evil}"], "rest": []}},
                {"dataset": f"v{name}", "analysis_type": "what_if",
                 "scenarios": [{"name": f"s{evil}", "set": {"place": evil}}]},
                {"dataset": f"v{name}", "data": [{"x": 1, "place": evil}]},
                {"dataset": f"v{name}", "callback_url": f"http://127.0.0.1:1/hook{evil}"},
                {"dataset": f"v{name}", "target_variable": f"x{evil}"}):
            status, answer, _ = service.request("POST", "/analyze", request)
            if status in (200, 202):
                jobs.append(answer["job_id"])
                called += "callback_url" in request
        service.request("PUT", f"/datasets/v{name}/labels", {"x": f"Income{evil}"})
        service.request("PUT", f"/datasets/v{name}?labels=" + quote(json.dumps({"x": evil})), raw=body.encode(),
                        headers=csv)
        service.request("GET", "/metadata?dataset=" + quote(f"v{evil}"))
        service.request("GET", "/datasets/" + quote(f"v{evil}", safe=""))
    for job_id in jobs:
        service.wait_job(job_id, timeout=120)
    out = service.data_dir / "service.out"
    wait_until(lambda: out.read_text(errors="replace").count("callback of job") >= called, 60,
               message="every accepted callback's attempt line")
    service.stop()
    lines = lines_of(service.data_dir)
    assert len(lines) > 50, lines
    started = [line for line in lines if line.lstrip().startswith(MARK)]
    assert not started, f"{len(started)} forged lines, e.g. {started[:3]}"


@pytest.mark.parametrize("brk", list(BREAKS.values()), ids=list(BREAKS))
def test_rq_style_lines_and_tracebacks_stay_one_line_per_record(brk: str) -> None:
    """The formatters themselves: RQ announces a job as `<queue>: <description> (<id>)`, its description
    carrying the client's text; an exception's message may carry it too."""
    record = logging.LogRecord("rq.worker", logging.INFO, __file__, 1, "%s: %s (%s)",
                               ("shap-jobs", f"analysis of y{forged(brk)} on areas", "id-1"), None)
    try:
        raise ValueError(f"bad value {forged(brk)}")
    except ValueError:
        import sys

        failed = logging.LogRecord("worker", logging.ERROR, __file__, 1, "failed %s", (forged(brk),), sys.exc_info())
    text = logs.TextFormatter("worker")
    assert len(text.format(record).splitlines()) == 1
    assert all(not line.startswith(MARK) and (i == 0 or line.startswith(logs.CONTINUATION))
               for i, line in enumerate(text.format(failed).splitlines()))
    as_json = logs.JSONFormatter("worker")
    for entry in (record, failed):
        (line,) = as_json.format(entry).splitlines()
        assert MARK in json.loads(line)["message"]
