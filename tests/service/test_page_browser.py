"""The page at / in a real browser: Debian's chromium, headless, driven by Playwright (never a downloaded
browser) against a real stack: the web on Waitress, a forking worker, a private redis-server. Each step's
screenshot is written under the test's temp directory (the paths are printed: run with -s to see them)."""

from __future__ import annotations

import csv
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page

from devtools.redis_server import RedisServer
from devtools.stack import Stack
from tests.service import browser_harness

KEY = "page-test-key"
JOB_WAIT_MS = 90_000


browser = browser_harness.browser  # one Chromium for the module


@pytest.fixture(scope="module")
def keyed_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    server = RedisServer(tmp_path_factory.mktemp("page") / "redis").start()
    running = Stack(server, env={"API_KEY": KEY}).start_web().start_workers(1)
    yield running
    running.stop()
    server.stop()


class Shots:
    """Numbered screenshots of the steps, under the test's temp directory."""

    def __init__(self, page: Page, directory: Path) -> None:
        self.page, self.directory, self.count = page, directory, 0
        directory.mkdir()

    def take(self, step: str) -> Path:
        self.count += 1
        path = self.directory / f"{self.count:02d}-{step}.png"
        self.page.screenshot(path=path, full_page=True)
        print(f"screenshot: {path}")
        return path


@dataclass
class Seen:
    """What the page did besides drawing: every URL it requested and every uncaught script error."""

    requested: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


@pytest.fixture
def seen() -> Seen:
    return Seen()


@pytest.fixture
def page(browser: Browser, keyed_stack: Stack, seen: Seen) -> Iterator[Page]:
    """A fresh tab (no sessionStorage, no cache) at 1280x800."""
    context = browser.new_context(viewport={"width": 1280, "height": 800}, accept_downloads=True)
    opened = context.new_page()
    opened.set_default_timeout(30_000)
    opened.on("request", lambda request: seen.requested.append(request.url))
    opened.on("pageerror", lambda error: seen.errors.append(str(error)))
    yield opened
    context.close()


def open_with_key(page: Page, stack: Stack) -> None:
    page.goto(stack.base + "/")
    page.fill("#api-key", KEY)
    page.click("#key-form button")
    page.wait_for_selector("#columns-table tbody tr")


def row_name(result: dict, shown_number: str) -> str:
    """The name the page gives the row the table numbers `shown_number` (1-based): its site id."""
    return str(result["results"][int(shown_number) - 1].get("site", f"row {int(shown_number) - 1}"))


def small_csv(path: Path) -> Path:
    """240 rows: an id, a region and three numbers; score follows x1 up, x2 down and the north region."""
    rng = random.Random(7)
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["site", "region", "x1", "x2", "x3", "score"])
        for i in range(240):
            region = ("north", "south", "east", "west")[i % 4]
            x1, x2, x3 = rng.uniform(0, 10), rng.uniform(0, 10), rng.uniform(0, 10)
            score = 10 * x1 - 5 * x2 + (15 if region == "north" else 0) + rng.gauss(0, 1)
            writer.writerow([f"s{i:03d}", region, f"{x1:.3f}", f"{x2:.3f}", f"{x3:.3f}", f"{score:.3f}"])
    return path


def add_filter(page: Page, column: str, op: str, value: str) -> None:
    page.click("#add-filter")
    row = page.locator("#filters li").last
    row.locator(".f-column").select_option(column)
    row.locator(".f-op").select_option(op)
    row.locator(".f-value").fill(value)


def upload(page: Page, shots: Shots, csv_path: Path) -> None:
    page.click("#upload-box summary")
    page.set_input_files("#upload-file", str(csv_path))
    page.fill("#upload-name", "sites")
    page.click("#upload-button")
    page.wait_for_selector("#upload-state:has-text('created sites: 240 rows')")
    assert page.locator("#upload-progress").evaluate("bar => bar.value") == 100
    page.wait_for_selector("#columns-table caption:has-text('Columns of sites')")
    shots.take("uploaded")


