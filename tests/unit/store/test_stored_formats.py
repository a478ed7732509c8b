"""Datasets and models have no TTL: what an earlier build stored must load in this one. Each test writes the
JSON exactly as the earlier build wrote it (a dict through orjson) and reads it back through the store."""

from __future__ import annotations

import orjson

from analysis.dataset_meta import DatasetMeta
from analysis.model_meta import ModelMeta
from common import keys
from devtools.redis_server import RedisServer
from store import dataset_store

# A dataset's meta as analysis.datasets.describe built it before it was typed, with what the upload added
# (labels, stored_bytes, origin).
EARLIER_DATASET = {
    "name": "areas", "version": "0123456789abcdef", "rows": 3,
    "columns": [
        {"name": "zip", "type": "id", "missing": 0, "unique": 3, "top_values": {"01583": 1, "01584": 1, "01585": 1}},
        {"name": "income", "type": "numeric", "missing": 0, "non_finite": 0, "unique": 3, "min": 1.0, "max": 3.0,
         "mean": 2.0, "std": 1.0, "p25": 1.5, "median": 2.0, "p75": 2.5},
        {"name": "region", "type": "categorical", "missing": 1, "unique": 1, "top_values": {"north": 2}},
    ],
    "id_columns": ["zip"], "exclude_columns": [], "default_target": "income", "created_at": 1796164450.1,
    "size_bytes": 64, "upload_format": "csv", "storage": "arrow-ipc-lz4", "labels": {"income": "Income"},
    "stored_bytes": 900, "origin": "upload",
}
# A dataset stored before labels, Arrow storage and the upload's format were kept.
OLDEST_DATASET = {key: value for key, value in EARLIER_DATASET.items()
                  if key not in ("labels", "storage", "upload_format", "stored_bytes", "origin")}

# A model's meta as the build before typed metadata wrote it (train()'s dict plus the store's fields).
EARLIER_MODEL = {
    "task": "regression", "features": ["a", "c"], "cat_features": ["c"], "trained_rows": 48,
    "metrics": {"rmse": 1.5, "mae": 1.1, "r2": None, "holdout_rows": 12}, "classes": None,
    "leaks": [{"feature": "a", "abs_spearman": 0.991}],
    "training_range": {"numeric": {"a": [0.0, 59.0]}, "categories": {"c": ["p", "q"]}},
    "params": {"iterations": 300, "depth": 6, "border_count": 254, "thread_count": 1}, "trees": 41,
    "training_seconds": 0.05, "trained_at": 1796164450.1, "id": "m1", "dataset_version": "v1", "target": "y",
    "shap_engine_note": "leaf tables equal to ShapValues",
}


def test_a_dataset_stored_by_the_earlier_build_loads_and_writes_back_the_same(redis_server: RedisServer) -> None:
    client = redis_server.client()
    for stored in (EARLIER_DATASET, OLDEST_DATASET):
        client.set(keys.dataset_meta("areas"), orjson.dumps(stored))
        client.set(keys.dataset_data("areas"), b"rows")
        client.sadd(keys.DATASET_INDEX, "areas")
        meta, data = dataset_store.load(client, "areas")
        assert data == b"rows" and meta.column("income").max == 3.0 and meta.id_columns == ["zip"]
        assert orjson.loads(meta.to_json()) == stored
        assert [m.version for m in dataset_store.list_all(client)] == [stored["version"]]
    assert DatasetMeta.model_validate(OLDEST_DATASET).labels is None


def test_labels_set_on_an_earlier_builds_dataset_keep_its_other_fields(redis_server: RedisServer) -> None:
    client = redis_server.client()
    client.set(keys.dataset_meta("areas"), orjson.dumps(OLDEST_DATASET))
    dataset_store.set_labels(client, "areas", {"region": "Region"})
    assert orjson.loads(client.get(keys.dataset_meta("areas"))) == OLDEST_DATASET | {"labels": {"region": "Region"}}


def test_a_model_stored_by_the_earlier_build_loads_and_writes_back_the_same(redis_server: RedisServer) -> None:
    client = redis_server.client()
    client.set(keys.model_meta("m1"), orjson.dumps(EARLIER_MODEL))
    meta = ModelMeta.model_validate_json(client.get(keys.model_meta("m1")))
    assert meta.metrics.r2 is None and meta.metrics.rmse == 1.5 and meta.leaks[0].feature == "a"
    assert meta.training_range is not None and meta.training_range.categories == {"c": ["p", "q"]}
    assert orjson.loads(meta.to_json()) == EARLIER_MODEL
    assert meta.metrics.as_dict() == EARLIER_MODEL["metrics"]  # the result's model.metrics, as before
