"""Assertions several test suites make about the service's answers: the one error body, and additivity."""

from __future__ import annotations

from typing import Any

import numpy as np

ERROR_KEYS = {"success", "error", "code"}
ADDITIVE = 1e-6  # base value + a row's SHAP values = its raw prediction, within this


def assert_error(answer: dict[str, Any], code: str, *words: str) -> None:
    """`answer` is the one error body with `code`, and its message says each of `words`."""
    assert set(answer) - {"details"} == ERROR_KEYS, answer
    assert answer["success"] is False
    assert answer["code"] == code, answer
    for word in words:
        assert word in answer["error"], (word, answer["error"])


def assert_additive(result: dict[str, Any]) -> None:
    """A JSON result's SHAP values add up, row by row, to its raw predictions."""
    features = result["model"]["features"]
    matrix = np.array([result["shap_values"][f] for f in features], dtype=float)
    assert matrix.shape[1] == len(result["results"])
    raw = np.array([row["raw_prediction"] for row in result["results"]], dtype=float)
    assert np.max(np.abs(result["base_value"] + matrix.sum(axis=0) - raw)) < ADDITIVE
