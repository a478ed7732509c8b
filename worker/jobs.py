"""RQ job functions for analyses. The web enqueues them by dotted path (common.jobstates)."""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel
from rq import get_current_job
from rq.job import Job

from analysis import datasets, features, rows_table, stored_result
from analysis.dataset_meta import DatasetMeta
from analysis.plan import AnalysisPlan, PlanLimits, make_plan
from analysis.request import AnalyzeRequest
from analysis.result import Result
from common import keys
from common.job_meta import JobMeta, Progress
from common.jobstates import STAGES
from explain.run import ROW_CHUNK, explain_plan
from explain.training import OnIteration
from store import dataset_store, default_dataset, result_store, reuse
from worker import context, interaction_store, kept_models
from worker.model_store import get_or_train

log = logging.getLogger(__name__)


def peak_rss_mb() -> float | None:
    """This process's peak resident set (a work horse's own: the kernel resets it at fork), Linux only."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


def report_progress(job: Job | None, stage: str) -> None:
    if job is None:
        return
    JobMeta.save(job, progress=Progress(stage=stage, percent=STAGES[stage]))


def training_reporter(job: Job | None) -> OnIteration | None:
    """What reports a training's trees to the job's meta (stage "training", its percent moving from its own
    stage's to the next's); None without a job. CatBoost calls it at most every PROGRESS_INTERVAL_S."""
    if job is None:
        return None
    start, end = STAGES["training"], STAGES["computing_shap"]

    def report(iteration: int, iterations: int) -> None:
        share = min(iteration, iterations) / iterations
        JobMeta.save(job, progress=Progress(stage="training", percent=start + int((end - start) * share),
                                            iteration=iteration, iterations=iterations))

    return report


def compute(plan: AnalysisPlan, job: Job | None = None) -> Result:
    """The whole analysis in this process, as `plan` decided it; returns the result object (numpy arrays
    inside; its `shap_values` and `results` are built when it is encoded: analysis.encoding.encode)."""
    return _compute(plan, job)[0]


def _compute(plan: AnalysisPlan, job: Job | None) -> tuple[Result, DatasetMeta, np.ndarray | None]:
    """`compute`, the dataset meta of the version it explained: the plan's own (docs/decisions/
    0017-pinned-dataset-versions.md), kept readable by the web's pin even when the dataset was replaced; and
    the explained rows' positions in that version when they are its own rows (None: the request's `data`)."""
    ctx = context.current()
    settings = ctx.settings
    timings: dict[str, float] = {}
    started = time.perf_counter()

    report_progress(job, "loading_data")
    meta, frame = _pinned_frame(ctx, plan)
    timings["dataset_load_s"] = time.perf_counter() - started

    report_progress(job, "loading_model")
    step = time.perf_counter()
    trained = get_or_train(ctx.redis, frame, plan.dataset_version, plan.target, plan.features,
                           settings.threads_per_job, lock_ttl=settings.model_lock_ttl, kept=ctx.models, task=plan.task,
                           positive_class=plan.positive_class, on_iteration=training_reporter(job))
    if plan.request.analysis_type == "interactions":  # its tables are checked and stored once per model
        interaction_store.attach(ctx.redis, trained, frame)
    timings["model_s"] = time.perf_counter() - step
    kept_models.leave_for_parent(job, plan.request.dataset, trained.model_id)

    result = explain_plan(
        frame, meta, plan, trained,
        thread_count=settings.threads_per_job,
        batch_size=settings.effective_shap_batch_size,
        float_dtype="float32" if settings.aggressive_memory_management else "float64",
        row_chunk=ROW_CHUNKS[settings.aggressive_memory_management],
        progress=lambda stage: report_progress(job, stage),
    )
    result.timings = timings | result.timings
    return result, meta, _dataset_rows(plan, frame, result)


def _dataset_rows(plan: AnalysisPlan, frame: pd.DataFrame, result: Result) -> np.ndarray | None:
    """The explained rows' positions in the dataset frame (its rows are numbered 0..n-1: a selection keeps
    their labels), when the rows are the dataset's own."""
    x = result.shap_values.frame
    index = frame.index
    if plan.request.data is not None or x is None or not isinstance(index, pd.RangeIndex) or index.start != 0 \
            or index.step != 1:
        return None
    return x.index.to_numpy(dtype=np.int64)


def _pinned_frame(ctx: context.WorkerContext, plan: AnalysisPlan) -> tuple[DatasetMeta, pd.DataFrame]:
    """The plan's dataset version, parsed: the stored dataset when it still is that version, else the copy a
    replace kept for the analyses accepted on it (store.dataset_store.load_version); the built-in dataset is
    loaded first if nobody has yet."""
    name = plan.request.dataset
    if name == default_dataset.NAME and not ctx.redis.exists(keys.dataset_meta(name)):
        default_dataset.ensure_loaded(ctx.redis, ctx.settings)
    return ctx.frames.get_version(ctx.redis, name, plan.dataset_version)


def _legacy_plan(request: dict[str, Any]) -> AnalysisPlan:
    """The plan of a job enqueued with its bare request (by a web of an older build)."""
    ctx = context.current()
    parsed = AnalyzeRequest.model_validate(request)
    meta, frame = default_dataset.frame(ctx.redis, ctx.frames, parsed.dataset, ctx.settings)
    return make_plan(frame, meta, parsed, PlanLimits.of(ctx.settings))[0]


# result rows built at a time when a result is encoded in-process, by AGGRESSIVE_MEMORY_MANAGEMENT
ROW_CHUNKS = {False: ROW_CHUNK, True: 1_000}


