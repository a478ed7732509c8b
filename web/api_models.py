"""The answers of every route as pydantic models: the OpenAPI document (web/openapi.py) is generated from
them and from analysis.request.AnalyzeRequest. The routes build their bodies directly (the poll path sends
stored bytes as they are); tests/service/test_openapi.py and the schema fuzzing check that they conform."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel

from web.api_questions import Comparison, ScenarioOutcome

JOB_STATES = Literal["queued", "started", "deferred", "scheduled", "finished", "failed", "stopped", "canceled"]


def _examples(*examples: dict[str, Any]) -> ConfigDict:
    return ConfigDict(json_schema_extra={"examples": list(examples)})


class ErrorBody(BaseModel):
    """The one error body of every 4xx and 5xx answer. A few 503 answers add fields of their route."""

    model_config = ConfigDict(extra="allow", json_schema_extra={"examples": [
        {"success": False, "error": "Unknown target_variable 'Mortage'; columns are ...", "code": "unknown_column"},
        {"success": False, "error": "Redis is unreachable (ConnectionError); retry in a few seconds.",
         "code": "redis_unavailable"}]})

    success: Literal[False]
    error: str = Field(description="What went wrong and what to change.")
    code: str = Field(description="Machine code, e.g. invalid_request, unauthorized, not_found, "
                      "job_already_ended, upload_too_large, not_acceptable, gone, insufficient_storage, "
                      "redis_unavailable.")
    details: Any = Field(default=None, description="Structured detail, e.g. one entry per invalid field.")


class WhoAmI(BaseModel):
    """The role of the key a request carried (GET /whoami)."""

    model_config = _examples({"role": "analyst", "key_required": True})

    role: Literal["admin", "analyst"] = Field(description="admin: API_KEY (every route); analyst: a key of "
                                              "ANALYST_API_KEYS (no dataset changes, no /admin/*, /metrics or "
                                              "/worker-status). Without API_KEY set, every caller is admin.")
    key_required: bool = Field(description="Whether the service checks X-API-KEY (API_KEY is set).")


class Ping(BaseModel):
    model_config = _examples({"status": "ok", "message": "shap-microservice is running",
                              "timestamp": 1796164450.1, "version": "1.0.0"})

    status: Literal["ok"]
    message: str
    timestamp: float
    version: str


class RedisMemory(BaseModel):
    used_bytes: int
    maxmemory_bytes: int | None = Field(description="Redis's maxmemory; null when unlimited.")
    used_fraction: float | None
    policy: str | None = Field(default=None, description="maxmemory-policy (noeviction: full Redis answers 507).")


class Health(BaseModel):
    model_config = ConfigDict(extra="allow", json_schema_extra={"examples": [
        {"status": "ok", "redis_connected": True, "workers": {"active": 3, "total": 3, "analysis": 2},
         "queue": {"queued": 0, "started": 1, "failed": 0}, "version": "1.0.0", "memory_usage_mb": 81.2}]})

    status: Literal["ok", "degraded", "unavailable"]
    redis_connected: bool
    workers: dict[str, int]
    queue: dict[str, int]
    version: str
    memory_usage_mb: float
    redis_memory: RedisMemory | None = None
    error: str | None = None


class Accepted(BaseModel):
    """202: queued. 200: an identical analysis's stored result answers it (`cached`, `status` finished)."""

    model_config = _examples({"success": True, "job_id": "5b0c6c1e-...", "status": "queued", "cached": False,
                              "status_url": "/job_status/5b0c6c1e-..."})

    success: Literal[True]
    job_id: str
    status: Literal["queued", "finished"]
    cached: bool
    status_url: str = Field(description="Where to poll: GET it, with ?wait=N to long-poll.")


class Progress(BaseModel):
    stage: str = Field(description="queued, loading_data, loading_model, training, computing_shap, "
                       "building_result, done, failed, stopped, canceled, ...")
    percent: int = Field(ge=0, le=100)
    iteration: int | None = Field(default=None, ge=0, description="While `training`: the trees CatBoost has built "
                                  "so far (updated a few times a second at most).")
    iterations: int | None = Field(default=None, ge=1, description="While `training`: the most trees it builds "
                                   "(early stopping may end it sooner).")


class JobError(BaseModel):
    type: str = Field(description="WorkerDied, JobTimeout, or the exception's class (e.g. TrainingError).")
    message: str


