"""X-API-KEY authentication: constant-time comparison; /ping, /health and the API document stay public."""

from __future__ import annotations

import hmac

from flask import request

from common.errors import Unauthorized
from web.services import services

PUBLIC_PATHS = frozenset({"/ping", "/health", "/openapi.json", "/docs", "/"})
# the docs page's vendored assets (the contract itself is public) and the page's files (it holds no data: it
# asks the analyst for the key and sends it with each call)
PUBLIC_PREFIXES = ("/docs/", "/page/")


def require_api_key() -> None:
    expected = services().settings.api_key
    if expected is None or request.path in PUBLIC_PATHS or request.path.startswith(PUBLIC_PREFIXES):
        return
    given = request.headers.get("X-API-KEY")
    if given is None:
        raise Unauthorized("Missing X-API-KEY header; send the service's API key.")
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise Unauthorized("Wrong X-API-KEY; send the service's API key.")
