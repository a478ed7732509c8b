"""GET /job_status/<id>/report: a finished analysis as one stand-alone HTML page, built by the real web from
charts real forking plot workers draw; every client-given name escaped (a hostile column name and label), no
script and no network needed to open it (checked in Debian's Chromium, offline), 404/409 in the one error
shape, declared in the OpenAPI document and linked from the page."""

from __future__ import annotations

import base64
import http.client
import json
from html import escape
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import quote

import numpy as np
import pandas as pd
import pytest
from playwright.sync_api import Browser

from devtools.stack import Stack
from tests.service import browser_harness

HOSTILE = "<script>alert(1)</script>"
HOSTILE_LABEL = '"><img src=x onerror=alert(2)>'
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def get(stack: Stack, path: str) -> tuple[int, bytes, dict[str, str]]:
    connection = http.client.HTTPConnection("127.0.0.1", stack.port, timeout=90)
    try:
        connection.request("GET", path, headers=stack.headers())
        response = connection.getresponse()
        return response.status, response.read(), dict(response.getheaders())
    finally:
        connection.close()


class Elements(HTMLParser):
    """Every start tag with its attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def hostile_table(rows: int = 200) -> pd.DataFrame:
    rng = np.random.default_rng(8)
    frame = pd.DataFrame({HOSTILE: rng.normal(size=rows).round(3),
                          "Region": rng.choice(["<b>north</b>", "south"], rows), "Age": rng.integers(20, 70, rows)})
    frame["spend"] = (frame[HOSTILE] * 3 + (frame["Region"] == "south") + rng.normal(0, 0.1, rows)).round(3)
    return frame


@pytest.fixture(scope="module")
def analysis(stack: Stack) -> str:
    labels = json.dumps({"Age": HOSTILE_LABEL})
    stack.uploaded("hostile-report", hostile_table(), f"?labels={quote(labels)}")
    job_id = stack.analyze({"dataset": "hostile-report", "target_variable": "spend"})
    assert stack.wait_job(job_id)["status"] == "finished"
    return job_id


@pytest.fixture(scope="module")
def report(stack: Stack, analysis: str) -> tuple[bytes, dict[str, str]]:
    status, body, headers = get(stack, f"/job_status/{analysis}/report?wait=30")
    assert status == 200, body[:500]
    return body, headers


def test_the_report_is_html_that_runs_no_script(report: tuple[bytes, dict[str, str]]) -> None:
    body, headers = report
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    policy = headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "script-src" not in policy  # no script source is allowed
    assert "Content-Disposition" not in headers
    parsed = Elements()
    parsed.feed(body.decode())
    tags = [tag for tag, _ in parsed.tags]
    assert "script" not in tags and "link" not in tags and "iframe" not in tags and "object" not in tags
    assert not [attrs for _, attrs in parsed.tags if any(name.startswith("on") for name in attrs)]


def test_every_name_is_escaped(report: tuple[bytes, dict[str, str]]) -> None:
    text = report[0].decode()
    assert HOSTILE not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "<img src=x" not in text and "&lt;img src=x onerror=alert(2)&gt;" in text
    assert "<b>north</b>" not in text


def test_the_charts_are_inline_pngs_and_nothing_is_fetched(report: tuple[bytes, dict[str, str]]) -> None:
    parsed = Elements()
    parsed.feed(report[0].decode())
    images = [attrs["src"] or "" for tag, attrs in parsed.tags if tag == "img"]
    assert len(images) == 2
    for src in images:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.removeprefix("data:image/png;base64,")).startswith(PNG_MAGIC)
    external = [attrs for _, attrs in parsed.tags for name, value in attrs.items()
                if name in ("src", "href") and value and not value.startswith("data:")]
    assert not external


def test_the_report_holds_the_summary_model_facts_and_warnings(stack: Stack, analysis: str,
                                                              report: tuple[bytes, dict[str, str]]) -> None:
    _, result, _ = stack.request("GET", f"/job_status/{analysis}?fields=model,summary,warnings")
    text = report[0].decode()
    for heading in ("Summary", "Model", "Warnings", "Charts", "Feature importance"):
        assert f"<h2>{heading}</h2>" in text
    assert result["result"]["model"]["id"] in text and "Held-out r2" in text
    first_line = result["result"]["summary"].split("\n")[0][:40]
    assert escape(first_line, quote=True) in text


def test_download_names_an_attachment(stack: Stack, analysis: str) -> None:
    status, _, headers = get(stack, f"/job_status/{analysis}/report?download=1&wait=30")
    assert status == 200
    assert headers["Content-Disposition"] == f'attachment; filename="report-{analysis}.html"'


def test_unknown_and_unfinished_jobs_and_bad_parameters_get_the_one_error_shape(stack: Stack) -> None:
    status, body, _ = get(stack, "/job_status/no-such-job/report")
    answer = json.loads(body)
    assert (status, answer["success"], answer["code"]) == (404, False, "not_found")
    job_id = stack.analyze({"dataset": "hostile-report", "target_variable": "Age", "reuse": False})
    status, body, _ = get(stack, f"/job_status/{job_id}/report")
    if status == 409:  # normally: it has only just been queued
        assert json.loads(body)["code"] == "job_not_finished"
    else:  # a worker was quicker than this request: then it is a report
        assert status in (200, 202)
    status, body, _ = get(stack, f"/job_status/{job_id}/report?colour=1")
    assert status == 400 and "colour" in json.loads(body)["error"]


def test_the_report_is_declared_and_linked_from_the_page(stack: Stack) -> None:
    _, document, _ = stack.request("GET", "/openapi.json")
    operation = document["paths"]["/job_status/{job_id}/report"]["get"]
    assert {"200", "202", "404", "409"} <= set(operation["responses"])
    assert {p["name"] for p in operation["parameters"] if p["in"] == "query"} >= {"download", "wait"}
    page = (Path(__file__).parents[2] / "web" / "static" / "page" / "index.html").read_text()
    assert 'id="download-report"' in page


browser = browser_harness.browser  # one Chromium for the module


def test_the_saved_report_opens_offline_in_a_browser(browser: Browser, report: tuple[bytes, dict[str, str]],
                                                     tmp_path: Path) -> None:
    """Saved to a file and opened with the network off: every request is the file itself or a data: image,
    no dialog opens (no escaped name ran), and both charts are decoded and shown."""
    saved = tmp_path / "report.html"
    saved.write_bytes(report[0])
    context = browser.new_context(offline=True)
    page = context.new_page()
    requested: list[str] = []
    dialogs: list[str] = []
    page.on("request", lambda r: requested.append(r.url))
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(saved.as_uri())
    widths = page.eval_on_selector_all("img", "images => images.map((i) => i.complete ? i.naturalWidth : 0)")
    context.close()
    assert not dialogs
    assert all(url == saved.as_uri() or url.startswith("data:") for url in requested), requested
    assert len(widths) == 2 and all(width > 100 for width in widths)


def test_a_multiclass_report_draws_the_class_most_rows_were_explained_for(stack: Stack) -> None:
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({"x": rng.normal(size=300).round(3), "z": rng.normal(size=300).round(3)})
    frame["kind"] = np.select([frame["x"] > 0.5, frame["x"] < -0.5], ["high", "low"], "mid")
    stack.uploaded("three-kinds", frame)
    job_id = stack.analyze({"dataset": "three-kinds", "target_variable": "kind"})
    done = stack.wait_job(job_id)
    assert done["status"] == "finished"
    predicted = pd.Series([row["explained_class"] for row in done["result"]["results"]]).value_counts()
    status, body, _ = get(stack, f"/job_status/{job_id}/report?wait=30")
    assert status == 200, body[:300]
    text = body.decode()
    assert text.count("data:image/png;base64,") == 2 and f"(class {predicted.index[0]})" in text
