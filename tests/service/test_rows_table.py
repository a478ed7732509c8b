"""GET /job_status/<id>/rows: the explained rows as one table (analysis.rows_table, web.rows_answer), the same
values as the JSON result, in Arrow, CSV, Parquet and columnar JSON (real redis-server, web and forking workers)."""

from __future__ import annotations

import io
import math
from typing import Any

import httpx
import orjson
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.ipc as ipc
import pyarrow.parquet as pq
import pytest

from analysis import rows_table
from common import keys
from devtools import look_table
from devtools.stack import Stack
from store import dataset_store

ADDITIVITY = 1e-6


def upload(stack: Stack, name: str = "rows", rows: int = look_table.ROWS) -> None:
    status, answer, _ = stack.request("PUT", f"/datasets/{name}{look_table.UPLOAD_QUERY}",
                                      raw=look_table.csv_bytes(rows), headers={"Content-Type": "text/csv"})
    assert status in (200, 201), answer


def fetch(stack: Stack, job_id: str, query: str = "", accept: str | None = None) -> httpx.Response:
    headers = stack.headers() | ({"Accept": accept} if accept else {})
    return httpx.get(f"{stack.base}/job_status/{job_id}/rows{query}", headers=headers, timeout=40)


def arrow(stack: Stack, job_id: str, query: str = "") -> pa.Table:
    answer = fetch(stack, job_id, query)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/vnd.apache.arrow.stream"
    return ipc.open_stream(answer.content).read_all()


def same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    return a == b


@pytest.mark.parametrize("target", look_table.TARGETS)
def test_every_value_of_the_table_is_the_json_results(stack: Stack, target: str) -> None:
    """Regression, binary and multiclass, ranked: every SHAP value, prediction, id and feature value of /rows equals
    the JSON result's (and /feature_values'), bit for bit; base value + SHAP sum = raw prediction within 1e-6 for
    both; a multiclass's class probabilities sum to 1 and the explained one is the JSON's probability."""
    upload(stack)
    job_id = stack.analyze({"dataset": "rows", "target": target, "analysis_type": "ranking"})
    result = stack.wait_job(job_id)["result"]
    table = arrow(stack, job_id, "?columns=*").to_pydict()
    results, features = result["results"], result["model"]["features"]
    assert result["model"]["trees"] > 0 and result["model"]["params"]["depth"] > 0  # the model section
    assert table["row"] == list(range(len(results)))
    for name in ("area", "prediction", "raw_prediction"):
        assert table[name] == [row[name] for row in results], name
    for feature in features:
        assert table[f"shap_{feature}"] == result["shap_values"][feature], feature
    _, values, _ = stack.get(f"/job_status/{job_id}/feature_values")
    for feature in features:
        assert all(same(a, b) for a, b in zip(table[f"value_{feature}"], values["values"][feature], strict=True))
    for i, row in enumerate(results):
        base = result["base_value"][row["explained_class"]] if isinstance(result["base_value"], dict) \
            else result["base_value"]
        from_json = base + sum(result["shap_values"][f][i] for f in features)
        from_table = base + sum(table[f"shap_{f}"][i] for f in features)
        assert abs(from_json - row["raw_prediction"]) < ADDITIVITY
        assert abs(from_table - table["raw_prediction"][i]) < ADDITIVITY
    if target == "Approved":
        assert table["predicted_class"] == [row["predicted_class"] for row in results]
        assert table["probability"] == [row["prediction"] for row in results]
    if target == "Tier":
        assert table["predicted_class"] == [row["explained_class"] for row in results]
        probabilities = [name for name in table if name.startswith("probability_")]
        assert sorted(probabilities) == ["probability_high", "probability_low", "probability_mid"]
        for i, row in enumerate(results):
            assert abs(sum(table[p][i] for p in probabilities) - 1) < 1e-9
            assert table[f"probability_{row['explained_class']}"][i] == row["probability"]


