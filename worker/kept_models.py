"""What a worker parent keeps in memory for the work horses it forks next: the models (with their leaf
tables) and the dataset frames its last jobs used, and each kept model's SHAP values of every row of its
dataset.

RQ forks a fresh work horse per job, so whatever a horse loads or computes dies with it: every warm
analysis read the model and its tables from Redis and parsed them, fetched and decoded the dataset's Arrow
form again (any dataset but `default`), and explained its rows again. After an analysis or training job
ends, the parent now loads that job's model and its dataset's frame once, and explains every row of that
dataset version with the model's leaf tables (explain.engine.dataset_shap); every horse forked afterwards
inherits them (copy-on-write) and takes its selection's rows from them (up to KEPT_SHAP_MB of values in
all: docs/decisions/0021-kept-values-cover-100000-rows.md). A row's values do not depend on
the other rows, so they are the numbers the horse would compute (tests/unit/worker/test_kept_models.py compares the
encoded results). Model ids and dataset versions are content hashes, so a kept entry never goes stale; a
kept model is still used only while Redis holds it (one EXISTS), so a model deleted there (its dataset
replaced, or removed by an operator or a benchmark) is trained again as before.

In the parent nothing is built and CatBoost runs single-threaded only (thread_count=1 on the Pool and the
leaf indexing), so it starts no thread there (tests/unit/worker/test_worker_fork_safety.py)."""

from __future__ import annotations

import logging
from collections import OrderedDict
from typing import TYPE_CHECKING

import redis

from common import keys
from common.errors import UnknownDataset
from common.job_meta import JobMeta
from common.redis_conn import REDIS_UNREACHABLE

if TYPE_CHECKING:
    import pandas as pd
    from rq.job import Job

    from explain.training import TrainedModel
    from worker.context import WorkerContext

log = logging.getLogger(__name__)

MODELS_KEPT = 4  # a wide model with its tables is about 2 MB
# every row's SHAP values are kept up to KEPT_SHAP_MB (common.settings) for all kept models together: one
# budget, so the latest model's values are kept whenever they alone fit (docs/decisions/0021)
DATASET_SHAP_BATCH = 10_000  # rows explained at a time while computing them (bounds the leaf-index array)


class KeptModels:
    """Loaded models by id, the `size` most recently kept."""

    def __init__(self, size: int = MODELS_KEPT) -> None:
        self._size = size
        self._models: OrderedDict[str, TrainedModel] = OrderedDict()

    def __len__(self) -> int:
        return len(self._models)

    def get(self, client: redis.Redis, model_id: str) -> TrainedModel | None:
        """The kept model, if one is kept and Redis still holds it."""
        model = self._models.get(model_id)
        if model is None or not client.exists(keys.model_meta(model_id)):
            return None
        return model

    def keep(self, client: redis.Redis, model_id: str) -> TrainedModel | None:
        """Load a stored model (and its stored tables) into memory and return it; a model whose tables would
        have to be built first is left to the next horse, which builds and stores them."""
        from worker.model_store import complete_model  # CatBoost: only programs that run analyses import it

        if model_id in self._models:
            self._models.move_to_end(model_id)
            return self._models[model_id]
        model = complete_model(client, model_id)
        if model is None:
            return None
        self._models[model_id] = model
        while len(self._models) > self._size:
            self._models.popitem(last=False)
        return model

    def within_budget(self, budget: int) -> None:
        """Drop the every-row values of the least recently kept models until the rest fit in `budget`."""
        models = list(self._models.values())  # least recent first
        total = sum(m.dataset_shap.shap.nbytes for m in models if m.dataset_shap is not None)
        for model in models[:-1]:
            if total <= budget:
                return
            if model.dataset_shap is not None:
                total -= model.dataset_shap.shap.nbytes
                model.dataset_shap = None


def values_bytes(rows: int, features: int, classes: int = 0) -> int:
    """The bytes of every row's float64 SHAP values (one column per feature and the base value, per class)."""
    return rows * (features + 1) * 8 * max(1, classes)


def explain_every_row(model: TrainedModel, version: str, frame: pd.DataFrame, budget: int) -> None:
    """Compute, once per model, the SHAP values of every row of the dataset version it was trained on, so a
    horse takes its selection's rows from them (explain.run); single-threaded, leaf tables only, and
    only while the matrix fits in `budget` bytes (KEPT_SHAP_MB)."""
    from analysis.features import feature_frame
    from explain.engine import dataset_shap

    meta = model.meta
    size = values_bytes(len(frame), len(meta.features), len(meta.classes or []))
    if model.tables is None or meta.dataset_version != version or size > budget:
        return
    if model.dataset_shap is not None and model.dataset_shap.version == version:
        return
    x = feature_frame(frame, meta.features, meta.cat_features)
    model.dataset_shap = dataset_shap(model.model, model.tables, frame, version, x, meta.cat_features,
                                      DATASET_SHAP_BATCH)


def leave_for_parent(job: Job | None, dataset: str, model_id: str) -> None:
    """Called in the horse: name the dataset and model the job used, for its parent (saved with the meta)."""
    if job is not None:
        JobMeta.note(job, dataset=dataset, model_id=model_id)


def keep_for_next_jobs(ctx: WorkerContext, job: Job) -> None:
    """Called in the worker parent after a job ended (its meta refreshed): keep the frame of the dataset and
    the model the job named. A dataset or model gone meanwhile, or Redis unreachable, keeps nothing."""
    from catboost import CatBoostError  # only programs that run analyses get here

    named = JobMeta.of(job)
    dataset, model_id = named.dataset, named.model_id
    if dataset is None or model_id is None:
        return
    try:
        meta, frame = ctx.frames.get(ctx.redis, dataset)
        model = ctx.models.keep(ctx.redis, model_id)
        budget = ctx.settings.kept_shap_bytes
        if model is not None and budget and not ctx.settings.aggressive_memory_management:  # float32: not these
            explain_every_row(model, meta.version, frame, budget)
            ctx.models.within_budget(budget)
    except UnknownDataset as exc:  # deleted since the job ran
        log.info("nothing kept for job %s: %s", job.id, exc)
    except REDIS_UNREACHABLE as exc:
        log.warning("nothing kept for job %s, Redis is unreachable: %s", job.id, exc)
    except (CatBoostError, ValueError) as exc:  # a stored model or frame that does not parse: the horse says so
        log.warning("nothing kept for job %s: %s", job.id, exc)
