"""analysis.questions: the web's reading of a target's task from the stored column statistics, kept in step
with the worker's explain.training.infer_task on the frame itself."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis import datasets
from analysis.questions import task_of
from explain.training import infer_task

ROWS = 40
TARGETS = {
    "amount": np.linspace(0.0, 9.0, ROWS),
    "count": np.arange(ROWS) % 7,
    "flag": np.arange(ROWS) % 2,
    "flag_with_gaps": np.where(np.arange(ROWS) % 5 == 0, np.nan, np.arange(ROWS) % 2),
    "yes_no": np.where(np.arange(ROWS) % 3 == 0, "yes", "no"),
    "region": np.array(["north", "south", "east", "west"])[np.arange(ROWS) % 4],
    "true_false": np.where(np.arange(ROWS) % 2 == 0, "true", "false"),
}


@pytest.fixture(scope="module")
def described() -> tuple[dict, pd.DataFrame]:
    frame = pd.DataFrame({"x": np.arange(ROWS, dtype=float), **TARGETS})
    return datasets.describe(datasets.to_csv_bytes(frame), datasets.DatasetOptions(), name="t", max_rows=1000)


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_the_web_reads_the_same_task_the_worker_infers(described: tuple[dict, pd.DataFrame], target: str) -> None:
    """Numeric, binary (numbers, strings, with gaps) and multiclass targets: one task on both sides."""
    meta, frame = described
    assert task_of(meta, target) == infer_task(frame[target])


def test_the_comparison_can_fail(described: tuple[dict, pd.DataFrame]) -> None:
    """Statistics that disagree with the frame (a two-valued column described as having five) are seen."""
    meta, frame = described
    wrong = {**meta, "columns": [{**c, "unique": 5} if c["name"] == "flag" else c for c in meta["columns"]]}
    assert task_of(wrong, "flag") != infer_task(frame["flag"])
