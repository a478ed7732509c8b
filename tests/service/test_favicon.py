"""/favicon.ico: the browser's request for the site's icon is answered (no 404 in the page's console), without a
key, and the page links it."""

from __future__ import annotations

import http.client
import io
from collections.abc import Iterator

import pytest
from PIL import Image

from devtools.redis_server import RedisServer
from devtools.stack import Stack


@pytest.fixture
def keyed_web(redis_server: RedisServer) -> Iterator[Stack]:
    running = Stack(redis_server, env={"API_KEY": "favicon-test-key"}).start_web()
    yield running
    running.stop()


def fetched(stack: Stack, path: str) -> tuple[int, bytes, dict[str, str]]:
    """A GET without a key, the body as sent."""
    connection = http.client.HTTPConnection("127.0.0.1", stack.port, timeout=30)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read(), dict(response.getheaders())
    finally:
        connection.close()


def test_the_favicon_is_served_without_a_key_and_linked_from_the_page(keyed_web: Stack) -> None:
    status, icon, headers = fetched(keyed_web, "/favicon.ico")
    assert status == 200 and headers["Content-Type"] == "image/vnd.microsoft.icon"
    assert Image.open(io.BytesIO(icon)).format == "ICO" and len(icon) < 4096
    status, page, _ = fetched(keyed_web, "/")
    assert status == 200 and b'<link rel="icon" href="/favicon.ico"' in page
    assert fetched(keyed_web, "/job_status/x")[0] == 401  # the key still guards the API
