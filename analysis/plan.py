"""The analysis plan: what the web decides about a request, once, before anything is enqueued: the dataset
version it was checked against, the target, the task, the features and the rules that pick the explained
rows. The job carries the plan (RQ's JSON serializer, `AnalysisPlan.model_dump`) and the worker does not
decide any of it again: it trains the plan's features for the plan's task and explains the rows the plan's
rules select in the plan's dataset version.

The rows themselves do not travel (up to MAX_ROWS positions): `explained_rows` applies the same rules to the
same version, which selects the same rows (filters are exact, samples seeded), and the plan records how many
there were so the worker can tell it explains what the web accepted."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from pydantic import BaseModel, ConfigDict

from analysis import datasets, features, questions, selection
from analysis.comparison import select_cohorts
from analysis.dataset_meta import DatasetMeta
from analysis.datasets import Task
from analysis.features import FeatureChoice
from analysis.request import AnalyzeRequest
from analysis.selection import Selection
from common.settings import Settings


@dataclass(frozen=True)
class PlanLimits:
    """The settings a plan is checked against (MAX_ROWS, WHAT_IF_MAX_CELLS, INTERACTION_MAX_ROWS)."""

    max_rows: int
    what_if_max_cells: int
    interaction_max_rows: int

    @classmethod
    def of(cls, settings: Settings) -> PlanLimits:
        return cls(settings.max_rows, settings.what_if_max_cells, settings.interaction_max_rows)


class AnalysisPlan(BaseModel):
    """One accepted analysis, decided once (module docstring)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    request: AnalyzeRequest  # as the client sent it, its target_variable resolved
    dataset_version: str
    target: str
    task: Task
    # a binary target's positive class (analysis.datasets.positive_class): the model is trained with it as
    # CatBoost's second class, so its raw scores and SHAP values are log-odds of it; None otherwise
    positive_class: str | None = None
    features: list[str]
    constant: list[str]  # dropped from the features: a single value
    near_empty: list[str]  # dropped from the features: mostly missing
    max_rows: int  # the selection's cap (MAX_ROWS when the plan was made)
    row_cap: int | None  # interactions: INTERACTION_MAX_ROWS when the plan was made
    explained_rows: int

    @property
    def feature_choice(self) -> FeatureChoice:
        return FeatureChoice(list(self.features), list(self.constant), list(self.near_empty))


def make_plan(frame: pd.DataFrame, meta: DatasetMeta, request: AnalyzeRequest,
              limits: PlanLimits) -> tuple[AnalysisPlan, Selection]:
    """Check `request` against the dataset (`meta` and its `frame`) and decide everything the job needs;
    every refusal is a 400 saying what to change. Returns the plan and the rows it explains (POST
    /filters/validate reports them)."""
    target = datasets.resolve_target(meta, request.target_variable)
    resolved = request.model_copy(update={"target_variable": target})
    choice = features.choose_features(meta, target, resolved.exclude_columns)  # a 400 when none is left
    chosen = selection.select_rows(frame, meta, resolved, limits.max_rows)
    explained = questions.check(frame, meta, resolved, chosen, limits.max_rows,
                                what_if_max_cells=limits.what_if_max_cells)
    row_cap = limits.interaction_max_rows if resolved.analysis_type == "interactions" else None
    if row_cap is not None:
        explained = selection.capped(explained, row_cap)
    task = datasets.task_of(meta.column(target))
    plan = AnalysisPlan(
        request=resolved, dataset_version=meta.version, target=target, task=task,
        positive_class=datasets.positive_class(meta, target, task, resolved.positive_class), features=choice.features,
        constant=choice.constant, near_empty=choice.near_empty, max_rows=limits.max_rows, row_cap=row_cap,
        explained_rows=len(explained.frame))
    return plan, explained


def explained_rows(frame: pd.DataFrame, meta: DatasetMeta, plan: AnalysisPlan) -> Selection:
    """The rows `plan` explains, selected by the plan's rules in the dataset version it was made on."""
    request = plan.request
    chosen = (select_cohorts(frame, meta, request, plan.max_rows) if request.cohorts is not None
              else selection.select_rows(frame, meta, request, plan.max_rows))
    return selection.capped(chosen, plan.row_cap) if plan.row_cap is not None else chosen