class Effect(BaseModel):
    """The shape of a feature's effect in the model, from its SHAP values (docs/summary.md, "Effect shapes")."""

    shape: Literal["increasing", "decreasing", "non_monotonic", "unclear", "categorical"]
    statistic: str | None = Field(default=None, description="Numeric features: monotone_r2, the share of the "
                                  "SHAP values' variance the best monotone fit of the feature explains.")
    value: float | None = Field(default=None, description="The statistic's value (None: too few rows).")
    high_at: Literal["low", "middle", "high", "ends"] | None = Field(
        default=None, description="non_monotonic only: where the feature's contribution is highest.")
    highest: list[str] | None = Field(default=None, description="categorical only: the categories with the "
                                      "highest mean SHAP value.")
    lowest: list[str] | None = Field(default=None, description="categorical only: those with the lowest.")


class FeatureImportance(BaseModel):
    feature: str
    importance: float
    label: str | None = Field(default=None, description="The column's label, when the dataset gives it one.")
    effect: Effect | None = Field(default=None, description="The shape of its effect in the model (docs/summary.md).")


class Model(BaseModel):
    """Which model explained the rows, and how good it is on held-out rows."""

    model_config = ConfigDict(extra="allow")

    id: str
    task: Literal["regression", "binary", "multiclass"]
    metrics: dict[str, float | int | None] = Field(description=(
        "Held-out: r2, rmse, mae; accuracy, log_loss, majority_accuracy, auc for binary."))
    trained_rows: int
    features: list[str]
    trained_in_this_job: bool
    positive_class: str | None = Field(default=None, description=(
        "binary only: the class whose probability `prediction` is; raw_prediction, base_value and the SHAP "
        "values are log-odds of it. The request's positive_class, else the class named true/yes/1/positive, "
        "else the second in sorted order (docs/summary.md)."))
    trees: int | None = Field(default=None, description="How many trees the model has (null: a model stored "
                              "before the count was recorded).")
    params: dict[str, Any] = Field(default_factory=dict, description="The training parameters as CatBoost took "
                                   "them: iterations, depth, learning_rate, border_count, random_seed, ...")


class InteractionPair(BaseModel):
    feature: str
    with_: str = Field(alias="with", description="The other feature of the pair.")
    mean_abs_interaction: float = Field(description="Mean over the rows of |the pair's interaction value|.")
    values: list[float | None] = Field(description="Per explained row, in the order of `results`: the pair's "
                                       "whole interaction value (both halves SHAP splits between the two).")


class MainEffect(BaseModel):
    feature: str
    mean_abs_main_effect: float
    values: list[float | None] = Field(description="Per explained row, in the order of `results`.")


class Interactions(BaseModel):
    """SHAP interaction values (analysis_type interactions). Per row: base_value + the main effects + the
    values of every pair (not only the top ones) = raw_prediction."""

    rows: int
    engine: str = Field(description="leaf_table, or native and why the tables were not used.")
    pairs: list[InteractionPair] = Field(description="The top pairs by mean |interaction|, strongest first.")
    main_effects: list[MainEffect] = Field(description="Every feature, by mean |main effect|, largest first.")


class AnalysisResult(BaseModel):
    """A finished analysis. `results[i]` and `shap_values[feature][i]` describe the same row."""

    model_config = ConfigDict(extra="allow")

    success: bool = True
    analysis_type: str = Field(description="The analysis type that ran (correlation, ranking, comparison, ...).")
    target_variable: str = Field(description="The target explained (the dataset's default_target when none was "
                                 "named).")
    dataset: str
    explained_rows: int = Field(description="How many rows the result explains (`results` has one per row).")
    selected_rows: int = Field(description="How many rows the filters selected, before sample_size and the row "
                               "caps.")
    summary: str
    feature_importance: list[FeatureImportance]
    shap_values: dict[str, list[float | None]]
    base_value: float | dict[str, float] | None
    results: list[dict[str, Any]] = Field(description=(
        "One object per explained row. A row of the request's `data` with values outside the model's training "
        "range (a number beyond the min/max, a category never seen) has `out_of_range`: the names of those "
        "features; other rows have no such key."))
    model: Model
    version_info: dict[str, str]
    warnings: list[str] = Field(description=(
        "What the service did unasked and what the client should know about the data: rows sampled, columns "
        "dropped (constant, near-empty), likely target leakage (with the exclude_columns to pass), a weak "
        "model by its held-out metric, `data` rows outside the training range."))
    timings: dict[str, float | str] = Field(description="Seconds per stage; `shap_engine` names the engine that ran "
                                             "(leaf_table or native).")
    comparison: Comparison | None = Field(default=None, description="analysis_type comparison only.")
    scenarios: list[ScenarioOutcome] | None = Field(default=None, description="analysis_type what_if only.")
    interactions: Interactions | None = Field(default=None, description="analysis_type interactions only.")


