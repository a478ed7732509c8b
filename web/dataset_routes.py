"""The datasets: GET /metadata, GET /datasets, PUT /datasets/<name>, PUT /datasets/<name>/labels and
DELETE /datasets/<name>."""

from __future__ import annotations

import time

from flask import Blueprint, Response, request
from pydantic import BaseModel, ConfigDict
from rq import Retry
from rq.job import Job

from analysis import labels
from analysis.dataset_meta import DatasetMeta
from analysis.request import AnalyzeRequest
from common import jobstates, keys, memory
from common.errors import InvalidDataset, ServiceError, shown
from common.job_meta import JobMeta, Progress
from common.rqtypes import JSONJob
from store import dataset_store
from web import storage_guard
from web.api_docs import Tag, documented
from web.request_checks import json_bytes
from web.responses import json_response
from web.services import Services, services

blueprint = Blueprint("datasets", __name__)
IN_USE_SHOWN = 20  # job ids a 409 lists


class DatasetInUse(ServiceError):
    status = 409
    code = "dataset_in_use"


class _QueuedDataset(BaseModel):
    """The one field of a queued analysis's request that DELETE needs, read as AnalyzeRequest reads it: the
    whole request (up to 100,000 `data` rows) is not validated under the dataset lock."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True, strict=True)
    dataset: str = AnalyzeRequest.model_fields["dataset"].default


def _listed(meta: DatasetMeta) -> dict:
    return meta.model_dump(include={"name", "version", "rows", "default_target", "id_columns", "exclude_columns",
                                    "created_at", "size_bytes"}) | {"columns": len(meta.columns)}


@blueprint.get("/metadata")
@documented(Tag.DATASETS, {200: "Metadata"}, 401, 503, query="MetadataQuery")
def metadata() -> Response:
    """A dataset's columns with their types and summary statistics, its row count and version."""
    from analysis import datasets
    from store import default_dataset

    svc = services()
    name = datasets.check_name(request.args.get("dataset", default_dataset.NAME))
    meta, _ = default_dataset.frame(svc.redis, svc.frames, name, svc.settings)
    return json_response({"success": True, "dataset": name, "version": meta.version, "row_count": meta.rows,
                          "columns": meta.columns_json(), "id_columns": meta.id_columns,
                          "exclude_columns": meta.exclude_columns, "default_target": meta.default_target,
                          "labels": labels.of(meta)})


@blueprint.get("/datasets")
@documented(Tag.DATASETS, {200: "Datasets"}, 401, 503)
def list_datasets() -> Response:
    """Every dataset with its version and size."""
    from store import default_dataset  # pandas, on first use: see web.create_app

    svc = services()
    found = dataset_store.list_all(svc.redis)
    if not any(meta.name == default_dataset.NAME for meta in found):
        default_dataset.ensure_loaded(svc.redis, svc.settings)
        found = dataset_store.list_all(svc.redis)
    return json_response({"success": True, "datasets": [_listed(meta) for meta in found]})


PARQUET_TYPES = ("application/vnd.apache.parquet", "application/x-parquet")


def _upload() -> tuple[bytes, str]:
    """The uploaded bytes and their form: "parquet" for a body sent as application/vnd.apache.parquet, a
    multipart file named *.parquet, or an application/octet-stream body that starts and ends with Parquet's
    magic bytes; else "csv"."""
    from analysis import columnar  # pyarrow, on first use

    if request.mimetype == "multipart/form-data":
        upload = request.files.get("file") or next(iter(request.files.values()), None)
        if upload is None:
            raise InvalidDataset("The multipart upload has no file; send the CSV or Parquet file in a field "
                                 "named 'file'.")
        data = upload.read()
        return data, "parquet" if (upload.filename or "").lower().endswith(".parquet") else "csv"
    if request.mimetype in PARQUET_TYPES:
        return request.get_data(cache=False), "parquet"
    if request.mimetype not in ("text/csv", "application/csv", "text/plain", "application/octet-stream", ""):
        raise InvalidDataset(f"Content-Type {shown(request.mimetype)} is not supported; send text/csv, "
                             "application/vnd.apache.parquet or a multipart upload.")
    data = request.get_data(cache=False)
    return data, "parquet" if request.mimetype == "application/octet-stream" and columnar.is_parquet(data) else "csv"


