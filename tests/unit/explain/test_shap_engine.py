"""The SHAP engine in the service: tables made once at training, stored with the model in Redis, used by
analyses; native ShapValues for a model they cannot explain, and `timings["shap_engine"]` says which ran."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from catboost import CatBoostRegressor, Pool

from analysis import datasets
from analysis.features import feature_frame
from analysis.model_meta import ModelMeta
from analysis.request import AnalyzeRequest
from common import keys
from devtools.redis_server import RedisServer
from devtools.tables import described_default
from explain import engine
from explain.run import analyze
from explain.training import TrainedModel, train
from explain.treeshap import LeafTables
from worker import interaction_store, model_store, table_store

TARGET = "Mortgage_Approvals"


@pytest.fixture(scope="module")
def table() -> tuple[dict, pd.DataFrame]:
    return described_default(rows=400, seed=11)


@pytest.fixture(scope="module")
def trained(table: tuple[dict, pd.DataFrame]) -> TrainedModel:
    meta, frame = table
    model, model_meta = train(frame, TARGET, datasets.feature_columns(meta, TARGET), thread_count=1)
    return TrainedModel("test", model, model_meta)


def run(table: tuple[dict, pd.DataFrame], trained: TrainedModel, **request: Any) -> dict[str, Any]:
    meta, frame = table
    return analyze(frame, meta, AnalyzeRequest(**request), TARGET, trained, thread_count=1, batch_size=150,
                   max_rows=10_000)


def test_analysis_with_tables_equals_native_and_says_so(table: tuple[dict, pd.DataFrame],
                                                        trained: TrainedModel) -> None:
    """The same analysis with the leaf tables and natively: the same values (1e-9), engines named."""
    _, frame = table
    x = feature_frame(frame, trained.meta.features, trained.meta.cat_features)
    prepared = engine.prepare_tables(trained.model, x, trained.meta.cat_features)
    assert prepared.tables is not None, prepared.note
    assert "equal to ShapValues" in prepared.note
    with_tables = TrainedModel(trained.model_id, trained.model, trained.meta, tables=prepared.tables)
    fast = run(table, with_tables, data=frame.sample(120, random_state=3).to_dict("records"))
    slow = run(table, trained, data=frame.sample(120, random_state=3).to_dict("records"))
    assert fast.timings["shap_engine"] == engine.LEAF_TABLE
    assert slow.timings["shap_engine"] == engine.NATIVE
    assert abs(fast.base_value - slow.base_value) <= 1e-9
    for name, column in slow.shap_values.items():
        assert np.max(np.abs(dict(fast.shap_values.items())[name] - column)) <= 1e-9
    fast_rows, slow_rows = fast.results.to_list(), slow.results.to_list()
    assert max(abs(a["raw_prediction"] - b["raw_prediction"]) for a, b in zip(fast_rows, slow_rows, strict=True)) \
        <= 1e-9


def test_a_model_the_tables_cannot_explain_falls_back_to_native(table: tuple[dict, pd.DataFrame]) -> None:
    """Non-oblivious trees: no tables, a note saying why, and the analysis runs native ShapValues."""
    meta, frame = table
    features = [f for f in datasets.feature_columns(meta, TARGET) if pd.api.types.is_numeric_dtype(frame[f])]
    model = CatBoostRegressor(iterations=30, grow_policy="Lossguide", thread_count=1, verbose=False,
                              allow_writing_files=False)
    model.fit(frame[features], frame[TARGET])
    prepared = engine.prepare_tables(model, frame[features], [])
    assert prepared.tables is None
    assert "not oblivious" in prepared.note
    lossguide = TrainedModel("lossguide", model, ModelMeta(task="regression", features=features, cat_features=[],
                                                           trained_rows=len(frame)))
    result = run(table, lossguide)
    assert result.timings["shap_engine"] == engine.NATIVE
    native = model.get_feature_importance(data=Pool(frame[features]), type="ShapValues", thread_count=1)
    assert np.array_equal(dict(result.shap_values.items())[features[0]], native[:, 0])


def test_trained_models_are_stored_with_their_tables(redis_server: RedisServer,
                                                      table: tuple[dict, pd.DataFrame]) -> None:
    """Training stores the tables beside the model; a later job loads them instead of building them."""
    meta, frame = table
    client = redis_server.client()
    features = datasets.feature_columns(meta, TARGET)
    first = model_store.get_or_train(client, frame, meta.version, TARGET, features, thread_count=1)
    assert first.trained_now and first.tables is not None
    assert "equal to ShapValues" in first.meta.shap_engine_note
    stored = client.get(keys.model_shap_tables(first.model_id))
    assert isinstance(stored, bytes)
    assert stored == first.tables.to_bytes()
    again = model_store.get_or_train(client, frame, meta.version, TARGET, features, thread_count=1)
    assert not again.trained_now and again.tables is not None
    assert np.array_equal(again.tables.values, first.tables.values)
    assert client.get(keys.MODEL_TRAININGS) == b"1"


def test_a_model_stored_without_tables_gets_them_on_load(redis_server: RedisServer,
                                                         table: tuple[dict, pd.DataFrame]) -> None:
    """A model stored before the tables existed: the first job to load it builds and stores them."""
    meta, frame = table
    client = redis_server.client()
    features = datasets.feature_columns(meta, TARGET)
    first = model_store.get_or_train(client, frame, meta.version, TARGET, features, thread_count=1)
    client.delete(keys.model_shap_tables(first.model_id))
    loaded = model_store.get_or_train(client, frame, meta.version, TARGET, features, thread_count=1)
    assert not loaded.trained_now and loaded.tables is not None
    stored = client.get(keys.model_shap_tables(first.model_id))
    assert isinstance(stored, bytes)
    restored = LeafTables.from_bytes(stored)
    assert restored is not None and np.array_equal(restored.values, loaded.tables.values)


def test_a_stored_native_mark_means_native(redis_server: RedisServer, table: tuple[dict, pd.DataFrame]) -> None:
    """A model marked native (its tables could not be built) is not rebuilt on every load."""
    meta, frame = table
    client = redis_server.client()
    features = datasets.feature_columns(meta, TARGET)
    first = model_store.get_or_train(client, frame, meta.version, TARGET, features, thread_count=1)
    client.set(keys.model_shap_tables(first.model_id), table_store.NATIVE_MARK + b"test")
    loaded = model_store.get_or_train(client, frame, meta.version, TARGET, features, thread_count=1)
    assert loaded.tables is None
    assert client.get(keys.model_shap_tables(first.model_id)) == table_store.NATIVE_MARK + b"test"


def test_both_kinds_of_tables_store_a_native_model_the_same_way(table: tuple[dict, pd.DataFrame]) -> None:
    """SHAP and interaction tables share one NATIVE_MARK and one build-check-store helper: a model they
    cannot follow is stored as the mark and its note, read back as that note."""
    meta, frame = table
    model_meta = ModelMeta(task="regression", target=TARGET, features=datasets.feature_columns(meta, TARGET),
                           cat_features=[], trained_rows=len(frame))
    samples: list[int] = []

    def check(sample: pd.DataFrame) -> tuple[bytes | None, str]:
        samples.append(len(sample))
        return None, "why"

    tables, note, blob = table_store.prepare(frame, model_meta, 3, bytes, check)
    assert tables is None and note == "why" and samples == [3]
    assert blob == table_store.NATIVE_MARK + b"why" and table_store.native_note(blob) == "why"
    assert not hasattr(model_store, "NATIVE_MARK") and not hasattr(interaction_store, "NATIVE_MARK")
