"""How summaries write numbers and name rows (analysis.wording): positional notation with thousands
separators and at least 3 significant digits from 0.001 to 10^9, rows by their ids."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis import comparison, wording


@pytest.mark.parametrize(("value", "text"), [
    (77_330.4, "77,330"), (76_760.0, "76,760"), (2_951.7, "2,952"), (0.9489, "0.949"), (0.001234, "0.00123"),
    (12.3456, "12.3"), (-1_234_567.8, "-1,234,568"), (999_999_999.0, "999,999,999"), (3_000_000_000.0, "3e+09"),
    (0.0004, "0.0004"), (0.0, "0"), (42, "42"), (1_500, "1,500"), (float("nan"), "nan"), ("yes", "yes"),
])
def test_numbers_are_written_positionally_with_three_significant_digits(value: object, text: str) -> None:
    assert wording.number(value) == text


def test_signed_numbers_keep_their_sign() -> None:
    assert (wording.signed(2_950.4), wording.signed(-0.0123), wording.signed(0.0)) == ("+2,950", "-0.0123", "0")


def test_rows_are_named_by_their_ids_and_a_shared_id_by_its_position() -> None:
    ids = {"zip": ["Z1", "Z2", "Z1", None], "area": ["north", "south", "north", None]}
    assert wording.row_names(ids, 4) == ["Z1 / north (row 0)", "Z2 / south", "Z1 / north (row 2)", "row 3"]
    assert wording.row_names({}, 2) == ["row 0", "row 1"]


def test_a_comparison_summary_writes_plain_numbers() -> None:
    """It wrote "mean predicted Income 7.733e+04 vs 7.676e+04" and "95% interval 2.95e+03 to 2.97e+03"."""
    rng = np.random.default_rng(1)
    values = rng.normal(scale=3_000, size=(200, 2))
    raw = 77_000 + values.sum(axis=1)
    membership = np.column_stack([np.arange(200) < 100, np.arange(200) >= 100])
    part = comparison.compare(values, raw, membership, ["a", "b"], ["x", "y"], {"a": [], "b": []})
    text = comparison.summary(part, "Income", {})
    assert "e+0" not in text and "mean predicted Income 7" in text and "," in text
    assert pd.Series([text]).str.contains(r"interval [+-][\d,]+\.?\d* to").all()