def run_filtered_analysis(page: Page, stack: Stack, shots: Shots) -> dict:
    """Target score, filter x1 > 2, run; the job's status body as the API answers it."""
    page.select_option("#target", "score")
    add_filter(page, "x1", ">", "2")
    checked = stack.post("/filters/validate", {"dataset": "sites", "target_variable": "score",
                                               "analysis_type": "correlation", "demographic_filters": ["x1 > 2"]})
    assert checked[0] == 200
    page.wait_for_selector(f"#filter-state.ok:has-text('{checked[1]['selected_rows']} rows selected')")
    shots.take("filter-checked")
    page.click("#run")
    page.wait_for_selector("#summary:not(:empty)", timeout=JOB_WAIT_MS)
    page.wait_for_selector("#bar-chart svg")
    shots.take("result")
    job_id = page.locator("#results").get_attribute("data-job-id")
    status, body, _ = stack.get(f"/job_status/{job_id}")
    assert status == 200 and body["status"] == "finished"
    return body["result"]


def assert_csv_matches(path: Path, result: dict) -> None:
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == len(result["results"]) == result["explained_rows"]
    for position, (row, expected) in enumerate(zip(rows, result["results"], strict=True)):
        assert row["row"] == str(position) and row["site"] == expected["site"]  # the rows table's 0-based row
        assert float(row["prediction"]) == expected["prediction"]
        for feature, values in result["shap_values"].items():
            assert math.isclose(float(row[f"shap_{feature}"]), values[position], rel_tol=0, abs_tol=1e-12)


def test_an_analyst_uploads_a_csv_runs_a_filtered_analysis_and_explores_the_result(
        page: Page, keyed_stack: Stack, seen: Seen, tmp_path: Path) -> None:
    """Upload, filter, run; summary, one bar per feature, a clicked row's waterfall, the CSV as the API says."""
    shots = Shots(page, tmp_path / "screens")
    open_with_key(page, keyed_stack)
    shots.take("opened")
    upload(page, shots, small_csv(tmp_path / "sites.csv"))
    labelled = keyed_stack.request("PUT", "/datasets/sites/labels", {"x2": "Second measure"})
    assert labelled[0] == 200, labelled
    result = run_filtered_analysis(page, keyed_stack, shots)

    assert page.locator("#summary").inner_text() == result["summary"]
    assert "x1 > 2" in result["summary"]
    features = len(result["feature_importance"])
    assert page.locator("#bar-chart svg g.mark-rect path").count() == min(features, 15)
    # a labelled feature is shown by its label; its column name stays in the data (the CSV's shap_x2 below)
    assert "Second measure" in (page.locator("#bar-chart svg").text_content() or "")
    assert page.locator("#dependence-feature option[value='x2']").inner_text() == "Second measure"

    rows = page.locator("#rows-table tbody tr")
    clicked = rows.nth(2).locator("td").first.inner_text()
    rows.nth(2).locator("td").first.click()  # its first cell, as a reader would
    # the caption names the row by its id (site), not by its position in the table
    page.wait_for_selector(f"#waterfall-caption:has-text('Waterfall of {row_name(result, clicked)}: predicted ')")
    assert page.locator("#waterfall-chart svg g.mark-rect path").count() == features
    assert rows.nth(2).get_attribute("aria-selected") == "true"
    # every feature's value labels its step, categorical ones too (GET /job_status/<id>/feature_values),
    # value first as in shap's waterfall, so a long name rather than the value is what a narrow axis cuts
    assert " = region" in (page.locator("#waterfall-chart svg").text_content() or "")
    shots.take("waterfall-of-clicked-row")

    by_keyboard = rows.nth(4).locator("td").first.inner_text()
    rows.nth(4).focus()  # the keyboard reaches rows too
    page.keyboard.press("Enter")
    page.wait_for_selector(f"#waterfall-caption:has-text('Waterfall of {row_name(result, by_keyboard)}: ')")
    assert rows.nth(4).get_attribute("aria-selected") == "true"

    with page.expect_download() as download:
        page.click("#download-csv")
    assert_csv_matches(Path(download.value.path()), result)

    page.set_viewport_size({"width": 390, "height": 844})
    page.wait_for_function("document.documentElement.scrollWidth <= 390")  # the charts refit their container
    shots.take("phone-width")
    assert all(url.startswith((keyed_stack.base + "/", "blob:", "data:")) for url in seen.requested), seen.requested
    assert seen.errors == []


