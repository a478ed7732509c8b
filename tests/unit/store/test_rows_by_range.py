"""A stored rows table read from Redis by ranges (store.ranged.StoredRange, GETRANGE): /rows holds one record
batch's bytes, never the whole stored stream; the rows are the same, and a table that expires while it is read
cuts the answer with an error instead of ending it short."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.ipc as ipc
import pytest

from devtools.redis_server import RedisServer
from store import ranged, result_store
from store.ranged import ValueGone

KEY, ROWS, BATCH = "shap:result:test:table", 80_000, 8_000


def stored_stream() -> bytes:
    """About 7 MB in batches of about 700 KB (random numbers do not compress): more than the first range read with
    the value's size (store.ranged.FIRST_RANGE), so the rest is read as the reader reaches it."""
    rng = np.random.default_rng(0)
    table = pa.table({"row": pa.array(range(ROWS), type=pa.int64()), "label": [f"r{i}" for i in range(ROWS)],
                      **{f"shap_{i}": rng.normal(size=ROWS) for i in range(10)}})
    sink = pa.BufferOutputStream()
    with ipc.new_stream(sink, table.schema, options=ipc.IpcWriteOptions(compression="lz4")) as writer:
        writer.write_table(table, max_chunksize=BATCH)
    return sink.getvalue().to_pybytes()


def test_read_by_ranges_is_the_stored_table(redis_server: RedisServer) -> None:
    client = redis_server.client()
    data = stored_stream()
    client.set(KEY, data)
    client.config_resetstat()
    stored = result_store._stored(client, KEY, None, by_batch=True)
    assert stored is not None and stored.table.num_rows == 0
    parts = list(stored.batches())
    whole = ipc.open_stream(data).read_all()
    assert pa.concat_tables(parts).equals(whole)
    assert len(parts) == ROWS // BATCH
    assert len(data) > ranged.FIRST_RANGE
    calls = client.info("commandstats")
    assert "cmdstat_get" not in calls  # never the whole value at once
    assert calls["cmdstat_getrange"]["calls"] >= 1 + (len(data) - ranged.FIRST_RANGE) // ranged.WHOLE_RANGE
    assert stored.whole().table.equals(whole)
    assert result_store._stored(client, "shap:result:none:table", None, by_batch=True) is None


def test_a_table_that_expires_while_read_cuts_the_answer(redis_server: RedisServer) -> None:
    client = redis_server.client()
    client.set(KEY, stored_stream())
    stored = result_store._stored(client, KEY, None, by_batch=True)
    assert stored is not None
    batches = stored.batches()
    next(batches)
    client.delete(KEY)
    with pytest.raises(ValueGone):
        list(batches)


def test_a_value_read_whole_by_ranges_is_the_value(redis_server: RedisServer) -> None:
    """store.ranged.read (datasets, the JSON result's rows table): the value's bytes in one buffer of its size."""
    client = redis_server.client()
    data = stored_stream()
    client.set(KEY, data)
    assert bytes(ranged.read(client, KEY) or b"") == data
    assert ranged.read(client, "shap:result:none:table") is None
    small = ranged.source(client, KEY)
    assert small is not None and small.size == len(data) and len(small.first) == ranged.FIRST_RANGE


def test_a_small_table_is_read_whole_in_one_round_trip(redis_server: RedisServer) -> None:
    """A rows table within the first range (the wide table's is 1.8 MB) is read with its size and answered whole
    (decision 0025's amendment: sent by batch, it slowed concurrent reads)."""
    client = redis_server.client()
    table = pa.table({"row": pa.array(range(100), type=pa.int64())})
    sink = pa.BufferOutputStream()
    with ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table, max_chunksize=30)
    client.set(KEY, sink.getvalue().to_pybytes())
    client.config_resetstat()
    stored = result_store._stored(client, KEY, None, by_batch=True)
    assert stored is not None and stored.stream is None and stored.table.equals(table)
    assert client.info("commandstats")["cmdstat_getrange"]["calls"] == 1
