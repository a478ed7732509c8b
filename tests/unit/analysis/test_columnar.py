"""Datasets stored as Arrow IPC (read back to exactly the validated frame) and Parquet uploads."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pandas.testing import assert_frame_equal

from analysis import columnar, datasets
from analysis.dataset_meta import DatasetMeta
from common import keys
from common.errors import InvalidDataset
from devtools import wide_table
from devtools.redis_server import RedisServer
from devtools.stack import Stack
from store import dataset_store, default_dataset
from store.frame_cache import FrameCache


def mixed_frame() -> pd.DataFrame:
    return datasets.parse_csv(b"id,n,flag,city,gap\na,1,True,Oslo,1.5\nb,2,False,,\nc,3,,Rome,2.5\n")


@pytest.mark.parametrize("make", [default_dataset.generate, wide_table.generate, mixed_frame])
def test_stored_form_reads_back_to_the_validated_frame(make) -> None:
    """to_arrow then from_arrow gives the frame the CSV parser gave: dtypes, None for missing, values."""
    frame = datasets.parse_csv(datasets.to_csv_bytes(make()))
    back = columnar.from_arrow(columnar.to_arrow(frame))
    assert_frame_equal(back, frame)


@pytest.mark.parametrize("make", [default_dataset.generate, wide_table.generate, mixed_frame])
def test_decoded_a_column_at_a_time_is_the_same_frame(make) -> None:
    """from_arrow_by_column (the web's frames) gives from_arrow's frame: names, dtypes, None for missing, values,
    across record batches (a stream of batches of 7 rows), numbers in one block per dtype as to_pandas makes."""
    frame = datasets.parse_csv(datasets.to_csv_bytes(make()))
    table = pa.Table.from_pandas(frame, preserve_index=False)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema, options=pa.ipc.IpcWriteOptions(compression="lz4")) as writer:
        writer.write_table(table, max_chunksize=7)
    for data in (columnar.to_arrow(frame), sink.getvalue().to_pybytes()):
        whole, by_column = columnar.from_arrow(data), columnar.from_arrow_by_column(data)
        assert_frame_equal(by_column, whole, check_exact=True)
        assert by_column.dtypes.tolist() == whole.dtypes.tolist()
        assert by_column._mgr.nblocks <= whole._mgr.nblocks


def test_text_and_flags_keep_none_for_missing() -> None:
    """Text and boolean columns come back as Python objects with None, never NaN."""
    back = columnar.from_arrow(columnar.to_arrow(mixed_frame()))
    assert back["city"].tolist() == ["Oslo", None, "Rome"]
    assert back["flag"].tolist() == [True, False, None]


def parquet_bytes(frame: pd.DataFrame | pa.Table) -> bytes:
    table = frame if isinstance(frame, pa.Table) else pa.Table.from_pandas(frame, preserve_index=False)
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    return buffer.getvalue()


def test_parquet_upload_describes_like_the_same_csv() -> None:
    """A Parquet file of a table gets the same columns, types and statistics as that table's CSV."""
    frame = wide_table.generate(rows=200)
    options = wide_table.options()
    from_csv, csv_frame = datasets.describe(datasets.to_csv_bytes(frame), options, name="w", max_rows=1000)
    # zip is text in both: the CSV reader would read zero-padded digits as numbers, so write it as text
    as_parquet, parquet_frame = datasets.describe(parquet_bytes(csv_frame), options, name="w", max_rows=1000,
                                                  form="parquet")
    assert as_parquet.columns == from_csv.columns
    assert as_parquet.id_columns == from_csv.id_columns
    assert_frame_equal(parquet_frame, csv_frame)


def test_parquet_dates_become_text_and_nested_columns_are_refused() -> None:
    """Dates arrive as ISO text (as in a CSV); a list column is refused by name."""
    n = 12
    dated = pa.table({"day": pa.array(pd.date_range("2026-01-01", periods=n)), "y": np.arange(n, dtype=float)})
    _, frame = datasets.describe(parquet_bytes(dated), datasets.DatasetOptions(), name="d", max_rows=100,
                                 form="parquet")
    assert frame["day"].iloc[0].startswith("2026-01-01")
    nested = pa.table({"tags": pa.array([[1, 2]] * n), "y": np.arange(n, dtype=float)})
    with pytest.raises(InvalidDataset, match="tags"):
        datasets.describe(parquet_bytes(nested), datasets.DatasetOptions(), name="d", max_rows=100, form="parquet")


def test_parquet_sizes_are_checked_before_reading_and_garbage_is_refused() -> None:
    """Too many rows (from the file's metadata) and bytes that are not Parquet are 400s saying so."""
    table = pa.table({"x": np.arange(50, dtype=float), "y": np.arange(50, dtype=float)})
    with pytest.raises(InvalidDataset, match="at most 20"):
        datasets.describe(parquet_bytes(table), datasets.DatasetOptions(), name="d", max_rows=20, form="parquet")
    with pytest.raises(InvalidDataset, match="not a readable Parquet"):
        datasets.describe(b"PAR1 certainly not parquet PAR1", datasets.DatasetOptions(), name="d", max_rows=20,
                          form="parquet")


def test_a_dataset_stored_as_csv_before_is_still_read(redis_server: RedisServer) -> None:
    """A dataset whose meta has no `storage` (stored as CSV text by an earlier version) still loads."""
    client = redis_server.client()
    data = b"x,y\n" + b"".join(f"{i},{i * 2}\n".encode() for i in range(20))
    meta, frame = datasets.describe(data, datasets.DatasetOptions(), name="old", max_rows=100)
    dataset_store.store(client, DatasetMeta.model_validate(meta.model_dump(exclude={"storage"})), data)
    _, loaded = FrameCache().get(client, "old")
    assert_frame_equal(loaded, frame)


def test_uploads_are_stored_as_arrow_and_parquet_bodies_are_accepted(stack: Stack) -> None:
    """CSV, Parquet (by Content-Type, by octet-stream magic, by multipart file name) all store Arrow and
    analyse the same."""
    frame = pd.DataFrame({"a": np.arange(40, dtype=float), "b": np.arange(40) % 3, "y": np.arange(40) * 1.5})
    data = parquet_bytes(frame)
    versions = {}
    for name, content_type in (("pq-typed", "application/vnd.apache.parquet"),
                               ("pq-octets", "application/octet-stream")):
        status, answer, _ = stack.request("PUT", f"/datasets/{name}", raw=data, headers={"Content-Type": content_type})
        assert status == 201, answer
        versions[name] = answer["version"]
    boundary = "XyZ"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"t.parquet\"\r\n"
            f"Content-Type: application/octet-stream\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
    status, answer, _ = stack.request("PUT", "/datasets/pq-multipart", raw=body,
                                      headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert status == 201, answer
    client = stack.redis()
    for name in ("pq-typed", "pq-octets", "pq-multipart"):
        meta = dataset_store.load_meta(client, name)
        assert (meta.upload_format, meta.storage) == ("parquet", datasets.STORAGE)
        stored = client.get(keys.dataset_data(name))
        assert_frame_equal(columnar.from_arrow(stored), datasets.normalised(frame.copy()), check_dtype=False)
    job = stack.wait_job(stack.analyze({"dataset": "pq-typed", "target_variable": "y"}))
    assert job["status"] == "finished" and job["result"]["explained_rows"] == 40
