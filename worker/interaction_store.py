"""A model's interaction tables in Redis (explain.interaction_tables): built and checked against CatBoost's
native ShapInteractionValues by the model's first interactions analysis, stored beside its SHAP tables,
read by every later one. The check costs about a second per row on the wide table (native values of 131
features), so it is paid once per model, like the SHAP tables' check, not once per job."""

from __future__ import annotations

import logging

import pandas as pd
import redis

from common import keys
from explain import interaction_tables
from explain.training import TrainedModel
from store import dataset_store
from worker import table_store

log = logging.getLogger(__name__)


def attach(client: redis.Redis, trained: TrainedModel, frame: pd.DataFrame) -> None:
    """Set `trained.interactions` from Redis, or build, check (on the first training rows, as the SHAP
    tables are checked) and store them. A replaced dataset's models take the key with them
    (store.dataset_store.forget_version), and none is stored for a version replaced meanwhile."""
    key = keys.model_interaction_tables(trained.model_id)
    raw = client.get(key)
    native = table_store.native_note(raw)
    if native is not None:
        trained.interactions = (None, native)
        return
    tables = interaction_tables.from_bytes(raw) if isinstance(raw, bytes) else None
    if tables is not None:
        trained.interactions = (tables, "leaf_table")
        return

    def check(sample: pd.DataFrame) -> tuple[interaction_tables.InteractionTables | None, str]:
        return interaction_tables.prepare(trained.model, sample, trained.meta.cat_features)

    built, note, blob = table_store.prepare(frame, trained.meta, interaction_tables.CHECK_ROWS,
                                            interaction_tables.to_bytes, check)
    # not for a model whose dataset version was replaced meanwhile: the key would outlive the model
    version = trained.meta.dataset_version
    assert version is not None, "a stored model knows its dataset version (worker.model_store)"
    dataset_store.write_unless_retired(client, version, lambda pipe: pipe.set(key, blob))
    log.info("model %s: interaction tables %s", trained.model_id, note)
    trained.interactions = (built, note)
