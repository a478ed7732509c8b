"""The service-side parts of issue 23 as an analyst meets them on the page, in Debian's Chromium against a real
stack (Waitress web, a forking worker, a private redis-server): a semicolon CSV with decimal commas uploaded
through the page's own form is read as numbers, the job's line counts CatBoost's trees while it trains, the
Report (HTML) button saves the service's report, and the icon is found (no 404)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page

from devtools.stack import Stack
from tests.service import browser_harness
from tests.service import test_page_browser as page_harness
from tests.service.test_page_browser import open_with_key
from tests.service.test_training_progress import slow_table

JOB_WAIT_MS = 120_000


browser = browser_harness.browser  # one Chromium for the module


keyed_stack = page_harness.keyed_stack  # web, a worker and redis for the module, with the page tests' key


@pytest.fixture
def page(browser: Browser, keyed_stack: Stack) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 800}, accept_downloads=True)
    opened = context.new_page()
    opened.set_default_timeout(30_000)
    open_with_key(opened, keyed_stack)
    yield opened
    context.close()


def test_a_semicolon_csv_with_decimal_commas_uploads_from_the_page_as_numbers(page: Page, keyed_stack: Stack,
                                                                              tmp_path: Path) -> None:
    export = tmp_path / "export.csv"
    rows = ["Region;Einkommen;Alter;Ausgaben"]
    rows += [f"{('Nord', 'Süd')[i % 2]};{40 + i % 17},{i % 10};{20 + i % 50};{10 + i % 23},{i % 7}5" for i in range(60)]
    export.write_text("\n".join(rows) + "\n", encoding="utf-8")
    page.click("#upload-box summary")
    page.set_input_files("#upload-file", str(export))
    page.fill("#upload-name", "eu-export")
    page.click("#upload-button")
    page.wait_for_selector("#upload-state:has-text('created eu-export: 60 rows')")
    _, meta, _ = keyed_stack.get("/metadata?dataset=eu-export")
    assert {c["name"]: c["type"] for c in meta["columns"]} == {
        "Region": "categorical", "Einkommen": "numeric", "Alter": "numeric", "Ausgaben": "numeric"}


def test_the_job_line_counts_trees_and_the_report_is_saved(page: Page, keyed_stack: Stack, tmp_path: Path) -> None:
    keyed_stack.uploaded("slow-page", slow_table())
    page.click("#reload-datasets")
    page.wait_for_selector("#dataset option[value='slow-page']", state="attached")
    page.select_option("#dataset", "slow-page")
    page.wait_for_selector("#columns-table caption:has-text('Columns of slow-page')")
    page.select_option("#target", "y")
    page.click("#run")
    page.wait_for_selector("#job-state:has-text('training (tree ')", timeout=JOB_WAIT_MS)
    page.wait_for_selector("#summary:not(:empty)", timeout=JOB_WAIT_MS)
    with page.expect_download(timeout=JOB_WAIT_MS) as download:
        page.click("#download-report")
    saved = tmp_path / "report.html"
    download.value.save_as(saved)
    job_id = page.locator("#results").get_attribute("data-job-id")
    assert download.value.suggested_filename == f"report-{job_id}.html"
    text = saved.read_text()
    assert "<h2>Summary</h2>" in text and text.count("data:image/png;base64,") == 2


def test_the_icon_is_found(page: Page, keyed_stack: Stack) -> None:
    icon = page.evaluate("document.querySelector('link[rel=icon]').href")
    assert icon == keyed_stack.base + "/favicon.ico"
    assert page.request.get(icon).status == 200