class AnalysisResultFields(BaseModel):
    """Some fields of an AnalysisResult (GET /job_status?fields=...), each typed as in AnalysisResult."""

    model_config = ConfigDict(extra="allow")

    success: bool | None = None
    analysis_type: str | None = None
    target_variable: str | None = None
    dataset: str | None = None
    explained_rows: int | None = None
    selected_rows: int | None = None
    summary: str | None = None
    feature_importance: list[FeatureImportance] | None = None
    shap_values: dict[str, list[float | None]] | None = None
    base_value: float | dict[str, float] | None = None
    results: list[dict[str, Any]] | None = None
    model: Model | None = None
    version_info: dict[str, str] | None = None
    warnings: list[str] | None = None
    timings: dict[str, float | str] | None = None
    comparison: Comparison | None = None
    scenarios: list[ScenarioOutcome] | None = None
    interactions: Interactions | None = None


class JobStatus(BaseModel):
    """A job's state. `result` only when finished (all of it, or the fields named by ?fields=), `error` only
    when failed."""

    model_config = _examples(
        {"success": True, "job_id": "5b0c6c1e-...", "status": "started",
         "progress": {"stage": "computing_shap", "percent": 50}, "enqueued_at": "2026-12-01T22:34:10.2+00:00",
         "started_at": "2026-12-01T22:34:10.3+00:00", "ended_at": None},
        {"success": True, "job_id": "5b0c6c1e-...", "status": "failed", "progress": {"stage": "failed", "percent": 100},
         "enqueued_at": "2026-12-01T22:34:10.2+00:00", "started_at": "2026-12-01T22:34:10.3+00:00",
         "ended_at": "2026-12-01T22:34:11.0+00:00",
         "error": {"type": "TrainingError", "message": "The target has fewer than two distinct values."}})

    success: Literal[True]
    job_id: str
    status: JOB_STATES
    progress: Progress
    enqueued_at: str | None
    started_at: str | None
    ended_at: str | None
    result: AnalysisResult | AnalysisResultFields | None = Field(
        default=None, description="The AnalysisResult; with ?fields=, only the fields asked for.")
    error: JobError | None = None


class JobStatusQuery(BaseModel):
    wait: float | None = Field(default=None, ge=0, le=30, description="Seconds to long-poll until the job ends.")
    fields: str | None = Field(default=None, description="Comma-separated result fields to return, e.g. "
                               "summary,feature_importance.", examples=["summary,feature_importance"])


class RowsQuery(BaseModel):
    """The query of GET /job_status/<id>/rows: which columns, which rows, in which order and format."""

    model_config = ConfigDict(extra="forbid")

    format: Literal["arrow", "csv", "parquet", "json"] | None = Field(
        default=None, description="The answer's format when the Accept header cannot be set (a link): arrow (Arrow "
        "IPC stream, the default), csv, parquet or json (columnar: column name to list). Wins over Accept.")
    columns: str | None = Field(default=None, description="Comma-separated columns and prefixes ending in * (e.g. "
                                "row,prediction,shap_*); default: every column but value_*. `row` is always sent.",
                                examples=["row,prediction,shap_*"])
    sort: str | None = Field(default=None, description="A column to sort the rows by (after sampling).")
    order: Literal["asc", "desc"] = Field(default="asc", description="The sort's direction.")
    sample: int | None = Field(default=None, ge=1, description="A uniform random sample of this many rows (all rows "
                               "when there are fewer), the same rows for the same seed; kept in the results' order "
                               "unless sorted.")
    seed: int = Field(default=0, ge=0, description="The sample's seed.")
    offset: int = Field(default=0, ge=0, description="Rows to skip (after sampling and sorting).")
    limit: int | None = Field(default=None, ge=0, description="Most rows to send (after offset).")


class Column(BaseModel):
    model_config = ConfigDict(extra="allow")

    name: str
    type: str
    missing: int


