"""The web page at / (web/static/page: plain ES modules, no build step) and POST /filters/validate, which
the page calls as the analyst types a filter. The page and its files are public like /docs: they hold no
data; the page sends the X-API-KEY the analyst enters with every API call it makes."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Response, send_from_directory

from web.responses import json_response
from web.routes_submission import checked_request, json_body
from web.services import services

blueprint = Blueprint("page", __name__)
ASSETS = Path(__file__).parent / "static" / "page"
VENDOR_MAX_AGE = 86400  # the vendored charting library changes only with `make page-assets`


@blueprint.get("/")
def page() -> Response:
    # no max-age: a browser revalidates (ETag) and so picks up a new release of the page at once
    return send_from_directory(ASSETS, "index.html")


@blueprint.get("/page/<path:name>")
def page_asset(name: str) -> Response:
    return send_from_directory(ASSETS, name, max_age=VENDOR_MAX_AGE if name.startswith("vendor/") else None)


@blueprint.post("/filters/validate")
def validate_filters():
    """The checks POST /analyze makes (the same code, so the same 400 bodies), without enqueueing anything;
    200 reports how many rows the filters select."""
    plan, meta, chosen = checked_request(services(), json_body())
    analysis = plan.request
    return json_response({"success": True, "dataset": analysis.dataset, "dataset_version": meta["version"],
                          "target_variable": analysis.target_variable, "filters": analysis.demographic_filters,
                          "selected_rows": chosen.selected_rows, "explained_rows": len(chosen.frame),
                          "warnings": chosen.warnings})
