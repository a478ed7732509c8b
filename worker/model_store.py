"""CatBoost models in Redis: identified by a hash, trained once under a Redis lock, stored, reused."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pandas as pd
import redis
from catboost import CatBoost
from redis.exceptions import LockError
from redis.lock import Lock

from analysis.datasets import Task
from analysis.model_meta import ModelMeta
from common import keys
from common.redis_conn import REDIS_UNREACHABLE
from explain.engine import CHECK_ROWS, Prepared, prepare_tables
from explain.training import OnIteration, TrainedModel, from_bytes, model_id_for, to_bytes, train
from explain.treeshap import LeafTables
from store import dataset_store
from worker import table_store
from worker.kept_models import KeptModels

log = logging.getLogger(__name__)

LOCK_WAIT = 900  # longest a job waits for another process's training of the same model
LOCK_TTL = 30.0  # the training lock expires this soon after its holder dies (MODEL_LOCK_TTL's default)
RENEWAL_FAILED: tuple[type[Exception], ...] = (LockError, *REDIS_UNREACHABLE)  # the lock is lost, or Redis is


def _read(client: redis.Redis, model_id: str) -> tuple[TrainedModel, bytes | None] | None:
    """The stored model and its stored tables' blob (None when there is none), or None when not stored."""
    blob, raw_meta, raw_tables = client.mget([keys.model_blob(model_id), keys.model_meta(model_id),
                                              keys.model_shap_tables(model_id)])
    if not isinstance(blob, bytes) or raw_meta is None:  # the worker's client does not decode replies
        return None
    meta = ModelMeta.model_validate_json(raw_meta)
    return TrainedModel(model_id, from_bytes(blob, meta), meta), raw_tables if isinstance(raw_tables, bytes) else None


def _attach_tables(trained: TrainedModel, raw_tables: bytes | None) -> bool:
    """Give `trained` its stored tables (none for a model marked native); False when they must be built."""
    if table_store.native_note(raw_tables) is not None:
        return True
    trained.tables = LeafTables.from_bytes(raw_tables) if raw_tables is not None else None
    return trained.tables is not None


def _from_redis(client: redis.Redis, model_id: str, frame: pd.DataFrame) -> TrainedModel | None:
    found = _read(client, model_id)
    if found is None:
        return None
    trained, raw_tables = found
    if not _attach_tables(trained, raw_tables):  # stored before the tables existed (or in an older format)
        trained.tables, _, blob = _prepare(trained.model, frame, trained.meta)
        client.set(keys.model_shap_tables(model_id), blob)
    return trained


def complete_model(client: redis.Redis, model_id: str) -> TrainedModel | None:
    """A stored model with its stored tables (or its native mark), or None. Builds nothing: a worker parent
    calls it (worker.kept_models), and building tables runs CatBoost with its default thread count."""
    found = _read(client, model_id)
    if found is None or not _attach_tables(*found):
        return None
    return found[0]


def _prepare(model: CatBoost, frame: pd.DataFrame, meta: ModelMeta) -> tuple[LeafTables | None, str, bytes]:
    """The model's leaf tables, checked on the first rows of its training frame, its note and the bytes to
    store; logged either way."""

    def check(sample: pd.DataFrame) -> tuple[LeafTables | None, str]:
        prepared: Prepared = prepare_tables(model, sample, meta.cat_features)
        return prepared.tables, prepared.note

    found = table_store.prepare(frame, meta, CHECK_ROWS, LeafTables.to_bytes, check)
    log.info("model %s: %s", meta.id, found[1])
    return found


@contextmanager
def _kept_alive(lock: Lock, ttl: float) -> Iterator[None]:
    """Renew `lock` every ttl/3 s while the block runs; a dead process stops renewing it. The renewing
    thread is not the one that took the lock, so the lock must keep its token shared between threads
    (redis-py's `thread_local=False`); with the default thread-local token, `reacquire()` in this thread
    finds no token and the lock silently expires under a training that lasts longer than `ttl`."""
    done = threading.Event()

    def renew() -> None:
        while not done.wait(ttl / 3):
            try:
                lock.reacquire()
            except RENEWAL_FAILED as exc:
                log.warning("could not renew training lock %s: %s", lock.name, exc)

    thread = threading.Thread(target=renew, name="renew-training-lock", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()


def get_or_train(client: redis.Redis, frame: pd.DataFrame, dataset_version: str, target: str,
                 features: list[str], thread_count: int, lock_ttl: float = LOCK_TTL,
                 kept: KeptModels | None = None, task: Task | None = None,
                 positive_class: str | None = None, on_iteration: OnIteration | None = None) -> TrainedModel:
    """The stored model for these inputs; trained here, under a lock, if nobody has trained it yet. A model
    `kept` in memory by the worker parent (worker.kept_models) is used as it is while Redis still holds it.

    The lock lives `lock_ttl` seconds unless renewed (MODEL_LOCK_TTL); its token is shared with the
    renewing thread (thread_local=False), which is safe because this Lock object serves this one call. `task`
    is the analysis plan's (analysis.plan); without one the one rule decides (analysis.datasets.task_of).
    `on_iteration` hears the training's progress when this call trains (explain.training.IterationReporter)."""
    model_id = model_id_for(dataset_version, target, features)
    found = (kept.get(client, model_id) if kept is not None else None) or _from_redis(client, model_id, frame)
    if found:
        return found
    lock = client.lock(keys.model_lock(model_id), timeout=lock_ttl, blocking_timeout=LOCK_WAIT,
                       thread_local=False)
    with lock, _kept_alive(lock, lock_ttl):
        found = _from_redis(client, model_id, frame)  # another process may have trained it while we waited
        if found:
            return found
        model, meta = train(frame, target, features, thread_count, task=task, positive_class=positive_class,
                            on_iteration=on_iteration)
        meta = meta.model_copy(update={"id": model_id, "dataset_version": dataset_version, "target": target})
        tables, note, blob = _prepare(model, frame, meta)
        meta = meta.model_copy(update={"shap_engine_note": note})
        client.incr(keys.MODEL_TRAININGS)
        log.info("trained model %s for %r (%s, %d rows) in %.2fs", model_id, target, meta.task,
                 meta.trained_rows, meta.training_seconds)
        _store(client, model_id, dataset_version, [to_bytes(model), meta.to_json(), blob])
        return TrainedModel(model_id, model, meta, trained_now=True, tables=tables)


def _store(client: redis.Redis, model_id: str, dataset_version: str, parts: list[bytes]) -> None:
    """Store a model's blob, meta and tables, unless its dataset version was replaced or deleted meanwhile:
    the replace removed that version's models, and one stored now would stay behind, unreachable. The job
    that trained it still uses it."""
    def write(pipe: redis.client.Pipeline) -> None:
        for key, part in zip((keys.model_blob(model_id), keys.model_meta(model_id),
                              keys.model_shap_tables(model_id)), parts, strict=True):
            pipe.set(key, part)
        dataset_store.remember_model(pipe, dataset_version, model_id)

    if not dataset_store.write_unless_retired(client, dataset_version, write):
        log.info("model %s not stored: dataset version %s was replaced or deleted while it trained", model_id,
                 dataset_version)
