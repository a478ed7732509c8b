"""The web page at / (web/static/page: plain ES modules, no build step). The page and its files are public
like /docs: they hold no data; the page sends the X-API-KEY the analyst enters with every API call it makes
(as the analyst types a filter it asks POST /filters/validate, web.submission_routes)."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Response, send_from_directory

from web.api_docs import Tag, documented

blueprint = Blueprint("page", __name__)
ASSETS = Path(__file__).parent / "static" / "page"
VENDOR_MAX_AGE = 86400  # the vendored charting library changes only with `make page-assets`


@blueprint.get("/")
@documented(Tag.PAGE, {200: None}, public=True)
def analyst_page() -> Response:
    """The web page: upload or pick a dataset, compose filters, run an analysis and explore its result."""
    # no max-age: a browser revalidates (ETag) and so picks up a new release of the page at once
    return send_from_directory(ASSETS, "index.html")


@blueprint.get("/favicon.ico")
@documented(Tag.PAGE, {200: None}, public=True)
def favicon() -> Response:
    """The page's icon (16 and 32 px, in the page's Okabe-Ito colours): browsers ask for it on every site."""
    return send_from_directory(ASSETS, "favicon.ico", mimetype="image/vnd.microsoft.icon", max_age=VENDOR_MAX_AGE)


@blueprint.get("/page/<path:name>")
@documented(Tag.PAGE, {200: None}, 404, public=True)
def page_asset_file(name: str) -> Response:
    """The page's scripts, style and vendored charting library (Vega-Lite)."""
    return send_from_directory(ASSETS, name, max_age=VENDOR_MAX_AGE if name.startswith("vendor/") else None)