def test_formats_columns_sorting_sampling_and_pages(stack: Stack) -> None:
    """format= and Accept choose Arrow, CSV, Parquet or columnar JSON; the default leaves value_* out; columns=
    takes names and prefixes; sort/order, offset/limit and a seeded sample cut the rows; 406 lists the formats."""
    upload(stack)
    job_id = stack.wait_job(stack.analyze({"dataset": "rows", "target": "Score"}))["job_id"]
    whole = arrow(stack, job_id)
    assert not any(name.startswith("value_") for name in whole.column_names)
    assert whole.column_names[:5] == ["row", "area", "Score", "prediction", "raw_prediction"]
    as_json = fetch(stack, job_id, "?format=json").json()
    assert as_json == whole.to_pydict()
    as_csv = pa_csv.read_csv(io.BytesIO(fetch(stack, job_id, accept="text/csv").content))
    assert as_csv.column("row").to_pylist() == whole.column("row").to_pylist()
    as_parquet = pq.read_table(io.BytesIO(fetch(stack, job_id, "?format=parquet").content))
    assert as_parquet.equals(whole)
    picked = arrow(stack, job_id, "?columns=prediction,shap_*")
    assert picked.column_names == ["row", "prediction", *(f"shap_{f}" for f in ("Income", "Age", "Region"))]
    top = arrow(stack, job_id, "?sort=prediction&order=desc&limit=25&columns=prediction").to_pydict()
    assert top["prediction"] == sorted(whole.column("prediction").to_pylist(), reverse=True)[:25]
    page = arrow(stack, job_id, "?offset=10&limit=5&columns=row").column("row").to_pylist()
    assert page == [10, 11, 12, 13, 14]
    sample = arrow(stack, job_id, "?sample=50&seed=7&columns=row").column("row").to_pylist()
    assert len(sample) == 50 == len(set(sample)) and sample == sorted(sample)
    assert sample == arrow(stack, job_id, "?sample=50&seed=7&columns=row").column("row").to_pylist()
    assert sample != arrow(stack, job_id, "?sample=50&seed=8&columns=row").column("row").to_pylist()
    refused = fetch(stack, job_id, accept="application/xml")
    assert refused.status_code == 406 and refused.json()["code"] == "not_acceptable"
    assert "text/csv" in refused.json()["error"]
    unknown = fetch(stack, job_id, "?columns=nope")
    assert unknown.status_code == 400 and "nope" in unknown.json()["error"]


def test_results_of_earlier_builds_are_served_and_a_forgotten_version_removes_them(stack: Stack) -> None:
    """A result an earlier build stored (its JSON whole, its table with the values inside, no head) is served by
    /rows until it expires; one stored before tables answers 404 `gone` saying why; forgetting the dataset version
    removes the result and its table."""
    upload(stack, "rows-forget", rows=120)
    job_id = stack.wait_job(stack.analyze({"dataset": "rows-forget", "target": "Score"}))["job_id"]
    client = stack.redis()
    assert rows_table.DATASET_ROW in rows_table.from_ipc(client.get(keys.job_rows_table(job_id))).column_names
    whole = arrow(stack, job_id, "?columns=*")
    assert rows_table.DATASET_ROW not in whole.column_names and "value_Income" in whole.column_names
    _, answer_json, _ = stack.get(f"/job_status/{job_id}")
    client.delete(keys.job_result_head(job_id))
    client.set(keys.job_rows_table(job_id), rows_table.to_ipc(whole))  # as an earlier build stored it
    client.set(keys.job_result(job_id), orjson.dumps(answer_json["result"]))
    assert arrow(stack, job_id, "?columns=*").equals(whole)
    client.delete(keys.job_rows_table(job_id))
    answer = fetch(stack, job_id)
    assert answer.status_code == 404 and answer.json()["code"] == "gone"
    assert "earlier version" in answer.json()["error"]
    client.set(keys.job_rows_table(job_id), rows_table.to_ipc(whole))
    dataset_store.forget_version(client, dataset_store.load_meta(client, "rows-forget").version)
    assert not client.exists(keys.job_rows_table(job_id), keys.job_result(job_id))
    assert fetch(stack, job_id).json()["code"] == "not_found"


def test_a_dataset_column_named_like_a_service_column_is_prefixed() -> None:
    assert rows_table.data_name("prediction") == "data_prediction"
    assert rows_table.data_name("shap_Age") == "data_shap_Age"
    assert rows_table.data_name("area") == "area"
    assert rows_table.data_name("data_row") == "data_row"