def run_analysis(plan: dict[str, Any] | None = None, request: dict[str, Any] | None = None) -> dict[str, Any]:
    """RQ entry point: compute, then store the result once: its rows table and its head
    (docs/decisions/0020-results-stored-once-as-columns.md); the web writes the JSON result from them.

    `plan` is the JSON the web enqueued (AnalysisPlan.model_dump()); it is validated into the typed plan
    here, once, and nothing downstream reads it by key. `request` alone is a job an older web enqueued
    before the plan existed (accepted work is never lost across a deploy): it is planned here, once."""
    job = get_current_job()
    started = time.perf_counter()
    typed = AnalysisPlan.model_validate(plan) if plan is not None else _legacy_plan(request or {})
    result, explained, dataset_rows = _compute(typed, job)
    if job is not None and job.enqueued_at and job.started_at:
        result.timings["queue_wait_s"] = max(0.0, (job.started_at - job.enqueued_at).total_seconds())
    step = time.perf_counter()
    ctx = context.current()
    head, table = stored_form(result, dataset_rows)
    encoded = time.perf_counter()
    if job is None:
        return {"bytes": len(head) + len(table), "timings": result.timings | {"encode_s": encoded - step}}
    result_store.save(ctx.redis, job.id, head, table, ctx.settings.result_ttl)
    # encode_s builds the stored bytes, store_s writes them (at 100,000 rows Redis takes 0.35-0.9 s to take the
    # 78 MB table, its append-only file writing it again: apart, the two figures say which one moved)
    timings = result.timings | {"encode_s": encoded - step, "store_s": time.perf_counter() - encoded}
    dataset_store.remember_result(ctx.redis, result.version_info.dataset_version, job.id,
                                  ctx.settings.result_ttl)
    timings["total_s"] = time.perf_counter() - started
    JobMeta.note(job, timings=timings, peak_rss_mb=peak_rss_mb(), trained_in_this_job=result.model.trained_in_this_job)
    report_progress(job, "done")
    fingerprint = JobMeta.of(job).fingerprint
    if fingerprint and fingerprint == _fingerprint_of(typed, explained):  # stored: identical requests may reuse it
        reuse.remember(ctx.redis, fingerprint, job.id, ctx.settings.result_ttl)
    return {"result_key": keys.job_result_head(job.id), "bytes": len(head) + len(table)}


def stored_form(result: Result, dataset_rows: np.ndarray | None) -> tuple[bytes, memoryview]:
    """The result's head and its rows table's IPC stream (analysis.stored_result, analysis.rows_table): with
    `dataset_rows` the table keeps the rows' positions in the dataset version, not their values. The head is
    made after the table: its timings are those the JSON result showed when the worker encoded it."""
    table = rows_table.to_ipc(rows_table.build(result, dataset_rows))
    head = stored_result.head_bytes(result, stored_result.layout_of(result, dataset_rows is not None))
    return head, table


def _fingerprint_of(plan: AnalysisPlan, explained: DatasetMeta) -> str:
    """The fingerprint of what this job really explained (the version and labels it read), computed as the
    web computes a request's: a result is remembered only under it (docs/decisions/0017)."""
    return reuse.fingerprint(plan.request, reuse.dataset_key(explained),
                             interaction_max_rows=context.current().settings.interaction_max_rows)


class TrainingResult(BaseModel):
    """What a training job stores as its result (GET /job_status of a training job)."""

    success: bool = True
    dataset: str
    dataset_version: str
    target: str
    trained: bool = False
    model: dict[str, Any] | None = None  # id, task, metrics, trained_rows, trees, training_seconds
    warnings: list[str] = []


def run_training(dataset: str, version: str, target: str) -> dict[str, Any]:
    """RQ entry point enqueued by PUT /datasets/<name> with a default_target: train (or find) the model the
    first analysis of that target will use, so it starts warm. Its result says which model, and whether
    this job trained it; a dataset replaced since the upload is not trained (a newer job trains that one)."""
    job = get_current_job()
    ctx = context.current()
    report_progress(job, "loading_data")
    meta, frame = default_dataset.frame(ctx.redis, ctx.frames, dataset, ctx.settings)
    result = TrainingResult(dataset=dataset, dataset_version=version, target=target)
    if meta.version != version:
        result.warnings.append(f"dataset {dataset!r} was replaced (now version {meta.version}); this version was "
                               "not trained.")
    else:
        report_progress(job, "loading_model")
        task = datasets.task_of(meta.column(target))  # as the plan of its first analysis decides
        trained = get_or_train(ctx.redis, frame, version, target, features.choose_features(meta, target).features,
                               ctx.settings.threads_per_job, lock_ttl=ctx.settings.model_lock_ttl, kept=ctx.models,
                               task=task, positive_class=datasets.positive_class(meta, target, task, None),
                               on_iteration=training_reporter(job))
        kept_models.leave_for_parent(job, dataset, trained.model_id)
        model = trained.meta
        result.trained = trained.trained_now
        result.model = {"id": trained.model_id, "task": model.task, "metrics": model.metrics.as_dict(),
                        "trained_rows": model.trained_rows, "trees": model.trees,
                        "training_seconds": model.training_seconds}
    if job is not None:
        ctx.redis.set(keys.job_result(job.id), result.model_dump_json(), ex=ctx.settings.result_ttl)
        report_progress(job, "done")
    return {"result_key": keys.job_result(job.id) if job else None, "trained": result.trained}