def _names(param: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in request.args.get(param, "").split(",") if part.strip())


@blueprint.put("/datasets/<name>")
@documented(Tag.DATASETS, {200: "DatasetStored", 201: "DatasetStored"}, 401, 413, 503, 507,
            query="DatasetQuery", admin=True)
def put_dataset(name: str) -> Response:
    """Create (201) or replace (200) a dataset from a CSV body (text/csv), a Parquet body
    (application/vnd.apache.parquet, or application/octet-stream with Parquet's magic) or a multipart field
    `file` (Parquet when named *.parquet); with default_target, `training_job_id` names the job warming it;
    `labels` (query, or a multipart field) gives columns readable names. A CSV's delimiter (comma, semicolon,
    tab) and decimal comma are detected from its first 64 KiB; `delimiter` and `decimal` name them instead.
    413 payload_too_large beyond MAX_UPLOAD_MB; 413 dataset_too_large when the table it decodes to would pass
    MAX_DATASET_MB."""
    from analysis import columnar, csv_format, datasets

    svc = services()
    datasets.check_name(name)
    requested = csv_format.Requested.parse(request.args.get("delimiter"), request.args.get("decimal"))
    storage_guard.check_room(svc, "a dataset upload")
    options = datasets.DatasetOptions(id_columns=_names("id_columns"), exclude_columns=_names("exclude_columns"),
                                      default_target=request.args.get("default_target") or None)
    data, form = _upload()
    if form != "csv" and requested.given:
        raise InvalidDataset("delimiter and decimal apply to CSV uploads; a Parquet file types its own columns: "
                             "send it without them.")
    fmt = csv_format.detect(data, requested) if form == "csv" else csv_format.COMMAS
    meta, frame = datasets.describe(data, options, name=name, max_rows=svc.settings.max_rows,
                                    max_bytes=svc.settings.max_dataset_bytes, form=form, fmt=fmt)
    stored = columnar.to_arrow(frame)  # jobs read these columns, never the upload's text again
    del data, frame
    memory.release()  # the decode's hundreds of MB (a 70 MB CSV), kept by the allocators otherwise
    meta = meta.model_copy(update={"labels": _uploaded_labels(meta.names), "stored_bytes": len(stored),
                                   "origin": dataset_store.ORIGIN_UPLOAD})
    with svc.redis.lock(keys.dataset_lock(name), timeout=dataset_store.LOCK_TIMEOUT, blocking_timeout=30):
        created = not svc.redis.exists(keys.dataset_meta(name))
        removed = dataset_store.store(svc.redis, meta, stored)
    del stored
    memory.release()  # the stored form (48 MB for 100,000 x 134) and what sending it took, once it is in Redis
    training = _enqueue_training(svc, meta) if meta.default_target else None
    return json_response({"success": True, "dataset": name, "version": meta.version, "rows": meta.rows,
                          "columns": meta.columns_json(), "labels": meta.labels, "created": bool(created),
                          "training_job_id": training, "csv": fmt.describe() if form == "csv" else None,
                          "removed": {"models": removed.models, "results": removed.results}},
                         201 if created else 200)


def _uploaded_labels(columns: list[str]) -> dict[str, str]:
    """The upload's labels: query `labels`, or a multipart field `labels` (a JSON object of column name to
    label). An upload without them stores none: like id_columns, they belong to the upload."""
    raw = request.args.get("labels")
    if raw is None and request.mimetype == "multipart/form-data":
        raw = request.form.get("labels")
    given = labels.parse(raw)
    return labels.checked(given, columns) if given is not None else {}


