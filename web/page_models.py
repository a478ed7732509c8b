"""The OpenAPI models of POST /filters/validate (web/submission_routes.py); kept apart from web/api_models.py."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class FiltersChecked(BaseModel):
    """200: the request would be accepted by POST /analyze; nothing was enqueued."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"success": True, "dataset": "default", "dataset_version": "3f9a…", "target_variable": "Mortgage_Approvals",
         "filters": ["Income > 50000"], "selected_rows": 1629, "explained_rows": 1629, "warnings": []}]})

    success: Literal[True]
    dataset: str
    dataset_version: str
    target_variable: str = Field(description="The target the analysis would explain (the dataset's default when "
                                 "none was named).")
    filters: list[str]
    selected_rows: int = Field(description="Rows the filters select (for a comparison: the rows of the union of "
                               "its cohorts).")
    explained_rows: int = Field(description="Rows the analysis would explain (sample_size, MAX_ROWS and, for "
                                "interactions, INTERACTION_MAX_ROWS applied).")
    warnings: list[str]
