"""The column-wise builder of result rows (analysis.rows) gives exactly the JSON of a straightforward
row-by-row construction: same keys in the same order, same values, NaN as null, ties in feature order."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pytest

from analysis import datasets
from analysis.encoding import OPTIONS, encode
from analysis.features import feature_frame
from analysis.request import AnalyzeRequest
from analysis.rows import TOP_CONTRIBUTORS, RowBuilder, top_positions
from devtools.tables import areas_with_gaps
from explain.run import analyze
from explain.training import TrainedModel, train


def reference_value(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    return None if isinstance(value, float) and not math.isfinite(value) else value


def reference_rows(columns: dict[str, Any], x: pd.DataFrame, features: list[str], values: np.ndarray,
                   position: np.ndarray | None, rows: np.ndarray) -> list[dict[str, Any]]:
    """One row at a time, field by field: the construction the builder must reproduce."""
    out = []
    for r in rows.tolist():
        row = {name: reference_value(column[r]) for name, column in columns.items()}
        order = sorted(range(len(features)), key=lambda j: (-abs(values[r, j]), j))[:TOP_CONTRIBUTORS]
        row["top_contributors"] = []
        for j in order:
            shown = x.iloc[r, j]
            shown = shown.item() if isinstance(shown, np.generic) else shown
            row["top_contributors"].append({"feature": features[j], "shap_value": float(values[r, j]),
                                            "value": None if shown != shown else shown})
        if position is not None:
            row["rank"] = int(position[r])
        out.append(row)
    return out


def rich_inputs(n_features: int, seed: int = 5) -> tuple[dict[str, Any], pd.DataFrame, list[str], np.ndarray]:
    """NaN and infinity in shown columns and features, a categorical feature, tied and zero SHAP values."""
    rng = np.random.default_rng(seed)
    rows = 60
    features = [f"f{j}" for j in range(n_features)]
    x = pd.DataFrame({f: rng.normal(size=rows) for f in features})
    x.iloc[::7, 0] = np.nan
    x["f1"] = rng.choice(["a", "b", ""], size=rows).astype(object)
    values = np.round(rng.normal(size=(rows, n_features)), 1)  # rounded: many ties
    values[::5] = 0.0
    values[3, :] = 0.5 * np.where(np.arange(n_features) % 2, 1, -1)  # every |value| tied
    target = rng.normal(size=rows)
    target[[2, 9]] = [np.nan, np.inf]
    ids = np.array([f"id{i}" for i in range(rows)], dtype=object)
    ids[4] = np.nan
    columns = {"zip": ids, "y": target, "count": np.arange(rows, dtype=np.int64),
               "prediction": [str(v) for v in rng.choice(["lo", "hi"], size=rows)],
               "raw_prediction": rng.normal(size=rows), "probability": rng.uniform(size=rows)}
    return columns, x, features, values


@pytest.mark.parametrize("n_features", [2, 5, 80])
@pytest.mark.parametrize("ranked", [False, True])
@pytest.mark.parametrize("dtype", ["float64", "float32"])  # float32: AGGRESSIVE_MEMORY_MANAGEMENT's features
def test_the_builder_gives_the_reference_json(n_features: int, ranked: bool, dtype: str) -> None:
    """Built column-wise, chunk by chunk and out of order, the rows encode to the reference's bytes."""
    columns, x, features, values = rich_inputs(n_features)
    x = x.astype({name: dtype for name in x.columns if x[name].dtype.kind == "f"})
    position = np.random.default_rng(1).permutation(len(x)) + 1 if ranked else None
    builder = RowBuilder(columns, x, features, values, position)
    for rows in (np.arange(len(x)), np.arange(len(x))[::-1][:17], np.array([3, 4, 9, 2])):
        mine = orjson.dumps(builder(rows), option=OPTIONS)
        assert mine == orjson.dumps(reference_rows(columns, x, features, values, position, rows), option=OPTIONS)


def test_top_positions_equal_a_stable_sort_with_ties_and_nan() -> None:
    """The partitioned top-k is the stable sort's top-k, ties broken by feature order, NaN matrices too."""
    rng = np.random.default_rng(2)
    for values in (rng.normal(size=(300, 100)), np.round(rng.normal(size=(300, 100)), 1), np.zeros((4, 70)),
                   np.where(rng.uniform(size=(50, 90)) < 0.01, np.nan, rng.normal(size=(50, 90)))):
        expected = np.argsort(-np.abs(values), axis=1, kind="stable")[:, :3]
        assert np.array_equal(top_positions(values, 3), expected)




@pytest.mark.parametrize("task", ["binary", "multiclass"])
def test_analysis_rows_match_the_reference_from_the_results_own_shap_values(task: str) -> None:
    """An analysis's rows (ranked, classifier, NaN and a categorical feature) are the reference rows made
    from its own SHAP columns, frame and predictions, and `encode` writes them as such."""
    meta, frame = areas_with_gaps(task)
    features = datasets.feature_columns(meta, "y")
    model, model_meta = train(frame, "y", features, thread_count=1)
    trained = TrainedModel("t", model, model_meta)
    request = AnalyzeRequest(dataset="t", analysis_type="ranking", sample_size=90)
    result = analyze(frame, meta, request, "y", trained, thread_count=1, batch_size=40, max_rows=10_000,
                     row_chunk=25)
    rows = result.results.to_list()
    values = np.column_stack([column for _, column in result.shap_values.items()])
    order = frame.set_index("area").loc[[row["area"] for row in rows]]
    x = feature_frame(order, features, model_meta.cat_features)
    extras = ["predicted_class"] if task == "binary" else ["explained_class", "probability"]
    columns = {name: [row[name] for row in rows] for name in ["area", "y", "prediction", "raw_prediction", *extras]}
    expected = reference_rows(columns, x, features, values, np.arange(1, len(rows) + 1), np.arange(len(rows)))
    assert orjson.dumps(rows, option=OPTIONS) == orjson.dumps(expected, option=OPTIONS)
    assert orjson.loads(encode(result))["results"] == orjson.loads(orjson.dumps(expected))
