"""Datasets in Redis: each one's metadata and CSV bytes under its name, replaced atomically, read together."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import redis
import redis.client
from pydantic import BaseModel, ConfigDict
from rq.job import Job

from analysis.dataset_meta import DatasetMeta
from common import jobstates, keys
from common.errors import ServiceError, UnknownDataset, shown
from common.rqtypes import JSONJob
from store import ranged

LOCK_TIMEOUT = 120  # seconds a (re)load of a dataset may hold its lock
ORIGIN_UPLOAD = "upload"  # meta.origin of a dataset a client stored with PUT /datasets/<name>
JOBS_KEPT_S = 7 * 86_400  # a job enqueued longer ago than this no longer marks its dataset as in use
RETIRED_S = JOBS_KEPT_S  # a retired version's mark outlives any training that started on it


class VersionGone(ServiceError):
    """The dataset version an analysis was accepted on is no longer stored (its pin was lost: the job
    outlived JOBS_KEPT_S, or Redis lost the key): the analysis fails rather than explain other data."""

    status = 409
    code = "dataset_version_gone"


@dataclass(frozen=True)
class Forgotten:
    """What removing a dataset version took with it."""

    models: int = 0
    results: int = 0


def store(client: redis.Redis, meta: DatasetMeta, data: bytes) -> Forgotten:
    """Replace a dataset atomically: readers see the old or the new version, never a mix. The replaced
    version's results are removed with it, and its models too unless analyses accepted on it have not ended
    (its pins): then its rows and meta move to its version keys, readable until the last of those analyses
    ends (`release` removes them and its models; docs/decisions/0017-pinned-dataset-versions.md). Call it
    under the dataset's lock (keys.dataset_lock)."""
    while True:
        try:
            previous, kept = _replace(client, meta, data)
            break
        except redis.WatchError:  # an analysis was accepted on the previous version meanwhile: look again
            continue
    if previous is None or previous == meta.version or _version_in_use(client, previous):
        return Forgotten()
    return forget_version(client, previous, models=not kept)


def _replace(client: redis.Redis, meta: DatasetMeta, data: bytes) -> tuple[str | None, bool]:
    """One attempt of `store`: (the previous version, whether it was kept for its pinned analyses). WATCH
    on the name's meta and the previous version's pins orders it against `pin` (the web's enqueue)."""
    with client.pipeline(transaction=True) as pipe:
        pipe.watch(keys.dataset_meta(meta.name))
        raw = pipe.get(keys.dataset_meta(meta.name))
        previous = None if raw is None else DatasetMeta.model_validate_json(raw).version
        kept = False
        if previous is not None and previous != meta.version:
            pipe.watch(keys.version_pins(previous))
            kept = bool(_live_pins(client, previous))
        pipe.multi()
        if kept:
            pipe.rename(keys.dataset_data(meta.name), keys.version_data(str(previous)))
            pipe.set(keys.version_meta(str(previous)), raw or b"", ex=JOBS_KEPT_S)
            pipe.expire(keys.version_data(str(previous)), JOBS_KEPT_S)  # no pinned job outlives this
        pipe.delete(keys.version_retired(meta.version))  # the same bytes and options stored again
        pipe.set(keys.dataset_data(meta.name), data)
        pipe.set(keys.dataset_meta(meta.name), meta.to_json())
        pipe.sadd(keys.DATASET_INDEX, meta.name)
        pipe.execute()
    return previous, kept


def pin(pipe: redis.client.Pipeline, version: str, job_id: str) -> None:
    """Note, in the MULTI that enqueues analysis `job_id`, that it was accepted on dataset `version`: the
    version stays readable until the job ends (`release`). The caller WATCHes the dataset's meta and checks
    it still names `version`, so a replace is either seen by the enqueue or sees the pin."""
    pipe.sadd(keys.version_pins(version), job_id)
    pipe.expire(keys.version_pins(version), JOBS_KEPT_S)


def release(client: redis.Redis, version: str, job_id: str) -> None:
    """Analysis `job_id` has ended (or was canceled): it no longer needs dataset `version`. The last one
    to end on a replaced version removes, unless a dataset holds that version again, its models, and its kept
    rows and meta unless results of it are stored (not its results: those of the pinned analyses are their
    clients' answers, and they read their rows' feature values from the kept rows, which then live as long
    as the newest of them: docs/decisions/0020-results-stored-once-as-columns.md)."""
    removed = client.srem(keys.version_pins(version), job_id)
    if not removed or _live_pins(client, version) or not client.exists(keys.version_meta(version)):
        return
    results_ttl: Any = client.pttl(keys.version_results(version))
    if results_ttl and results_ttl > 0:  # its results read their rows' values from it (store.result_store)
        with client.pipeline(transaction=True) as pipe:
            pipe.pexpire(keys.version_data(version), results_ttl)
            pipe.pexpire(keys.version_meta(version), results_ttl)
            pipe.delete(keys.version_pins(version))
            pipe.execute()
    else:
        client.delete(keys.version_data(version), keys.version_meta(version), keys.version_pins(version))
    if not _version_in_use(client, version):
        forget_version(client, version, results=False)