@blueprint.put("/datasets/<name>/labels")
@documented(Tag.DATASETS, {200: "LabelsStored"}, 401, 413, 415, 503, 507, body="Labels", admin=True)
def put_labels(name: str) -> Response:
    """Replace a stored dataset's labels (column name to readable name) without re-uploading it; its version,
    models and results stay. 400 names unknown columns."""
    from analysis import datasets
    from store import default_dataset

    svc = services()
    datasets.check_name(name)
    # the body as read, so a chunked body (no Content-Length) meets the same size check (labels.parse)
    given = labels.parse(json_bytes())
    if given is None:
        raise labels.InvalidLabels("The labels body is empty; send a JSON object of column name to label ({} "
                                   "removes them all).")
    default_dataset.frame(svc.redis, svc.frames, name, svc.settings)  # 400 unknown_dataset; loads the built-in
    with svc.redis.lock(keys.dataset_lock(name), timeout=dataset_store.LOCK_TIMEOUT, blocking_timeout=30):
        meta = dataset_store.load_meta(svc.redis, name)
        chosen = labels.checked(given, meta.names)
        dataset_store.set_labels(svc.redis, name, chosen)
    return json_response({"success": True, "dataset": name, "version": meta.version, "labels": chosen})


def _enqueue_training(svc: Services, meta: DatasetMeta) -> str:
    """Train the default target's model in the background (a normal RQ job, seen in /job_status), so the
    first analysis of it is warm."""
    settings = svc.settings
    with svc.redis.pipeline(transaction=True) as pipe:  # enqueued and noted as reading its dataset at once
        job = svc.queue.enqueue(
            jobstates.TRAINING_FUNC,
            kwargs={"dataset": meta.name, "version": meta.version, "target": meta.default_target},
            job_timeout=settings.job_timeout,
            result_ttl=settings.result_ttl,
            failure_ttl=settings.failure_ttl,
            retry=Retry(max=settings.job_retries) if settings.job_retries else None,
            meta=JobMeta(progress=Progress()).to_meta(),
            description=f"training of {meta.default_target} on {meta.name}",
            pipeline=pipe,
        )
        dataset_store.register_job(pipe, meta.name, job.id, time.time())
        pipe.execute()
    return job.id


def _jobs_using(name: str) -> list[str]:
    """Ids of the jobs on dataset `name` that have not ended: those noted when they were enqueued
    (dataset_store.register_job: a job a worker has popped but not yet started is in no RQ queue or
    registry), and, for jobs enqueued before that note existed, RQ's queue, the intermediate queue and the
    started and scheduled (retry) registries."""
    svc = services()
    queue = svc.queue
    ids = [*dataset_store.registered_jobs(svc.redis, name), *queue.get_job_ids(),
           *queue.intermediate_queue.get_job_ids(), *queue.started_job_registry.get_job_ids(),
           *queue.scheduled_job_registry.get_job_ids()]
    jobs = JSONJob.fetch_many(list(dict.fromkeys(ids)), connection=svc.redis)
    return [job.id for job in jobs if job is not None and job.get_status(refresh=False) not in jobstates.TERMINAL
            and _dataset_of(job) == name]


def _dataset_of(job: Job) -> str | None:
    """The dataset an analysis (its request's `dataset`, typed as the job reads it) or a training job
    (kwargs `dataset`) reads."""
    if job.func_name == jobstates.ANALYSIS_FUNC:  # its plan's request (or an older web's bare request)
        plan = job.kwargs.get("plan")
        return _QueuedDataset.model_validate(plan["request"] if plan else job.kwargs.get("request", {})).dataset
    return job.kwargs.get("dataset")


@blueprint.delete("/datasets/<name>")
@documented(Tag.DATASETS, {200: "DatasetDeleted"}, 401, 409, 503, admin=True)
def delete_dataset(name: str) -> Response:
    """Remove a dataset with its models and stored results; 409 dataset_in_use while a queued or running job
    reads it."""
    from analysis import datasets

    svc = services()
    datasets.check_name(name)
    with svc.redis.lock(keys.dataset_lock(name), timeout=dataset_store.LOCK_TIMEOUT, blocking_timeout=30):
        using = _jobs_using(name)
        if using:
            raise DatasetInUse(f"Dataset {shown(name)} is used by {len(using)} queued or running jobs; wait for "
                               "them to end (or cancel them: DELETE /job_status/<id>), then delete it.",
                               details={"jobs": using[:IN_USE_SHOWN]})
        removed = dataset_store.delete(svc.redis, name)
    return json_response({"success": True, "dataset": name, "deleted": True,
                          "removed": {"models": removed.models, "results": removed.results}})
