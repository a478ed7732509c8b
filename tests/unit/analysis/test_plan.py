"""analysis.plan: the web decides target, task, features and rows once; the worker reads them from the plan.
The task has one rule (analysis.datasets.task_of), read from the stored statistics at the web and from the
target's values when training runs without a plan."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis import datasets
from analysis.plan import AnalysisPlan, PlanLimits, explained_rows, make_plan
from analysis.request import AnalyzeRequest
from explain.training import checked_task, train

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
LIMITS = PlanLimits(max_rows=1000, what_if_max_cells=10**9, interaction_max_rows=500)


@pytest.fixture(scope="module")
def described() -> tuple[dict, pd.DataFrame]:
    frame = pd.DataFrame({"x": np.arange(ROWS, dtype=float), **TARGETS})
    return datasets.describe(datasets.to_csv_bytes(frame), datasets.DatasetOptions(), name="t", max_rows=1000)


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_the_stored_statistics_and_the_values_give_one_task(described: tuple[dict, pd.DataFrame],
                                                           target: str) -> None:
    """Numeric, binary (numbers, strings, with gaps) and multiclass targets: the one rule, read from the
    stored statistics (the web's plan) or from the values (training without a plan), gives one task."""
    meta, frame = described
    assert datasets.task_of(meta.column(target)) == checked_task(frame[target])


def test_training_follows_the_plans_task(described: tuple[dict, pd.DataFrame]) -> None:
    """The worker does not decide the task again: a plan that says regression trains a regression even on a
    two-valued number column (the comparison of task sources can fail)."""
    _, frame = described
    assert checked_task(frame["flag"]) == "binary"
    _, model_meta = train(frame, "flag", ["x"], thread_count=1, task="regression")
    assert model_meta.task == "regression"


def test_a_plan_holds_what_the_web_decided(described: tuple[dict, pd.DataFrame]) -> None:
    """Target (the dataset's columns resolved), task, features and the explained rows' count travel as one
    typed object through RQ's JSON, and select the same rows again on the same version."""
    meta, frame = described
    request = AnalyzeRequest(dataset="t", target_variable="region", demographic_filters=["x > 9"])
    plan, selection = make_plan(frame, meta, request, LIMITS)
    assert (plan.target, plan.task, plan.dataset_version) == ("region", "multiclass", meta.version)
    assert "region" not in plan.features and "x" in plan.features
    assert plan.explained_rows == len(selection.frame) == ROWS - 10
    again = AnalysisPlan.model_validate(plan.model_dump())
    assert again == plan
    assert list(explained_rows(frame, meta, again).frame.index) == list(selection.frame.index)


def test_interactions_plans_carry_their_row_cap(described: tuple[dict, pd.DataFrame]) -> None:
    meta, frame = described
    plan, selection = make_plan(frame, meta, AnalyzeRequest(dataset="t", target_variable="amount",
                                                             analysis_type="interactions"),
                                PlanLimits(max_rows=1000, what_if_max_cells=10**9, interaction_max_rows=15))
    assert plan.row_cap == 15 and plan.explained_rows == len(selection.frame) == 15
