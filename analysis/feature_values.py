"""The explained rows' feature values, as `GET /job_status/<id>/feature_values` serves them: encoded once, in
the worker, beside the result (the result itself keeps only each row's top contributors' values).

`{"success": true, "job_id": ..., "features": [...], "values": {feature: [value per row]}}`: features in
the order of the result's `shap_values`, rows in the order of its `results`. Numbers as the model saw them
(a number that could not be read is null), categorical values as strings (a missing one is null: the model
sees it as "", see explain.training.feature_frame)."""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson
import pandas as pd

from analysis.explained import ResultRows

OPTIONS = orjson.OPT_SERIALIZE_NUMPY


def _categorical(column: np.ndarray) -> list[Any]:
    values = column.tolist()
    return [None if value == "" else value for value in values]


def encode(job_id: str, features: list[str], x: pd.DataFrame, order: np.ndarray) -> bytes:
    """The JSON answer for the rows of `x` (the model's input frame) taken in `order`.

    Numeric columns are read as one block, rows reordered and transposed once, so every feature's values
    are one contiguous numpy row that orjson writes in C (NaN and infinities as null); a column at a time
    through pandas cost more than the encoding itself (1,650 x 131, measured)."""
    numeric = [i for i, dtype in enumerate(x.dtypes) if isinstance(dtype, np.dtype) and dtype.kind == "f"]
    categorical = sorted(set(range(x.shape[1])) - set(numeric))
    columns: dict[int, Any] = {}
    if numeric:
        block = np.ascontiguousarray(x.iloc[:, numeric].to_numpy()[order].T)
        columns.update(zip(numeric, block, strict=True))
    if categorical:
        text = x.iloc[:, categorical].to_numpy(dtype=object)[order].T
        columns.update((i, _categorical(row)) for i, row in zip(categorical, text, strict=True))
    values = {name: columns[i] for i, name in enumerate(features)}
    return orjson.dumps({"success": True, "job_id": job_id, "features": features, "values": values}, option=OPTIONS)


def decode(payload: bytes) -> tuple[list[str], dict[str, list[Any]]]:
    """The features and their per-row values of a stored answer (plots read them back)."""
    data = orjson.loads(payload)
    return data["features"], data["values"]


NOT_IDS = frozenset({"prediction", "raw_prediction", "predicted_class", "explained_class", "probability"})


def encode_rows(rows: ResultRows, target: str, classes: list[str] | None,
                pairs: list[dict[str, Any]] | None = None) -> bytes:
    """What the plot routes need of the rows, small enough for the web to read: each row's ids (the id
    columns the rows show, in their order), its explained class (multiclass), the model's classes, and an
    interactions analysis's top pairs (their names only: the web checks an interaction plot's pair without
    reading the result's per-row interaction values). `{"ids": {column: [...]}, "explained_class": [...] |
    null, "classes": [...] | null, "interaction_pairs": [[feature, with], ...] | null, "target": name}` (the
    plots name the target in their titles; results stored before it have no "target")."""
    fields = rows.fields()
    ids = {name: rows.column(name) for name in fields if name != target and name not in NOT_IDS}
    explained = rows.column("explained_class") if "explained_class" in fields else None
    named = None if pairs is None else [[pair["feature"], pair["with"]] for pair in pairs]
    return orjson.dumps({"ids": ids, "explained_class": explained, "classes": classes, "interaction_pairs": named,
                         "target": target}, option=OPTIONS)
