"""Models a worker parent keeps in memory for the horses it forks next (worker.kept_models): used while
Redis holds them, never built in the parent, and the job's model and dataset are what it keeps."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis import datasets
from analysis.encoding import encode
from analysis.request import AnalyzeRequest
from common import keys
from common.settings import Settings
from devtools.redis_server import RedisServer
from devtools.tables import described_default
from explain.run import analyze
from explain.training import TrainedModel
from worker import model_store
from worker.kept_models import KeptModels, explain_every_row, values_bytes

TARGET = "Mortgage_Approvals"
BUDGET = Settings.from_env({}).kept_shap_bytes


@pytest.fixture(scope="module")
def table() -> tuple[dict, pd.DataFrame]:
    return described_default(rows=300, seed=5)


def train_stored(client, table: tuple[dict, pd.DataFrame], target: str = TARGET,
                 kept: KeptModels | None = None) -> model_store.TrainedModel:
    meta, frame = table
    return model_store.get_or_train(client, frame, meta.version, target, datasets.feature_columns(meta, target),
                                    thread_count=1, kept=kept)


def kept_after_training(client, table: tuple[dict, pd.DataFrame]) -> tuple[model_store.TrainedModel, KeptModels]:
    """A model trained and stored, and a KeptModels that keeps it."""
    first = train_stored(client, table)
    kept = KeptModels()
    kept.keep(client, first.model_id)
    return first, kept


def test_a_kept_model_is_used_instead_of_reading_redis(redis_server: RedisServer,
                                                       table: tuple[dict, pd.DataFrame]) -> None:
    """A kept model comes back as the same object, with its tables, and counts as not trained now."""
    client = redis_server.client()
    first, kept = kept_after_training(client, table)
    found = train_stored(client, table, kept=kept)
    assert found is kept.get(client, first.model_id)
    assert not found.trained_now and found.tables is not None
    assert first.tables is not None and np.array_equal(found.tables.values, first.tables.values)


def test_a_kept_model_deleted_from_redis_is_trained_again(redis_server: RedisServer,
                                                          table: tuple[dict, pd.DataFrame]) -> None:
    """Once Redis no longer holds a kept model (dataset replaced, operator, benchmark), it is not used."""
    client = redis_server.client()
    first, kept = kept_after_training(client, table)
    client.delete(keys.model_blob(first.model_id), keys.model_meta(first.model_id),
                  keys.model_shap_tables(first.model_id))
    assert kept.get(client, first.model_id) is None
    again = train_stored(client, table, kept=kept)
    assert again.trained_now


def test_a_model_without_stored_tables_is_not_kept(redis_server: RedisServer,
                                                   table: tuple[dict, pd.DataFrame]) -> None:
    """The parent builds nothing: a model whose tables are missing is left to the next horse."""
    client = redis_server.client()
    first = train_stored(client, table)
    client.delete(keys.model_shap_tables(first.model_id))
    kept = KeptModels()
    kept.keep(client, first.model_id)
    assert len(kept) == 0 and kept.get(client, first.model_id) is None
    assert client.get(keys.model_shap_tables(first.model_id)) is None


def test_only_the_newest_models_are_kept(redis_server: RedisServer, table: tuple[dict, pd.DataFrame]) -> None:
    """The kept models are bounded: the least recently kept one goes first; an unknown id keeps nothing."""
    client = redis_server.client()
    first, second = train_stored(client, table), train_stored(client, table, "Mortgage_Applications")
    kept = KeptModels(size=1)
    kept.keep(client, first.model_id)
    kept.keep(client, "no-such-model")
    assert len(kept) == 1 and kept.get(client, first.model_id) is not None
    kept.keep(client, second.model_id)
    assert len(kept) == 1 and kept.get(client, first.model_id) is None
    assert kept.get(client, second.model_id) is not None


def encoded(table: tuple[dict, pd.DataFrame], trained: TrainedModel, **request: object) -> bytes:
    meta, frame = table
    result = analyze(frame, meta, AnalyzeRequest.model_validate(request), TARGET, trained, thread_count=1,
                     batch_size=70, max_rows=10_000)
    result.timings = {}
    return encode(result)


@pytest.mark.parametrize("request_fields", [
    {"sample_size": 120},
    {"sample_size": 300},  # every row in order: the kept values themselves, read-only
    {"analysis_type": "ranking", "demographic_filters": ["Age > 40"]},
    {"analysis_type": "ranking", "sample_size": 1},
])
def test_rows_taken_from_the_kept_values_give_the_same_result(redis_server: RedisServer,
                                                             table: tuple[dict, pd.DataFrame],
                                                             request_fields: dict) -> None:
    """A selection explained from the values the parent computed for every row encodes to the same bytes."""
    client = redis_server.client()
    plain = model_store.complete_model(client, train_stored(client, table).model_id)  # loaded, as a horse does
    assert plain is not None
    model = KeptModels().keep(client, plain.model_id)
    assert model is not None and model.dataset_shap is None
    meta, frame = table
    explain_every_row(model, meta.version, frame, BUDGET)
    assert model.dataset_shap is not None and len(model.dataset_shap.shap) == len(frame)
    assert encoded(table, model, **request_fields) == encoded(table, plain, **request_fields)


def test_rows_a_request_sends_are_explained_now(redis_server: RedisServer,
                                                table: tuple[dict, pd.DataFrame]) -> None:
    """Rows sent in the request are not dataset rows: their values are computed, not looked up by label."""
    client = redis_server.client()
    plain = model_store.complete_model(client, train_stored(client, table).model_id)
    assert plain is not None
    model = KeptModels().keep(client, plain.model_id)
    assert model is not None
    meta, frame = table
    explain_every_row(model, meta.version, frame, BUDGET)
    sent = frame.iloc[[5, 3]].drop(columns=[TARGET]).to_dict(orient="records")
    assert model.dataset_shap is not None
    model.dataset_shap.shap[:] = 0.0  # were the kept values used, the result would show it
    assert encoded(table, model, data=sent) == encoded(table, plain, data=sent)


def test_every_row_values_stay_within_their_budget(redis_server: RedisServer,
                                                   table: tuple[dict, pd.DataFrame]) -> None:
    """Past the budget, the least recently kept model loses its every-row values (it keeps the model)."""
    client = redis_server.client()
    first, second = train_stored(client, table), train_stored(client, table, "Mortgage_Applications")
    kept = KeptModels()
    meta, frame = table
    older, newer = kept.keep(client, first.model_id), kept.keep(client, second.model_id)
    assert older is not None and newer is not None
    explain_every_row(older, meta.version, frame, BUDGET)
    explain_every_row(newer, meta.version, frame, BUDGET)
    assert older.dataset_shap is not None and newer.dataset_shap is not None
    kept.within_budget(budget=newer.dataset_shap.shap.nbytes)
    assert older.dataset_shap is None and newer.dataset_shap is not None
    assert kept.get(client, first.model_id) is older


def test_values_over_the_budget_are_not_kept(redis_server: RedisServer, table: tuple[dict, pd.DataFrame]) -> None:
    """A model whose every-row values exceed the budget keeps none (KEPT_SHAP_MB=0: never any)."""
    client = redis_server.client()
    model = KeptModels().keep(client, train_stored(client, table).model_id)
    assert model is not None
    meta, frame = table
    needed = values_bytes(len(frame), len(model.meta.features))
    explain_every_row(model, meta.version, frame, needed - 1)
    assert model.dataset_shap is None
    explain_every_row(model, meta.version, frame, needed)
    assert model.dataset_shap is not None and model.dataset_shap.shap.nbytes == needed


def test_the_default_budget_keeps_100000_rows_of_132_features() -> None:
    """Issue 19 item 5: the latest model's values of 100,000 rows x 132 features fit the default budget."""
    assert values_bytes(100_000, 132) <= BUDGET


def test_every_row_in_order_is_taken_without_a_copy(redis_server: RedisServer,
                                                    table: tuple[dict, pd.DataFrame]) -> None:
    """All rows in the dataset's order are the kept arrays themselves (no copy of 100 MB at 100,000 rows),
    read-only so that no analysis can change what the later ones read; any other selection is a copy."""
    client = redis_server.client()
    model = KeptModels().keep(client, train_stored(client, table).model_id)
    assert model is not None
    meta, frame = table
    explain_every_row(model, meta.version, frame, BUDGET)
    kept = model.dataset_shap
    assert kept is not None
    found = kept.rows(frame)
    assert found is not None and np.shares_memory(found[0], kept.shap) and not found[0].flags.writeable
    some = kept.rows(frame.iloc[::-1])
    assert some is not None and not np.shares_memory(some[0], kept.shap)
