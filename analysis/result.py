"""The result of an analysis, typed: what explain.run builds, what the question and interaction parts add to,
what the worker stores and reads back, and what analysis.encoding streams as the result's JSON (README and
docs: "The result"). Its per-row parts are columnar (`ShapColumns`, `ResultRows`): rows are never all built
as objects, and the JSON is written piece by piece.

The JSON's fields, in order, are `success` and then `FIELDS` (a part is left out when it is None); the
OpenAPI document's AnalysisResult (web.api_models) and the Python client's result are tested against
them."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, fields
from typing import Any

from analysis.explained import ResultRows, ShapColumns
from analysis.model_meta import Metrics


@dataclass(frozen=True)
class ModelInfo:
    """The result's `model`: which model explained the rows, and how good it is on held-out rows."""

    task: str
    metrics: Metrics
    trained_rows: int
    features: list[str]
    id: str
    trained_in_this_job: bool
    # a binary model's positive class: its raw scores and SHAP values are log-odds of it (docs/summary.md)
    positive_class: str | None = None
    trees: int | None = None  # how many trees the model has (None: a model stored before it was recorded)
    params: dict[str, Any] = field(default_factory=dict)  # the training parameters, as CatBoost took them

    def to_json(self) -> dict[str, Any]:
        found = {"task": self.task, "metrics": self.metrics.as_dict(), "trained_rows": self.trained_rows,
                 "features": self.features, "id": self.id, "trained_in_this_job": self.trained_in_this_job}
        found |= {"positive_class": self.positive_class} if self.positive_class is not None else {}
        return found | {"trees": self.trees, "params": self.params}


@dataclass(frozen=True)
class VersionInfo:
    """The result's `version_info`: the dataset version the rows were read from and the model's id."""

    dataset_version: str
    model_version: str

    def to_json(self) -> dict[str, str]:
        return {"dataset_version": self.dataset_version, "model_version": self.model_version}


@dataclass
class Result:
    """One analysis's result (module docstring). Mutable while it is built: a question replaces the summary
    and adds its part, the worker adds its timings and warnings."""

    analysis_type: str
    target_variable: str
    dataset: str
    explained_rows: int
    selected_rows: int
    summary: str
    feature_importance: list[dict[str, Any]]
    shap_values: ShapColumns
    base_value: Any  # a number, or per class for a multiclass model
    results: ResultRows
    model: ModelInfo
    version_info: VersionInfo
    warnings: list[str]
    # the parts of analysis types beyond the ordinary one (one at most)
    comparison: dict[str, Any] | None = None
    scenarios: list[dict[str, Any]] | None = None
    interactions: dict[str, Any] | None = None
    timings: dict[str, Any] = field(default_factory=dict)

    def items(self) -> Iterator[tuple[str, Any]]:
        """The JSON's fields in order, as analysis.encoding writes them: `success`, then every field but an
        absent part; `model` and `version_info` as their JSON objects."""
        yield "success", True
        for name in FIELDS:
            value = getattr(self, name)
            if value is None and name in PARTS:
                continue
            yield name, value.to_json() if isinstance(value, ModelInfo | VersionInfo) else value


PARTS = ("comparison", "scenarios", "interactions")
FIELDS = tuple(f.name for f in fields(Result))
