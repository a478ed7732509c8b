"""CORS for a browser front end on another origin, through flask-cors: only the origins of CORS_ORIGINS (exact,
or `*` with an API key set; Settings refuses `*` without one). No credentials mode: the key travels in the
X-API-KEY header a page's script sets, never in a cookie, so an allowed origin still needs a key. A preflight
(OPTIONS) carries no key and needs none (web.auth lets it through); flask-cors answers it."""

from __future__ import annotations

import re

from flask import Flask
from flask_cors import CORS

from common.settings import Settings

ALLOWED_HEADERS = ("X-API-KEY", "Content-Type", "X-Request-ID")  # what a front end sends
EXPOSED_HEADERS = ("Retry-After", "X-Request-ID", "Content-Disposition")  # what it needs to read back
PREFLIGHT_MAX_AGE = 600  # seconds a browser may reuse a preflight's answer


def install(app: Flask, settings: Settings) -> None:
    """Grant CORS to CORS_ORIGINS; with none listed, nothing is installed and no cross-origin call is granted."""
    if not settings.cors_origins:
        return
    CORS(app, origins=_patterns(settings.cors_origins), allow_headers=list(ALLOWED_HEADERS),
         expose_headers=list(EXPOSED_HEADERS), supports_credentials=False, vary_header=True,
         max_age=PREFLIGHT_MAX_AGE, methods=["GET", "POST", "PUT", "DELETE"])


def _patterns(origins: tuple[str, ...]) -> list[str | re.Pattern[str]]:
    """Each exact origin as a pattern matching it whole, `*` as it is. flask-cors adds `Vary: Origin` only when
    the answer can differ by origin as it judges it: several origins, or a pattern. One exact origin differs too
    (the listed origin gets the grant, any other none), so a shared cache must key on Origin: patterns make
    flask-cors say so."""
    return ["*"] if origins == ("*",) else [re.compile(re.escape(origin) + r"\Z") for origin in origins]
