"""The answers and queries of the "look" routes (feature values, plots) as pydantic models, for the OpenAPI
document (web/openapi.py), apart from web/api_models.py so each group of routes keeps its own models."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class FeatureValues(BaseModel):
    """The explained rows' feature values: one list per feature, rows in the order of the result's `results`
    and `shap_values`, features in the order of `shap_values`."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"success": True, "job_id": "5b0c6c1e-...", "features": ["Income", "Region"],
         "values": {"Income": [61000.0, None, 48000.0], "Region": ["north", "south", None]}}]})

    success: Literal[True]
    job_id: str
    features: list[str]
    values: dict[str, list[float | str | None]] = Field(
        description="Per feature, its value in each explained row: numbers as the model read them, categorical "
                    "values as strings; null where the value is missing (or was not a number).")


class PlotQuery(BaseModel):
    """The parameters of a plot; which apply depends on its kind (a parameter that does not apply is a 400)."""

    model_config = ConfigDict(populate_by_name=True)

    format: Literal["png", "svg"] | None = Field(default=None, description="Image format (default png).")
    max_display: int | None = Field(default=None, ge=1, le=100, description="Most features shown (default 10).")
    row: str | None = Field(default=None, max_length=1000, description=(
        "waterfall (required): the row, by the value of an id column, else by its 0-based position in results."))
    feature: str | None = Field(default=None, max_length=1000, description=(
        "dependence (required): the feature. interaction (required): the pair's first feature, on the x axis."))
    color: str | None = Field(default=None, max_length=1000, description=(
        "dependence: the feature whose values colour the points."))
    with_feature: str | None = Field(default=None, alias="with", max_length=1000, description=(
        "interaction (required): the pair's second feature, whose values colour the points. The pair, in either "
        "order, must be one of the top pairs of an interactions analysis (analysis_type \"interactions\")."))
    output_class: str | None = Field(default=None, alias="class", max_length=1000, description=(
        "Binary: the class whose log-odds are plotted (default the positive class). Multiclass (required but "
        "for waterfall): the class; only rows explained for it (predicted as it) are plotted."))
    wait: float | None = Field(default=None, ge=0, le=30, description=(
        "Seconds to wait for the image when it is not drawn yet (else 202 at once)."))


class PlotPending(BaseModel):
    """The plot is being drawn: poll status_url (the same plot URL) until it answers 200 with the image."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"success": True, "job_id": "plot-5b0c6c1e-...-3f2a9c", "status": "queued",
         "status_url": "/job_status/5b0c6c1e-.../plots/beeswarm?format=svg"}]})

    success: Literal[True]
    job_id: str = Field(description="The render job's id.")
    status: Literal["queued", "started", "deferred", "scheduled"]
    status_url: str


class ReportQuery(BaseModel):
    """The parameters of an analysis's HTML report."""

    download: Literal["0", "1"] | None = Field(default=None, description=(
        "1: sent as an attachment (Content-Disposition) named report-<job id>.html; else shown inline."))
    wait: float | None = Field(default=None, ge=0, le=30, description=(
        "Seconds to wait for its charts when they are not drawn yet (else 202 at once)."))


class ReportPending(BaseModel):
    """The report's charts are being drawn: poll status_url (the same report URL) until it answers 200."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"success": True, "job_id": "plot-5b0c6c1e-...-3f2a9c", "status": "queued",
         "status_url": "/job_status/5b0c6c1e-.../report"}]})

    success: Literal[True]
    job_id: str = Field(description="A render job drawing one of its charts.")
    status: Literal["queued", "started", "deferred", "scheduled"]
    status_url: str
