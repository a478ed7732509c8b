"""The query of GET /job_status/<id>/plots/<kind>, checked against the finished analysis it names: every bad
value is a 400 naming it and what is accepted, before anything is enqueued. The result's features, task and
size come from its stored head; its rows' ids and classes from its rows table (analysis.stored_result.plot_rows),
read only when the plot needs them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from rq.job import Job

from analysis import rows_table, stored_result
from analysis.plot_spec import DEFAULT_MAX_DISPLAY, FORMATS, KINDS, MAX_DISPLAY_LIMIT, PlotSpec
from common import keys
from common.errors import InvalidRequest, NotFound, shown
from store import result_store
from web.answers import small_fields
from web.services import Services

MAX_PARAM_CHARS = 1000  # a feature, class or row id longer than this cannot name anything
PAIRS_SHOWN = 5  # stored pairs a refused interaction plot lists
PARAMS = ("format", "max_display", "row", "feature", "color", "with", "class", "wait")  # docs/plots.md


@dataclass(frozen=True)
class Analysis:
    """What the checks need of a finished analysis (`rows`: ids, explained classes, classes and interaction
    pairs, or None when the plot asked for needs none of them)."""

    job_id: str
    features: list[str]
    task: str
    explained_rows: int
    rows: dict[str, Any] | None
    analysis_type: str = "correlation"


def analysis(svc: Services, job: Job, kind: str) -> Analysis:
    fields = small_fields(svc, job, ["model", "explained_rows", "analysis_type"])
    model = fields["model"]
    rows = None
    if kind in ("waterfall", "interaction") or model["task"] != "regression":
        rows = _rows(svc, job)
    return Analysis(job.id, model["features"], model["task"], fields["explained_rows"], rows, fields["analysis_type"])


def _rows(svc: Services, job: Job) -> dict[str, Any]:
    head = result_store.head(svc.redis, job.id)
    raw: Any = None
    if head is not None:
        stored: Any = svc.redis.get(keys.job_rows_table(job.id))
        if stored is not None:
            return stored_result.plot_rows(head, rows_table.from_ipc(stored))
    else:
        raw = svc.redis.get(keys.job_plot_rows(job.id))  # stored apart by an earlier build
    if raw is None:
        raise NotFound(f"The rows of job {job.id!r} are no longer stored (RESULT_TTL, or the result predates "
                       "plots); submit the analysis again.")
    return dict(orjson.loads(raw))


def kind_of(kind: str) -> str:
    if kind not in KINDS:
        raise InvalidRequest(f"Unknown plot kind {shown(kind)}; kinds are {', '.join(KINDS)}.")
    return kind


def names_of(args: Mapping[str, str]) -> None:
    """Every query parameter is one some plot takes: a typo (`colour`, `max-display`) is a 400 naming it, not
    a plot drawn without it."""
    unknown = sorted(name for name in args if name not in PARAMS)
    if unknown:
        raise InvalidRequest(f"Unknown plot parameters {shown(unknown)}; plots take {', '.join(PARAMS)}.",
                             details={"unknown": [shown(name, quoted=False) for name in unknown[:20]]})


def _text(args: Mapping[str, str], name: str) -> str | None:
    value = args.get(name)
    if value is not None and (not value or len(value) > MAX_PARAM_CHARS):
        raise InvalidRequest(f"{name} must be 1 to {MAX_PARAM_CHARS} characters.")
    return value


def _max_display(args: Mapping[str, str]) -> int:
    raw = args.get("max_display", str(DEFAULT_MAX_DISPLAY))
    if not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= MAX_DISPLAY_LIMIT:
        raise InvalidRequest(f"max_display {shown(raw)} must be a whole number from 1 to {MAX_DISPLAY_LIMIT}.")
    return int(raw)


def _format(args: Mapping[str, str]) -> str:
    fmt = args.get("format", "png")
    if fmt not in FORMATS:
        raise InvalidRequest(f"format {shown(fmt)} is not offered; formats are {', '.join(FORMATS)}.")
    return fmt


def _feature(found: Analysis, name: str, value: str | None) -> str | None:
    if value is not None and value not in found.features:
        raise InvalidRequest(f"{name} {shown(value)} is not a feature of this result; its features are "
                             f"{shown(found.features, quoted=False)}.", details={name: value})
    return value


def _row(found: Analysis, value: str) -> int:
    """The position in `results` of the row whose id is `value` (id columns first), else of index `value`."""
    assert found.rows is not None
    for ids in found.rows["ids"].values():
        matches = [i for i, v in enumerate(ids) if v is not None and str(v) == value]
        if matches:
            return matches[0]
    if value.isascii() and value.isdigit() and int(value) < found.explained_rows:
        return int(value)
    columns = list(found.rows["ids"])
    raise InvalidRequest(f"row {shown(value)} is neither an id value ({', '.join(columns) or 'no id columns'}) nor "
                         f"a row index from 0 to {found.explained_rows - 1}.", details={"row": value})


def _output_class(found: Analysis, value: str | None, row: int | None) -> str | None:
    """The class whose SHAP values are plotted: any of a binary's (the positive class when none is named);
    for a multiclass result, one that some plotted row was explained for (a waterfall: its row's class)."""
    if found.task == "regression":
        if value is not None:
            raise InvalidRequest("class applies to binary and multiclass results only; this one is a regression.")
        return None
    assert found.rows is not None
    explained = found.rows.get("explained_class")
    if found.task != "multiclass" or explained is None:
        classes = [str(c) for c in found.rows.get("classes") or []]
        if value is not None and value not in classes:
            raise InvalidRequest(f"class {shown(value)} is not a class of this result; its classes are {classes}.",
                                 details={"class": value})
        return value
    if row is not None:
        if value is not None and value != explained[row]:
            raise InvalidRequest(f"row {row} was explained for its predicted class {explained[row]!r} only; omit "
                                 f"class or ask for {explained[row]!r}.", details={"class": value})
        return str(explained[row])
    present = sorted({str(c) for c in explained})
    if value is None or value not in present:
        raise InvalidRequest(f"class must name the class whose SHAP values are plotted; rows were explained for "
                             f"{present} (each row for its predicted class only).", details={"class": value})
    return value


def _pair(found: Analysis, feature: str | None, partner: str | None) -> str | None:
    """The interaction plot's second feature, once the analysis is an interactions one and the pair (in either
    order) is among the top pairs its result stores; None for the other kinds."""
    if partner is None:
        return None
    assert feature is not None and found.rows is not None
    if found.analysis_type != "interactions":
        raise InvalidRequest(f"The interaction plot needs an interactions analysis (analysis_type "
                             f"\"interactions\"); job {found.job_id} is a {found.analysis_type} analysis.")
    if feature == partner:
        raise InvalidRequest("feature and with must name two different features (a pair); the main effect of "
                             "one feature is not plotted.", details={"feature": feature, "with": partner})
    stored = found.rows.get("interaction_pairs")
    if stored is None:
        raise NotFound(f"The interaction pairs of job {found.job_id!r} are not stored (the result predates "
                       "interaction plots); submit the analysis again.")
    if {feature, partner} not in [set(pair) for pair in stored]:
        listed = "; ".join(f"{a} & {b}" for a, b in stored[:PAIRS_SHOWN]) or "none"
        more = f" (and {len(stored) - PAIRS_SHOWN} more)" if len(stored) > PAIRS_SHOWN else ""
        raise InvalidRequest(f"The pair {shown(feature)} and {shown(partner)} is not among the top pairs this "
                             f"result stores; its pairs are {shown(listed, quoted=False)}{more}.",
                             details={"feature": feature, "with": partner})
    return partner


def spec(found: Analysis, kind: str, args: Mapping[str, str]) -> PlotSpec:
    """The plot asked for, checked against the analysis."""
    row_text, feature, color = _text(args, "row"), _text(args, "feature"), _text(args, "color")
    partner = _text(args, "with")
    if (row_text is not None) != (kind == "waterfall"):
        raise InvalidRequest("row is required by the waterfall plot, and applies to it only.")
    takes_feature = kind in ("dependence", "interaction")
    if (feature is None) == takes_feature or (color is not None and kind != "dependence"):
        raise InvalidRequest("feature is required by the dependence and interaction plots and applies to them only; "
                             "color applies to the dependence plot only.")
    if (partner is None) == (kind == "interaction"):
        raise InvalidRequest("with (the pair's second feature) is required by the interaction plot, and applies "
                             "to it only.")
    row = _row(found, row_text) if row_text is not None else None
    feature = _feature(found, "feature", feature)
    return PlotSpec(kind=kind, format=_format(args), max_display=_max_display(args), row=row, feature=feature,
                    color=_feature(found, "color", color), output_class=_output_class(found, _text(args, "class"), row),
                    with_feature=_pair(found, feature, _feature(found, "with", partner)))
