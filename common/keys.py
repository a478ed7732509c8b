"""Names of every Redis key the service owns (RQ's own keys are RQ's business)."""

PREFIX = "shap:"


def dataset_meta(name: str) -> str:
    return f"{PREFIX}dataset:{name}:meta"


def dataset_data(name: str) -> str:
    return f"{PREFIX}dataset:{name}:data"


DATASET_INDEX = f"{PREFIX}datasets"


def dataset_jobs(name: str) -> str:
    """Sorted set of the ids of the jobs enqueued to read dataset `name`, scored by when (dataset_store)."""
    return f"{PREFIX}dataset:{name}:jobs"


def dataset_lock(name: str) -> str:
    return f"{PREFIX}lock:dataset:{name}"


def model_blob(model_id: str) -> str:
    return f"{PREFIX}model:{model_id}:cbm"


def model_meta(model_id: str) -> str:
    return f"{PREFIX}model:{model_id}:meta"


def model_shap_tables(model_id: str) -> str:
    """The model's leaf tables (explain.treeshap, an .npz blob), or `native:<why>` when it has none."""
    return f"{PREFIX}model:{model_id}:shap_tables"


def model_interaction_tables(model_id: str) -> str:
    """The model's interaction tables (explain.interaction_tables, an .npz blob), or `native:<why>`; made by
    the first interactions analysis of the model (worker.interaction_store)."""
    return f"{PREFIX}model:{model_id}:interaction_tables"


def model_lock(model_id: str) -> str:
    return f"{PREFIX}lock:model:{model_id}"


MODEL_TRAININGS = f"{PREFIX}stats:model_trainings"


def version_models(dataset_version: str) -> str:
    """Set of the ids of the models trained on one dataset version (removed with that version)."""
    return f"{PREFIX}version:{dataset_version}:models"


def version_retired(dataset_version: str) -> str:
    """Set when a dataset version is replaced or deleted (store.dataset_store.forget_version): a model
    that finishes training on it afterwards is not stored (worker.model_store), so none is left behind."""
    return f"{PREFIX}version:{dataset_version}:retired"


def version_pins(dataset_version: str) -> str:
    """Set of the ids of the analyses accepted on one dataset version that have not ended yet: while it is
    not empty, a replaced version's rows and meta stay readable under version_data/version_meta
    (store.dataset_store, docs/decisions/0017-pinned-dataset-versions.md)."""
    return f"{PREFIX}version:{dataset_version}:pins"


def version_data(dataset_version: str) -> str:
    """A replaced dataset version's stored rows, kept while analyses accepted on it have not ended."""
    return f"{PREFIX}version:{dataset_version}:data"


def version_meta(dataset_version: str) -> str:
    """A replaced dataset version's meta (as it was when it was replaced), kept with version_data."""
    return f"{PREFIX}version:{dataset_version}:meta"


def version_results(dataset_version: str) -> str:
    """Set of the ids of the jobs whose results were computed on one dataset version."""
    return f"{PREFIX}version:{dataset_version}:results"


def job_result(job_id: str) -> str:
    """A training job's result; an analysis's whole JSON result as builds before the stored-once result wrote
    it (served until it expires: docs/decisions/0020-results-stored-once-as-columns.md)."""
    return f"{PREFIX}result:{job_id}"


def job_result_head(job_id: str) -> str:
    """A finished analysis's head: every part of its result but the per-row ones, and how its rows are read
    from the rows table (analysis.stored_result); written with the table, same TTL, removed with it."""
    return f"{PREFIX}result:{job_id}:head"


def job_feature_values(job_id: str) -> str:
    """The explained rows' feature values as a build before the rows table stored them (read until they
    expire; nothing writes them any more)."""
    return f"{PREFIX}result:{job_id}:feature_values"


def job_plot_rows(job_id: str) -> str:
    """What the plots needed of the rows, as builds before the result head stored them (read until they
    expire; nothing writes them any more)."""
    return f"{PREFIX}result:{job_id}:rows"


def job_rows_table(job_id: str) -> str:
    """The explained rows of a finished analysis as one Arrow IPC stream (analysis.rows_table), what
    GET /job_status/<id>/rows cuts and serves; written with the result, same TTL, removed with it."""
    return f"{PREFIX}result:{job_id}:table"


def job_plots(job_id: str) -> str:
    """Hash of a finished analysis's rendered plots: field = the plot's parameters, value = image bytes."""
    return f"{PREFIX}plots:{job_id}"


def job_answer_gzip(job_id: str) -> str:
    """The gzip-compressed /job_status answer builds before the stored-once result kept (removed with the
    result until they expire; nothing writes them any more)."""
    return f"{PREFIX}answer:{job_id}:gzip"


CLEANUP_LOCK = f"{PREFIX}lock:cleanup"
CLEANUP_LAST_RUN = f"{PREFIX}cleanup:last_run"
CLEANUP_TOTALS = f"{PREFIX}stats:cleanup"  # hash: action -> count since the Redis data began (GET /metrics)


def reusable_result(fingerprint: str) -> str:
    """The id of the finished job whose result answers every analysis request with this fingerprint."""
    return f"{PREFIX}reuse:{fingerprint}"


def plot_renders(analysis_id: str) -> str:
    """Sorted set: the render jobs (worker.plot_job) queued or running for one analysis, by enqueue time."""
    return f"{PREFIX}plots:pending:{analysis_id}"


PLOT_RENDERS = f"{PREFIX}plots:pending"  # sorted set: every render job queued or running, by enqueue time