class Metadata(BaseModel):
    success: Literal[True]
    dataset: str
    version: str
    row_count: int
    columns: list[Column]
    id_columns: list[str]
    exclude_columns: list[str]
    default_target: str | None
    labels: dict[str, str] = Field(default_factory=dict, description="Readable names of columns (column name to "
                                   "label); summaries use them.")


class MetadataQuery(BaseModel):
    dataset: str | None = Field(default=None, description="Dataset name (default: default).")


class DatasetListed(BaseModel):
    model_config = ConfigDict(extra="allow")

    name: str
    version: str
    rows: int
    columns: int
    default_target: str | None = None


class Datasets(BaseModel):
    success: Literal[True]
    datasets: list[DatasetListed]


class DatasetQuery(BaseModel):
    id_columns: str | None = Field(default=None, description="Comma-separated id columns (never features).")
    exclude_columns: str | None = Field(default=None, description="Comma-separated columns to leave out.")
    default_target: str | None = Field(default=None, description="Target used when a request names none.")
    labels: str | None = Field(default=None, description="A JSON object of column name to readable label (each "
                               "at most 200 characters, one line); unknown columns are a 400. In a multipart "
                               "upload it may be a form field `labels` instead.",
                               examples=['{"Income": "Household income"}'])
    delimiter: str | None = Field(default=None, description="A CSV's delimiter: ',' ';' or a tab (or comma, "
                                  "semicolon, tab). Without it the service detects it from the first 64 KiB; "
                                  "an upload it cannot decide is a 400 naming this parameter.",
                                  examples=[";"])
    decimal: str | None = Field(default=None, description="A CSV's decimal mark: '.' or ',' (or point, comma). "
                                "Without it a ';' or tab CSV whose numbers are written like 1,5 is read with a "
                                "decimal comma; ',' needs another delimiter than ','.", examples=[","])


class CsvRead(BaseModel):
    """How a CSV upload was read: its delimiter and decimal mark, as sent or detected."""

    delimiter: str = Field(description="',' ';' or a tab.")
    decimal: str = Field(description="'.' or ','.")


class DatasetStored(BaseModel):
    success: Literal[True]
    dataset: str
    version: str
    rows: int
    columns: list[Column]
    labels: dict[str, str] = Field(default_factory=dict, description="The labels stored with the dataset.")
    created: bool
    training_job_id: str | None = Field(default=None, description="The background job training the "
                                        "default_target's model (see GET /job_status), or null without one.")
    csv: CsvRead | None = Field(default=None, description="How a CSV upload was read (null for Parquet).")
    removed: Removed | None = Field(default=None, description="What the replaced version took with it.")


class LabelsStored(BaseModel):
    model_config = _examples({"success": True, "dataset": "areas", "version": "9f2c...",
                              "labels": {"Income": "Household income"}})

    success: Literal[True]
    dataset: str
    version: str
    labels: dict[str, str]


class Labels(RootModel[dict[str, str]]):
    """Column name to readable label (each at most 200 characters, one line); {} removes every label."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"Median_Household_Income": "Median household income"}]})


class Removed(BaseModel):
    models: int
    results: int


class DatasetDeleted(BaseModel):
    success: Literal[True]
    dataset: str
    deleted: Literal[True]
    removed: Removed


class WorkerInfo(BaseModel):
    model_config = ConfigDict(extra="allow")

    name: str
    queues: list[str]
    current_job: str | None


class WorkerStatus(BaseModel):
    status: Literal["ok", "warning"]
    active_workers: int
    total_workers: int
    workers: list[WorkerInfo]


class RedisPing(BaseModel):
    success: bool
    ping: bool
    response_time_ms: float


class QueueStatus(BaseModel):
    model_config = ConfigDict(extra="allow")

    queued_jobs: int
    in_progress_jobs: int
    completed_jobs: int
    failed_jobs: int
    scheduled_jobs: int
    redis_connected: bool
    redis_memory: RedisMemory | None = None


class CleanupQuery(BaseModel):
    dry_run: str | None = Field(default=None, description="1/true/yes: report what would be done, change nothing.")


class CleanupReport(BaseModel):
    model_config = ConfigDict(extra="allow")

    success: Literal[True]
    ran: bool
    dry_run: bool
    requeued: int
    failed: int
    stale_workers_removed: int
    details: dict[str, Any]
    seconds: float
