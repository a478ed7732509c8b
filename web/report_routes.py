"""GET /job_status/<id>/report: a finished analysis as one stand-alone HTML page (web.report_page builds it);
its charts are the plots the plot workers draw (web.plot_renders), so the web still draws nothing."""

from __future__ import annotations

import collections
from collections.abc import Mapping

from flask import Blueprint, Response, request, url_for
from rq.job import Job

from analysis.plot_spec import PlotSpec
from common.errors import InvalidRequest, PlotFailed, shown
from web import long_poll, plot_params, plot_renders, report_page
from web.answers import small_fields
from web.api_docs import Tag, documented
from web.finished_jobs import finished
from web.responses import json_response
from web.services import Services, services

blueprint = Blueprint("reports", __name__)
PARAMS = ("download", "wait")
CHARTS = (("bar", "Feature importance (mean |SHAP value|)"), ("beeswarm", "SHAP values of every explained row"))


def _check_params(args: Mapping[str, str]) -> bool:
    """Whether the report is asked for as a download; a 400 naming any other parameter."""
    unknown = sorted(name for name in args if name not in PARAMS)
    if unknown:
        raise InvalidRequest(f"Unknown report parameters {shown(unknown)}; the report takes download and wait.",
                             details={"unknown": [shown(name, quoted=False) for name in unknown[:20]]})
    if args.get("download", "0") not in ("0", "1"):
        raise InvalidRequest("download must be 1 (an attachment) or 0 (shown inline).")
    return args.get("download") == "1"


def _specs(svc: Services, job: Job) -> list[tuple[str, PlotSpec]]:
    """The charts' plots, checked as the plot route checks them: a multiclass result's for the class most
    rows were explained for (each row is explained for its predicted class only)."""
    found = plot_params.analysis(svc, job, "bar")
    args: dict[str, str] = {}
    explained = (found.rows or {}).get("explained_class") if found.task == "multiclass" else None
    if explained:
        args["class"] = str(collections.Counter(str(c) for c in explained).most_common(1)[0][0])
    suffix = f" (class {args['class']})" if args else ""
    return [(title + suffix, plot_params.spec(found, kind, args)) for kind, title in CHARTS]


def _drawn(svc: Services, job: Job, spec: PlotSpec, wait: float) -> bytes | Job | str:
    """The chart's PNG, its render job while it is drawn, or why it cannot be (a refusal or a failed render)."""
    try:
        return plot_renders.drawn(svc, job.id, spec, wait)
    except (InvalidRequest, PlotFailed) as exc:
        return exc.message


def _charts(svc: Services, job: Job, wait: float) -> list[report_page.Chart] | Job:
    """Every chart, or a render job still drawing one. Every render is asked for first, then waited for, so
    they are drawn side by side."""
    specs = _specs(svc, job)
    found = [_drawn(svc, job, spec, 0) for _, spec in specs]
    found = [_drawn(svc, job, spec, wait) if isinstance(got, Job) else got
             for (_, spec), got in zip(specs, found, strict=True)]
    pending = next((got for got in found if isinstance(got, Job)), None)
    if pending is not None:
        return pending
    return [report_page.Chart(title, png=got) if isinstance(got, bytes) else report_page.Chart(title, note=str(got))
            for (title, _), got in zip(specs, found, strict=True)]


@blueprint.get("/job_status/<job_id>/report")
@documented(Tag.ANALYSIS, {200: None, 202: "ReportPending"}, 401, 404, 409, 429, 503, 507, query="ReportQuery")
def report(job_id: str) -> Response:
    """A finished analysis as one stand-alone HTML page (text/html): its summary, model facts, warnings,
    feature importance and main charts (PNG inlined), needing no network to open; every name is escaped and its
    Content-Security-Policy runs no script. 202 with a render job while its charts are drawn (poll status_url,
    or ?wait=N); ?download=1 sends it as an attachment. 404 unknown job, 409 job_not_finished."""
    download = _check_params(request.args)
    wait = long_poll.wait_of(request.args)
    svc = services()
    job = finished(svc, job_id)
    fields = report_page.ReportFields.model_validate(small_fields(svc, job, report_page.FIELDS))
    charts = _charts(svc, job, wait)
    if isinstance(charts, Job):
        status_url = url_for("reports.report", job_id=job.id) + ("?download=1" if download else "")
        return json_response({"success": True, "job_id": charts.id, "status": charts.get_status(refresh=False),
                              "status_url": status_url}, 202)
    return _html(report_page.page(job.id, fields, charts), job.id, download)


def _html(document: str, job_id: str, download: bool) -> Response:
    response = Response(document, mimetype="text/html")
    response.headers["Content-Security-Policy"] = report_page.POLICY
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = plot_renders.CACHE_CONTROL
    if download:
        safe = "".join(c for c in job_id if c.isascii() and (c.isalnum() or c == "-"))[:100]
        response.headers["Content-Disposition"] = f'attachment; filename="report-{safe}.html"'
    return response
