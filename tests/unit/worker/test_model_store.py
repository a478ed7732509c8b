"""worker.model_store against a real redis-server: a model trained on a dataset version that was replaced or
deleted while it trained is used by its job but not stored, so nothing is left behind in Redis."""

from __future__ import annotations

import pandas as pd
import pytest

from analysis import columnar, datasets
from common import keys
from devtools.redis_server import RedisServer
from devtools.tables import described_default
from store import dataset_store
from worker import model_store

TARGET = "Mortgage_Approvals"


@pytest.fixture(scope="module")
def table() -> tuple[dict, pd.DataFrame]:
    return described_default(rows=200, seed=9, name="stored")


def train(client, table: tuple[dict, pd.DataFrame]) -> model_store.TrainedModel:
    meta, frame = table
    return model_store.get_or_train(client, frame, meta.version, TARGET, datasets.feature_columns(meta, TARGET),
                                    thread_count=1)


def stored_models(client) -> list[str]:
    return sorted(key.decode() for key in client.scan_iter(match="shap:model:*"))


def test_a_model_of_a_version_replaced_while_it_trained_is_used_not_stored(redis_server: RedisServer,
                                                                         table: tuple[dict, pd.DataFrame]) -> None:
    """The version is forgotten (its dataset replaced) before the training ends: the job gets its model,
    Redis keeps none of it, not even in the version's model set."""
    client = redis_server.client()
    meta, _ = table
    dataset_store.forget_version(client, meta.version)
    trained = train(client, table)
    assert trained.trained_now and trained.tables is not None
    assert stored_models(client) == []
    assert not client.exists(keys.version_models(meta.version))


def test_the_same_version_stored_again_stores_its_models_again(redis_server: RedisServer,
                                                              table: tuple[dict, pd.DataFrame]) -> None:
    """The check can pass: once the same bytes and options are stored again, the next training is stored."""
    client = redis_server.client()
    meta, frame = table
    dataset_store.forget_version(client, meta.version)
    dataset_store.store(client, meta, columnar.to_arrow(frame))
    trained = train(client, table)
    assert client.exists(keys.model_blob(trained.model_id), keys.model_meta(trained.model_id)) == 2
    assert client.smembers(keys.version_models(meta.version)) == {trained.model_id.encode()}



def test_a_stored_model_reads_back_through_the_store(redis_server: RedisServer,
                                                    table: tuple[dict, pd.DataFrame]) -> None:
    """A model stored by the store loads with the same typed metadata (a second call finds it in Redis)."""
    client = redis_server.client()
    first = train(client, table)
    again = train(client, table)
    assert first.trained_now and not again.trained_now
    assert again.meta == first.meta and again.meta.id == first.model_id
