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
from explain.training import TrainedModel, feature_frame

log = logging.getLogger(__name__)

NATIVE_MARK = b"native:"  # stored instead of tables for a model they cannot follow


def attach(client: redis.Redis, trained: TrainedModel, frame: pd.DataFrame) -> None:
    """Set `trained.interactions` from Redis, or build, check (on the first training rows, as the SHAP
    tables are checked) and store them. A replaced dataset's models take the key with them
    (common.dataset_store.forget_version)."""
    key = keys.model_interaction_tables(trained.model_id)
    raw = client.get(key)
    if isinstance(raw, bytes) and raw.startswith(NATIVE_MARK):
        trained.interactions = (None, raw.decode(errors="replace"))
        return
    tables = interaction_tables.from_bytes(raw) if isinstance(raw, bytes) else None
    if tables is not None:
        trained.interactions = (tables, "leaf_table")
        return
    meta = trained.meta
    rows = frame[frame[meta["target"]].notna()] if meta.get("target") in frame.columns else frame
    sample = feature_frame(rows.iloc[:interaction_tables.CHECK_ROWS], meta["features"], meta["cat_features"])
    built, note = interaction_tables.prepare(trained.model, sample, meta["cat_features"])
    client.set(key, interaction_tables.to_bytes(built) if built is not None else note.encode())
    log.info("model %s: interaction tables %s", trained.model_id, note)
    trained.interactions = (built, note)