def test_a_bad_filter_shows_the_services_own_400_message(page: Page, keyed_stack: Stack, tmp_path: Path) -> None:
    """The live check and the submission both show the exact message POST /analyze answers."""
    shots = Shots(page, tmp_path / "screens")
    open_with_key(page, keyed_stack)
    add_filter(page, "Income", ">", "plenty")
    status, refused, _ = keyed_stack.post("/analyze", {"dataset": "default", "target_variable": "Mortgage_Approvals",
                                                       "demographic_filters": ["Income > plenty"]})
    assert status == 400 and "plenty" in refused["error"]
    page.wait_for_selector("#filter-state.error")
    assert page.locator("#filter-state").inner_text() == refused["error"]
    page.click("#run")
    page.wait_for_selector("#analysis-error:not(:empty)")
    assert page.locator("#analysis-error").inner_text() == refused["error"]
    shots.take("bad-filter")
    assert page.locator("#results").is_hidden()


def test_a_refused_upload_shows_the_services_own_message(page: Page, keyed_stack: Stack, tmp_path: Path) -> None:
    """A dataset name the service refuses: the page shows the PUT /datasets answer's message, word for word."""
    shots = Shots(page, tmp_path / "screens")
    csv_path = small_csv(tmp_path / "sites.csv")
    status, refused, _ = keyed_stack.request("PUT", "/datasets/bad%20name!", raw=csv_path.read_bytes(),
                                             headers={"Content-Type": "text/csv"})
    assert status == 400
    open_with_key(page, keyed_stack)
    page.click("#upload-box summary")
    page.set_input_files("#upload-file", str(csv_path))
    page.fill("#upload-name", "bad name!")
    page.click("#upload-button")
    page.wait_for_selector("#upload-state.error")
    assert page.locator("#upload-state").inner_text() == refused["error"]
    shots.take("refused-upload")


def test_labels_exclusions_and_interactions_from_the_page(page: Page, keyed_stack: Stack, tmp_path: Path) -> None:
    """Labels typed at upload name the features, a column typed in Exclude columns is no feature, and an
    interactions analysis runs, its strongest pair's plot downloaded as PNG."""
    shots = Shots(page, tmp_path / "screens")
    open_with_key(page, keyed_stack)
    page.click("#upload-box summary")
    page.set_input_files("#upload-file", str(small_csv(tmp_path / "labelled.csv")))
    page.fill("#upload-name", "labelled")
    page.fill("#upload-labels", '{"x1": "First measure"}')
    page.click("#upload-button")
    page.wait_for_selector("#columns-table caption:has-text('Columns of labelled')")
    page.select_option("#target", "score")
    page.select_option("#analysis-type", "interactions")
    page.fill("#exclude-columns", "x3")
    page.click("#run")
    page.wait_for_selector("#summary:not(:empty)", timeout=JOB_WAIT_MS)
    page.wait_for_selector("#bar-chart svg")
    job_id = page.locator("#results").get_attribute("data-job-id")
    result = keyed_stack.get(f"/job_status/{job_id}")[1]["result"]
    assert "x3" not in result["model"]["features"] and result["interactions"]["pairs"]
    assert "First measure" in (page.locator("#bar-chart svg").text_content() or "")
    page.select_option("#plot-kind", "interaction")
    with page.expect_download(timeout=JOB_WAIT_MS) as download:
        page.click("#download-png")
    assert Path(download.value.path()).read_bytes().startswith(b"\x89PNG")
    shots.take("interactions")
