"""The analysis request: one typed object, validated by pydantic at the web (POST /analyze) and once
more at the job's entry (worker.jobs); everything downstream reads its attributes."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, WithJsonSchema, field_validator, model_validator

from analysis.request_parts import MAX_SCENARIOS, Cohorts, Scenario, check_question
from common.errors import shown


class AnalyzeRequest(BaseModel):
    """POST /analyze. Unknown fields are ignored so clients of the earlier service keep working.

    The web enqueues `model_dump()` of it (with `target_variable` resolved), and the job validates that
    dict back into this model, so the defaults below are the only ones."""

    # strict: a value of another JSON type is refused, never coerced (0 is not false, "5" is not 5), so the
    # request the service accepts is the one its OpenAPI document describes
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True, strict=True, json_schema_extra={"examples": [
        {"target_variable": "Mortgage_Approvals", "demographic_filters": ["Income > 50000", "Province == ON"]},
        {"analysis_type": "ranking", "dataset": "areas", "sample_size": 500,
         "callback_url": "https://hooks.example.com/shap"}]})

    analysis_type: Literal["correlation", "ranking", "comparison", "what_if", "interactions"] = Field(
        default="correlation", description="ranking: result rows by prediction, best first; correlation: as selected; "
        "comparison: cohorts compared (needs cohorts); what_if: rows predicted again under scenarios (needs "
        "scenarios); interactions: as selected, at most INTERACTION_MAX_ROWS rows, plus SHAP interaction values "
        "(`interactions`).")
    target_variable: str | None = Field(default=None, validation_alias=AliasChoices("target_variable", "target"),
                                        description="Column to explain (alias target); default: the dataset's.")
    dataset: str = Field(default="default", description="Name of an uploaded dataset, or the built-in default.")
    # the documented input is what _one_filter_is_a_list accepts: a list, one string, or null (no filter)
    demographic_filters: Annotated[list[str], WithJsonSchema({"anyOf": [
        {"type": "array", "items": {"type": "string"}}, {"type": "string"}, {"type": "null"}]})] = Field(
        default_factory=list, description=(
            "Row filters, all applied: 'Income > 50000', 'Province == ON', 'high Income', 'low Age'; operators "
            "> >= < <= == !=. One string is one filter."))
    # not strict: 5.0 is a JSON Schema integer, and a huge float gets web.error_handler' message naming MAX_ROWS
    sample_size: int | None = Field(default=None, ge=1, strict=False, description=(
        "Most rows explained (default MAX_ROWS); more selected rows are sampled, seeded."))
    data: list[dict[str, Any]] | None = Field(default=None, min_length=1, description=(
        "Rows to explain instead of the dataset's (column name to string, number, boolean or null)."))
    # bounded like a dataset's header (analysis.datasets: MAX_COLUMNS names of MAX_COLUMN_NAME_CHARS); names
    # are checked against the dataset at the web (analysis.features), and kept sorted and distinct so that
    # the same exclusion in another order is the same analysis (store.reuse) and the same model
    exclude_columns: list[Annotated[str, Field(min_length=1, max_length=500)]] = Field(
        default_factory=list, max_length=2000, description=(
            "Columns left out of this analysis's features, on top of the dataset's own exclude_columns (e.g. "
            "a column the warnings name as a likely target leak)."))
    # analysis.datasets.positive_class: checked against the target's two classes at the web (a 400 naming them)
    positive_class: str | None = Field(default=None, min_length=1, max_length=500, description=(
        "A two-class target only: the class whose probability the model predicts and whose log-odds the SHAP "
        "values are. Default: the class named true/yes/1/positive (case-insensitive), else the second in "
        "sorted order."))
    reuse: bool = Field(default=True, description=(  # store.reuse
        "false: compute afresh even when an identical analysis's result is stored."))
    # POSTed {job_id, status, status_url} when the job ends; the host is checked at the web (common.callbacks)
    callback_url: str | None = Field(default=None, min_length=1, max_length=2048, description=(
        "http(s) URL POSTed {job_id, status, status_url}, signed (X-Signature), when the job finishes or fails; "
        "its host must be one CALLBACK_ALLOWED_HOSTS names."))

    cohorts: Cohorts | None = None  # analysis.request_parts, docs/analyses.md, "Cohort comparison"
    scenarios: list[Scenario] | None = Field(default=None, min_length=1, max_length=MAX_SCENARIOS, description=(
        f"analysis_type what_if: 1-{MAX_SCENARIOS} scenarios applied to the selected (or data) rows."))

    @model_validator(mode="before")
    @classmethod
    def _one_target(cls, body: Any) -> Any:
        """`target` is an alias of `target_variable`: both, naming different columns, would leave one unread."""
        if isinstance(body, dict) and {"target", "target_variable"} <= body.keys() \
                and body["target"] != body["target_variable"]:
            raise ValueError(f"target {shown(body['target'])} and target_variable {shown(body['target_variable'])} "
                             "differ; target is another name of target_variable: give one of them")
        return body

    @model_validator(mode="after")
    def _question_has_its_field(self) -> AnalyzeRequest:
        check_question(self.analysis_type, self.cohorts, self.scenarios)
        return self

    @field_validator("demographic_filters", mode="before")
    @classmethod
    def _one_filter_is_a_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [value]
        return [] if value is None else value

    @field_validator("sample_size", mode="before")
    @classmethod
    def _sample_size_is_no_boolean(cls, value: Any) -> Any:
        if isinstance(value, bool):  # pydantic's lax int would read true as 1
            raise ValueError("sample_size must be a whole number of rows (1 or more), not true/false")
        if isinstance(value, str):  # lax for numbers only (below): "5" is not a number
            raise ValueError("sample_size must be a whole number of rows (1 or more), not a string")
        return value

    @field_validator("data")
    @classmethod
    def _rows_hold_scalars(cls, rows: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
        for index, row in enumerate(rows or []):
            for key, value in row.items():
                if not isinstance(value, str | int | float | bool | None):
                    raise ValueError(f"data[{index}][{shown(key)}] must be a string, number, boolean or null")
        return rows

    @field_validator("exclude_columns")
    @classmethod
    def _exclusions_sorted(cls, names: list[str]) -> list[str]:
        return sorted(set(names))

    @field_validator("target_variable", mode="before")
    @classmethod
    def _blank_target_is_default(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value
