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
