"""A front end on another origin, in a real browser (Debian's chromium driven by Playwright, never a downloaded
browser): a small page served from another loopback port calls the API with fetch. From an origin CORS_ORIGINS
lists it works (even the error bodies are readable), from another the browser refuses it. And the service's own
page, given an analyst key, disables its upload controls and says why."""

from __future__ import annotations

import functools
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser

from devtools.http import free_port
from devtools.redis_server import RedisServer
from devtools.stack import Stack
from tests.service import browser_harness

ADMIN_KEY, ANALYST_KEY = "browser-admin-key", "browser-analyst-key"
FRONT_END_PAGE = "<!doctype html><title>front end</title><p>a front end on another origin</p>"
CALL = """async ([url, key]) => {
  try {
    const answer = await fetch(url, { headers: { "X-API-KEY": key, "X-Request-ID": "front-end-1" } });
    return { status: answer.status, body: await answer.json(), requestId: answer.headers.get("X-Request-ID") };
  } catch (error) {
    return { failed: String(error) };
  }
}"""


browser = browser_harness.browser  # one Chromium for the module


def serve_page(directory: Path) -> tuple[str, http.server.ThreadingHTTPServer]:
    """A tiny static server on a loopback port of its own: another origin than the service's."""
    (directory / "index.html").write_text(FRONT_END_PAGE)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}", server


@pytest.fixture(scope="module")
def origins(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    allowed, first = serve_page(tmp_path_factory.mktemp("allowed"))
    other, second = serve_page(tmp_path_factory.mktemp("other"))
    yield allowed, other
    for server in (first, second):
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory, origins: tuple[str, str]) -> Iterator[Stack]:
    server = RedisServer(tmp_path_factory.mktemp("cors") / "redis").start()
    running = Stack(server, env={"API_KEY": ADMIN_KEY, "ANALYST_API_KEYS": ANALYST_KEY,
                                 "CORS_ORIGINS": origins[0]}).start_web()
    yield running
    running.stop()
    server.stop()


def call_from(browser: Browser, origin: str, url: str, key: str) -> dict:
    page = browser.new_page()
    try:
        page.goto(origin + "/index.html")
        return page.evaluate(CALL, [url, key])
    finally:
        page.close()


def test_a_page_on_a_listed_origin_calls_the_api_and_another_origin_cannot(browser: Browser, service: Stack,
                                                                           origins: tuple[str, str]) -> None:
    allowed, other = origins
    granted = call_from(browser, allowed, service.base + "/datasets", ANALYST_KEY)
    assert granted.get("status") == 200, granted
    assert any(d["name"] == "default" for d in granted["body"]["datasets"])
    assert granted["requestId"] == "front-end-1"  # an exposed header
    refused = call_from(browser, allowed, service.base + "/metrics", ANALYST_KEY)
    assert (refused.get("status"), refused["body"]["code"]) == (403, "forbidden"), refused  # readable, typed
    blocked = call_from(browser, other, service.base + "/datasets", ANALYST_KEY)
    assert "failed" in blocked and "Failed to fetch" in blocked["failed"], blocked


def test_the_page_with_an_analyst_key_disables_its_upload_and_says_why(browser: Browser, service: Stack) -> None:
    page = browser.new_page()
    try:
        page.goto(service.base + "/")
        page.fill("#api-key", ANALYST_KEY)
        page.click("#key-form button[type=submit]")
        page.locator("#upload-box summary").click()
        page.wait_for_selector("#upload-role:not([hidden])")
        assert page.locator("#upload-button").is_disabled()
        assert "analyst" in page.inner_text("#upload-role")
        assert page.locator("#dataset option[value=default]").count() == 1  # still lists and analyses
        page.fill("#api-key", ADMIN_KEY)
        page.click("#key-form button[type=submit]")
        page.wait_for_selector("#upload-role[hidden]", state="attached")
        assert page.locator("#upload-button").is_enabled()
    finally:
        page.close()
