"""The stand-alone HTML report of a finished analysis (GET /job_status/<id>/report, web.report_routes): its
summary, model facts, warnings, feature importance and main charts in one file that opens anywhere, offline.

Nothing in it reaches the network: no script, no external style, font or image; the charts are the PNGs the
plot workers draw (web.plot_renders), inlined as data: URIs, so the web draws nothing itself. Every text that
came from a client (dataset, column and class names, labels, the summary and warnings that quote them) is
HTML-escaped where it is written, and the response's Content-Security-Policy forbids scripts besides."""

from __future__ import annotations

import base64
import datetime as dt
from dataclasses import dataclass
from html import escape

from pydantic import BaseModel, ConfigDict

from common import __version__

# A page that runs nothing and loads nothing: inline styles and data: images only.
POLICY = ("default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; "
          "frame-ancestors 'none'")
IMPORTANCE_ROWS = 20  # features the importance table lists
STYLE = """body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}
h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #ddd}
table{border-collapse:collapse}td,th{padding:.2rem .8rem .2rem 0;text-align:left;vertical-align:top}
td.n{text-align:right;font-variant-numeric:tabular-nums}.hint{color:#666}img{max-width:100%;height:auto}
ul.warnings li{color:#8a3b00}code{overflow-wrap:anywhere}"""


class _Importance(BaseModel):
    model_config = ConfigDict(extra="ignore")
    feature: str
    importance: float
    label: str | None = None


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore")
    task: str
    metrics: dict[str, float | None]
    trained_rows: int
    features: list[str]
    id: str
    trained_in_this_job: bool | None = None
    positive_class: str | None = None
    trees: int | None = None


class ReportFields(BaseModel):
    """The result fields a report shows (read from the stored result's head by web.answers.small_fields)."""

    model_config = ConfigDict(extra="ignore")
    analysis_type: str
    target_variable: str
    dataset: str
    explained_rows: int
    selected_rows: int
    summary: str
    feature_importance: list[_Importance]
    model: _Model
    warnings: list[str]
    version_info: dict[str, str]


FIELDS = list(ReportFields.model_fields)


@dataclass(frozen=True)
class Chart:
    """One chart of the report: its title and PNG, or why it could not be drawn."""

    title: str
    png: bytes | None = None
    note: str | None = None


def _e(value: object) -> str:
    return escape(str(value), quote=True)


def _number(value: float | int | None) -> str:
    return "—" if value is None else f"{value:,}" if isinstance(value, int) else f"{value:.4g}"


def _paragraphs(text: str) -> str:
    return "".join(f"<p>{_e(part)}</p>" for part in text.split("\n\n") if part.strip())


def _facts(fields: ReportFields) -> str:
    model = fields.model
    rows = [("Dataset", fields.dataset), ("Dataset version", fields.version_info.get("dataset_version", "")),
            ("Target", fields.target_variable), ("Analysis", fields.analysis_type),
            ("Rows explained", _number(fields.explained_rows)), ("Rows selected", _number(fields.selected_rows)),
            ("Task", model.task), ("Trained on", f"{_number(model.trained_rows)} rows"),
            ("Features", _number(len(model.features))), ("Trees", _number(model.trees)), ("Model id", model.id)]
    if model.positive_class is not None:
        rows.append(("Positive class (SHAP values are its log-odds)", model.positive_class))
    rows += [("Held-out rows" if name == "holdout_rows" else f"Held-out {name}", _number(value))
             for name, value in model.metrics.items()]
    return "<table>" + "".join(f"<tr><th scope=row>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in rows) + "</table>"


def _warnings(fields: ReportFields) -> str:
    if not fields.warnings:
        return "<p class=hint>None.</p>"
    return "<ul class=warnings>" + "".join(f"<li>{_e(w)}</li>" for w in fields.warnings) + "</ul>"


def _importance(fields: ReportFields) -> str:
    rows = "".join(f"<tr><td>{_e(f.label or f.feature)}</td><td><code>{_e(f.feature)}</code></td>"
                   f"<td class=n>{_e(_number(f.importance))}</td></tr>"
                   for f in fields.feature_importance[:IMPORTANCE_ROWS])
    more = len(fields.feature_importance) - IMPORTANCE_ROWS
    tail = f"<p class=hint>and {more} more features.</p>" if more > 0 else ""
    return ("<table><thead><tr><th>Feature</th><th>Column</th><th>mean |SHAP value|</th></tr></thead>"
            f"<tbody>{rows}</tbody></table>{tail}")


def _chart(chart: Chart) -> str:
    if chart.png is None:
        return f"<p class=hint>{_e(chart.title)}: not drawn ({_e(chart.note or 'no image')}).</p>"
    data = base64.b64encode(chart.png).decode("ascii")
    return (f"<figure><img alt=\"{_e(chart.title)}\" src=\"data:image/png;base64,{data}\">"
            f"<figcaption>{_e(chart.title)}</figcaption></figure>")


def page(job_id: str, fields: ReportFields, charts: list[Chart]) -> str:
    """The report as one HTML document (module docstring)."""
    title = f"SHAP report: {fields.target_variable} in {fields.dataset}"
    made = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return "".join([
        "<!doctype html><html lang=en><head><meta charset=utf-8>",
        "<meta name=viewport content=\"width=device-width, initial-scale=1\">",
        f"<meta http-equiv=Content-Security-Policy content=\"{_e(POLICY)}\">",
        f"<title>{_e(title)}</title><style>{STYLE}</style></head><body>",
        f"<h1>{_e(title)}</h1><p class=hint>Analysis <code>{_e(job_id)}</code> · report made {_e(made)} by "
        f"shap-microservice {_e(__version__)}</p>",
        "<h2>Summary</h2>", _paragraphs(fields.summary),
        "<h2>Model</h2>", _facts(fields),
        "<h2>Warnings</h2>", _warnings(fields),
        "<h2>Charts</h2>", *(_chart(c) for c in charts),
        "<h2>Feature importance</h2>", _importance(fields),
        "</body></html>",
    ])
