"""Datasets in Redis: each one's metadata and CSV bytes under its name, replaced atomically, read together."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import redis
import redis.client

from analysis.dataset_meta import DatasetMeta
from common import keys
from common.errors import UnknownDataset, shown

LOCK_TIMEOUT = 120  # seconds a (re)load of a dataset may hold its lock
ORIGIN_UPLOAD = "upload"  # meta.origin of a dataset a client stored with PUT /datasets/<name>
JOBS_KEPT_S = 7 * 86_400  # a job enqueued longer ago than this no longer marks its dataset as in use
RETIRED_S = JOBS_KEPT_S  # a retired version's mark outlives any training that started on it


@dataclass(frozen=True)
class Forgotten:
    """What removing a dataset version took with it."""

    models: int = 0
    results: int = 0


def store(client: redis.Redis, meta: DatasetMeta, data: bytes) -> Forgotten:
    """Replace a dataset atomically: readers see the old or the new version, never a mix. The replaced
    version's models and results are removed with it (nothing else can use them). Call it under the
    dataset's lock (keys.dataset_lock)."""
    previous = _version_of(client, meta.name)
    with client.pipeline(transaction=True) as pipe:
        pipe.delete(keys.version_retired(meta.version))  # the same bytes and options stored again
        pipe.set(keys.dataset_data(meta.name), data)
        pipe.set(keys.dataset_meta(meta.name), meta.to_json())
        pipe.sadd(keys.DATASET_INDEX, meta.name)
        pipe.execute()
    if previous is None or previous == meta.version or _version_in_use(client, previous):
        return Forgotten()
    return forget_version(client, previous)


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


def forget_version(client: redis.Redis, version: str) -> Forgotten:
    """Delete the models trained on a dataset version and the results computed on it. The version is
    marked retired first, so a training that ends afterwards does not store its model (worker.model_store
    WATCHes the mark), and one that stored it before is in the set read below."""
    client.set(keys.version_retired(version), 1, ex=RETIRED_S)
    models: Any = client.smembers(keys.version_models(version))
    results: Any = client.smembers(keys.version_results(version))
    doomed = [keys.version_models(version), keys.version_results(version)]
    for model_id in (as_text(m) for m in models):
        doomed += [keys.model_blob(model_id), keys.model_meta(model_id), keys.model_shap_tables(model_id),
                   keys.model_interaction_tables(model_id)]
    for job_id in (as_text(j) for j in results):
        doomed += [keys.job_result(job_id), keys.job_answer_gzip(job_id), keys.job_feature_values(job_id),
                   keys.job_plot_rows(job_id), keys.job_rows_table(job_id), keys.job_plots(job_id)]
    for start in range(0, len(doomed), 500):
        client.unlink(*doomed[start:start + 500])
    return Forgotten(models=len(models), results=len(results))


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
    """Index a stored result under its dataset version; the index lives as long as the newest result."""
    with client.pipeline(transaction=True) as pipe:
        pipe.sadd(keys.version_results(version), job_id)
        pipe.expire(keys.version_results(version), ttl)
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


def load(client: redis.Redis, name: str) -> tuple[DatasetMeta, bytes]:
    """The metadata and CSV bytes of one dataset, read together."""
    with client.pipeline(transaction=True) as pipe:
        pipe.get(keys.dataset_meta(name))
        pipe.get(keys.dataset_data(name))
        raw_meta, data = pipe.execute()
    if raw_meta is None or data is None:
        raise UnknownDataset(f"Dataset {name!r} does not exist; GET /datasets lists the available ones.")
    return DatasetMeta.model_validate_json(raw_meta), data


def list_all(client: redis.Redis) -> list[DatasetMeta]:
    names = sorted(n.decode() if isinstance(n, bytes) else n for n in client.smembers(keys.DATASET_INDEX))
    if not names:
        return []
    raws = client.mget([keys.dataset_meta(n) for n in names])
    return [DatasetMeta.model_validate_json(raw) for raw in raws if raw is not None]
