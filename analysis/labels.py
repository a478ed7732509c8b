"""Readable names of a dataset's columns ("labels"): validated here, stored in the dataset's meta
(`meta.labels`), shown by summaries, `feature_importance` and GET /metadata. Columns keep their names
in every data field; a label only changes the words shown for a column.

Pure (orjson only), so the web, the worker and explain/ share the one set of rules."""

from __future__ import annotations

from typing import Any

import orjson

from analysis import names as name_rule
from analysis.dataset_meta import DatasetMeta
from analysis.names import MAX_LABEL_CHARS
from common.errors import InvalidRequest, UnknownColumn, shown

MAX_LABELS_BYTES = 256 * 1024  # the JSON text of one labels object


class InvalidLabels(InvalidRequest):
    code = "invalid_labels"


def parse(raw: str | bytes | None) -> dict[str, Any] | None:
    """The JSON object of labels as sent (None when nothing was sent); refused when it is not one."""
    if raw is None or not raw.strip():
        return None
    if len(raw) > MAX_LABELS_BYTES:
        raise InvalidLabels(f"labels are {len(raw)} bytes of JSON; at most {MAX_LABELS_BYTES} are allowed.")
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidLabels(f"labels are not valid JSON ({exc}); send an object of column name to label, "
                            'e.g. {"Median_Household_Income": "Median household income"}.') from None
    return as_object(value)


def as_object(value: Any) -> dict[str, Any]:
    """`value` when it is a JSON object; refused otherwise."""
    if not isinstance(value, dict):
        raise InvalidLabels('labels must be a JSON object of column name to label, e.g. {"Income": "Household '
                            'income"}.')
    return value


def checked(labels: dict[str, Any], columns: list[str]) -> dict[str, str]:
    """`labels` once every key names a column and every value is a short one-line string; a label that is
    blank after trimming is dropped (it un-labels the column)."""
    known = set(columns)
    unknown = [key for key in labels if key not in known]
    if unknown:
        raise UnknownColumn(f"labels name unknown columns {shown(unknown)}; the columns are "
                            f"{shown(columns, limit=2000)}.", details={"unknown_columns": [shown(k, quoted=False)
                                                                                         for k in unknown[:20]]})
    result: dict[str, str] = {}
    for key, value in labels.items():
        if not isinstance(value, str):
            raise InvalidLabels(f"the label of {shown(key)} must be a string, not {type(value).__name__}.")
        text = value.strip()
        if text:  # the one rule for names (analysis.names): one line, no control or bidi characters
            result[key] = name_rule.check(text, f"the label of {shown(key)},", MAX_LABEL_CHARS, InvalidLabels)
    return result


def of(meta: DatasetMeta) -> dict[str, str]:
    """The labels stored with a dataset (none for one stored before labels existed)."""
    return dict(meta.labels or {})


def shown_name(labels: dict[str, str], column: str) -> str:
    """The words a summary uses for `column`: its label when it has one (docs/datasets.md, "Labels")."""
    return labels.get(column, column)
