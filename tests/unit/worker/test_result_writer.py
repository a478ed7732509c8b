"""worker.result_writer against a real redis-server: the rows table written by its thread while the job goes on
becomes the result's only with the head (one transaction); a job that fails after the table was handed over
leaves nothing behind, not even the pending table."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from analysis import rows_table
from common import keys
from devtools.redis_server import RedisServer
from worker.result_writer import PENDING_GRACE_S, ResultWriter

TTL, JOB_TIMEOUT = 3600, 60


def table() -> pa.Table:
    rng = np.random.default_rng(0)
    return pa.table({"row": np.arange(5_000), "shap_a": rng.normal(size=5_000), "shap_b": rng.normal(size=5_000)})


def test_the_table_and_the_head_are_stored_together_with_the_result_ttl(redis_server: RedisServer) -> None:
    client = redis_server.client()
    with ResultWriter(client, "job1", TTL, JOB_TIMEOUT) as writer:
        writer.start(table)
        assert client.get(keys.job_result_head("job1")) is None  # nothing a reader looks at before the head
        stored = writer.finish(lambda: b'{"head": 1}')
    expected = bytes(rows_table.to_ipc(table()))
    assert client.get(keys.job_rows_table("job1")) == expected
    assert client.get(keys.job_result_head("job1")) == b'{"head": 1}'
    assert stored == len(expected) + len(b'{"head": 1}')
    assert not client.exists(keys.job_rows_table_pending("job1"))
    assert JOB_TIMEOUT + PENDING_GRACE_S < client.ttl(keys.job_rows_table("job1")) <= TTL
    assert 0 < client.ttl(keys.job_result_head("job1")) <= TTL
    assert set(writer.timings) == {"encode_s", "store_s", "store_wait_s"}


def test_a_job_failing_after_the_table_was_handed_over_leaves_nothing(redis_server: RedisServer) -> None:
    client = redis_server.client()
    with pytest.raises(RuntimeError, match="effects failed"), ResultWriter(client, "job2", TTL, JOB_TIMEOUT) as writer:
        writer.start(table)
        raise RuntimeError("effects failed")
    assert [key for key in client.scan_iter(match="*job2*")] == []


def test_the_pending_table_expires_soon_if_its_horse_dies(redis_server: RedisServer) -> None:
    """A horse killed between the table's write and the head's leaves a key that expires within the job's
    timeout and a grace, not the result's TTL (a day by default)."""
    client = redis_server.client()
    writer = ResultWriter(client, "job3", TTL, JOB_TIMEOUT)
    writer.start(table)
    writer.table_written()  # the head never comes
    assert 0 < client.ttl(keys.job_rows_table_pending("job3")) <= JOB_TIMEOUT + PENDING_GRACE_S
    assert not client.exists(keys.job_rows_table("job3"))