def _live_pins(client: redis.Redis, version: str) -> list[str]:
    """The pins of `version` whose jobs have not ended: a pin whose job ended without releasing it (its
    worker was killed, and the fleet's repair failed it) or whose record expired does not hold the version."""
    pinned = [as_text(job_id) for job_id in client.smembers(keys.version_pins(version))]
    with client.pipeline(transaction=False) as pipe:
        for job_id in pinned:
            pipe.hget(JSONJob.key_for(job_id), "status")
        statuses = pipe.execute()
    return [job_id for job_id, status in zip(pinned, statuses, strict=True)
            if status is not None and as_text(status) not in jobstates.TERMINAL]


def load_version(client: redis.Redis, name: str, version: str) -> tuple[DatasetMeta, bytes | bytearray]:
    """The metadata and rows of dataset `name` as they were in `version`: the stored dataset when it is that
    version, else the copy a replace kept for the analyses accepted on it (read together either way)."""
    for _ in range(3):  # a replace between the reads moves the version to its keys: look again
        raw_meta, data = _read_together(client, *_where(client, name, version))
        if raw_meta is not None and data is not None:
            meta = DatasetMeta.model_validate_json(raw_meta)
            if meta.version == version:
                return meta, data
    raise VersionGone(f"Dataset {name!r} version {version}, which this analysis was accepted on, is no longer "
                      "stored; send the request again to explain the current version.")


def load_version_meta(client: redis.Redis, name: str, version: str) -> DatasetMeta | None:
    """The metadata of dataset `name` in `version` (as `load_version` finds it), or None."""
    for _ in range(3):
        raw = client.get(_where(client, name, version)[0])
        meta = None if raw is None else DatasetMeta.model_validate_json(raw)
        if meta is not None and meta.version == version:
            return meta
    return None


def _where(client: redis.Redis, name: str, version: str) -> tuple[str, str]:
    if _version_of(client, name) == version:
        return keys.dataset_meta(name), keys.dataset_data(name)
    return keys.version_meta(version), keys.version_data(version)


class _Plan(BaseModel):
    model_config = ConfigDict(extra="ignore")
    dataset_version: str | None = None


def pinned_version(job: Job) -> str | None:
    """The dataset version an analysis job was accepted on (its plan's), None for other jobs and for an
    analysis enqueued with a bare request by an older web (it pinned nothing)."""
    plan = job.kwargs.get("plan") if isinstance(job.kwargs, dict) else None
    return _Plan.model_validate(plan).dataset_version if isinstance(plan, dict) else None


def delete(client: redis.Redis, name: str) -> Forgotten:
    """Remove a dataset, its models and its results; call it under the dataset's lock."""
    version = _version_of(client, name)
    if version is None:
        raise UnknownDataset(f"Dataset {shown(name)} does not exist; GET /datasets lists the available ones.")
    with client.pipeline(transaction=True) as pipe:
        pipe.delete(keys.dataset_data(name), keys.dataset_meta(name), keys.dataset_jobs(name))
        pipe.srem(keys.DATASET_INDEX, name)
        pipe.execute()
    return Forgotten() if _version_in_use(client, version) else forget_version(client, version)


def register_job(pipe: redis.client.Pipeline, name: str, job_id: str, now: float) -> None:
    """Note, in the pipeline (MULTI) that enqueues job `job_id`, that it will read dataset `name`, so that
    DELETE /datasets/<name> sees it from the moment it exists. RQ's queues and registries cannot tell: a
    worker listening to several queues (analyses, plots) takes a job with BLPOP, and until it registers the
    job as started the job is in no queue and no registry. Entries older than JOBS_KEPT_S are dropped."""
    pipe.zadd(keys.dataset_jobs(name), {job_id: now})
    pipe.zremrangebyscore(keys.dataset_jobs(name), "-inf", now - JOBS_KEPT_S)


def registered_jobs(client: redis.Redis, name: str) -> list[str]:
    """The ids register_job noted for dataset `name` (ended jobs included: the caller reads their state)."""
    return [as_text(job_id) for job_id in client.zrange(keys.dataset_jobs(name), 0, -1)]


def _version_of(client: redis.Redis, name: str) -> str | None:
    raw = client.get(keys.dataset_meta(name))
    return None if raw is None else DatasetMeta.model_validate_json(raw).version


def _version_in_use(client: redis.Redis, version: str) -> bool:
    """Another dataset name holds the same bytes and options (the same version): keep its models."""
    return any(meta.version == version for meta in list_all(client))


