"""A model's interaction tables in Redis (explain.interaction_tables): built by the model's first interactions
analysis and checked there (their row sums against CatBoost's ShapValues, not against its
ShapInteractionValues, which are inconsistent for some models), stored beside its SHAP tables, read by every
later one: built and checked once per model, like the SHAP tables, not once per job."""

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
# how the earlier builds' note ended when the tables differed from CatBoost's ShapInteractionValues, a check no
# longer made (explain.interaction_tables): such a model's tables are built and checked again
STALE_NOTE = "from ShapInteractionValues"


def attach(client: redis.Redis, trained: TrainedModel, frame: pd.DataFrame) -> None:
    """Set `trained.interactions` from Redis, or build, check (on the first training rows, as the SHAP
    tables are checked) and store them. A replaced dataset's models take the key with them
    (store.dataset_store.forget_version), and none is stored for a version replaced meanwhile."""
    key = keys.model_interaction_tables(trained.model_id)
    raw = client.get(key)
    native = table_store.native_note(raw)
    if native is not None and not native.endswith(STALE_NOTE):
        trained.interactions = (None, native)
        return
    tables = interaction_tables.from_bytes(raw) if isinstance(raw, bytes) and native is None else None
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