def forget_version(client: redis.Redis, version: str, *, models: bool = True, results: bool = True) -> Forgotten:
    """Delete the models trained on a dataset version and the results computed on it (or only one of the
    two). Before the models go the version is marked retired, so a training that ends afterwards does not
    store its model (worker.model_store WATCHes the mark), and one that stored it before is in the set read
    below."""
    if models:
        client.set(keys.version_retired(version), 1, ex=RETIRED_S)
    model_ids = [as_text(m) for m in client.smembers(keys.version_models(version))] if models else []
    job_ids = [as_text(j) for j in client.smembers(keys.version_results(version))] if results else []
    doomed = ([keys.version_models(version)] if models else []) + ([keys.version_results(version)] if results else [])
    for model_id in model_ids:
        doomed += [keys.model_blob(model_id), keys.model_meta(model_id), keys.model_shap_tables(model_id),
                   keys.model_interaction_tables(model_id)]
    for job_id in job_ids:
        doomed += [keys.job_result(job_id), keys.job_result_head(job_id), keys.job_rows_table(job_id),
                   keys.job_plots(job_id), keys.job_answer_gzip(job_id), keys.job_feature_values(job_id),
                   keys.job_plot_rows(job_id)]  # the last three: only results of earlier builds have them
    for start in range(0, len(doomed), 500):
        client.unlink(*doomed[start:start + 500])
    return Forgotten(models=len(model_ids), results=len(job_ids))


def as_text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def write_unless_retired(client: redis.Redis, version: str,
                         write: Callable[[redis.client.Pipeline], object]) -> bool:
    """Queue `write`'s commands in a MULTI and run it unless dataset `version` is retired (forget_version
    marks it before it reads the version's models); False when it was, and nothing was written. WATCH
    makes the check and the writes one step."""
    retired = keys.version_retired(version)
    with client.pipeline(transaction=True) as pipe:
        try:
            pipe.watch(retired)
            if pipe.exists(retired):
                return False
            pipe.multi()
            write(pipe)
            pipe.execute()
            return True
        except redis.WatchError:
            return False


def remember_model(pipe: redis.client.Pipeline, version: str, model_id: str) -> None:
    pipe.sadd(keys.version_models(version), model_id)


def remember_result(client: redis.Redis, version: str, job_id: str, ttl: int) -> None:
    """Index a stored result under its dataset version; the index lives as long as the newest result, and so
    do the version's kept rows and meta when a replace kept them (`release`)."""
    with client.pipeline(transaction=True) as pipe:
        pipe.sadd(keys.version_results(version), job_id)
        pipe.expire(keys.version_results(version), ttl)
        pipe.expire(keys.version_data(version), ttl, gt=True)  # no-op when the version is not kept apart
        pipe.expire(keys.version_meta(version), ttl, gt=True)
        pipe.execute()


def load_meta(client: redis.Redis, name: str) -> DatasetMeta:
    raw = client.get(keys.dataset_meta(name))
    if raw is None:
        raise UnknownDataset(f"Dataset {name!r} does not exist; GET /datasets lists the available ones.")
    return DatasetMeta.model_validate_json(raw)


def set_labels(client: redis.Redis, name: str, labels: dict[str, str]) -> DatasetMeta:
    """Replace a dataset's labels (analysis.labels) in its meta; its data, version, models and results stay.
    Call it under the dataset's lock (keys.dataset_lock), so it cannot undo a concurrent replacement."""
    meta = load_meta(client, name).model_copy(update={"labels": labels})
    client.set(keys.dataset_meta(name), meta.to_json())
    return meta


def load(client: redis.Redis, name: str) -> tuple[DatasetMeta, bytes | bytearray]:
    """The metadata and stored rows of one dataset, read together."""
    for _ in range(3):  # a replace while the rows were read: look again
        raw_meta, data = _read_together(client, keys.dataset_meta(name), keys.dataset_data(name))
        if raw_meta is not None and data is not None:
            return DatasetMeta.model_validate_json(raw_meta), data
        if raw_meta is None:
            break
    raise UnknownDataset(f"Dataset {name!r} does not exist; GET /datasets lists the available ones.")


def _read_together(client: redis.Redis, meta_key: str, data_key: str) -> tuple[bytes | None, bytearray | None]:
    """A version's meta and rows, the rows read by ranges (store.ranged: a GET of a 48 MB dataset held twice its
    size at its peak); (meta, None) when the meta changed meanwhile (a replace writes both in one transaction,
    and its meta, which names its version and time, differs), (None, None) when there is none."""
    raw_meta: Any = client.get(meta_key)
    if raw_meta is None:
        return None, None
    data = ranged.read(client, data_key)
    if data is None or client.get(meta_key) != raw_meta:
        return raw_meta, None
    return raw_meta, data


def list_all(client: redis.Redis) -> list[DatasetMeta]:
    names = sorted(n.decode() if isinstance(n, bytes) else n for n in client.smembers(keys.DATASET_INDEX))
    if not names:
        return []
    raws = client.mget([keys.dataset_meta(n) for n in names])
    return [DatasetMeta.model_validate_json(raw) for raw in raws if raw is not None]
