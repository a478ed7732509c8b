"""What a trained model is, beside its CatBoost bytes: its task, features, classes, held-out metrics, the
data warnings found while training, the range of values it saw and how it was trained. Built by
explain.training, stored as JSON beside the model (worker.model_store, keys.model_meta) and read by the
analysis, the data checks and the what-if; nothing reads it by key.

Models have no TTL, so a model stored by an earlier build must load: every field the earlier builds did not
write has a default, and the JSON written today is the same as theirs (`to_json`)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from analysis.datasets import Task


class Metrics(BaseModel):
    """Held-out metrics: rmse, mae and r2 for a regression; accuracy, log_loss and majority_accuracy for a
    classification, auc for a binary one. None of them when no rows were held out."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    rmse: float | None = None
    mae: float | None = None
    r2: float | None = None
    accuracy: float | None = None
    log_loss: float | None = None
    majority_accuracy: float | None = None
    auc: float | None = None
    holdout_rows: int | None = None

    def as_dict(self) -> dict[str, float | int | None]:
        """The metrics as the result shows them: the ones measured for this task, unmeasured ones left out."""
        return self.model_dump(exclude_unset=True)


class Leak(BaseModel):
    """A numeric feature that nearly determines the target (analysis.data_checks.leaks), with its measure."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    feature: str
    one_feature_auc: float | None = None  # binary targets
    abs_spearman: float | None = None  # regressions

    @property
    def strength(self) -> float:
        return self.one_feature_auc if self.one_feature_auc is not None else self.abs_spearman or 0.0


class TrainingRange(BaseModel):
    """What the model saw: [min, max] of each numeric feature, the categories of each categorical one."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    numeric: dict[str, list[float]] = Field(default_factory=dict)
    categories: dict[str, list[str]] = Field(default_factory=dict)


class ModelMeta(BaseModel):
    """One trained model's metadata (module docstring)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    task: Task
    features: list[str]
    cat_features: list[str]
    trained_rows: int
    metrics: Metrics = Field(default_factory=Metrics)
    classes: list[str] | None = None  # a classification's classes, in CatBoost's order; None for a regression
    leaks: list[Leak] = Field(default_factory=list)
    training_range: TrainingRange | None = None
    params: dict[str, Any] = Field(default_factory=dict)  # the training parameters, as CatBoost took them
    trees: int | None = None
    training_seconds: float | None = None
    trained_at: float | None = None
    # set by worker.model_store when the model is stored
    id: str | None = None
    dataset_version: str | None = None
    target: str | None = None
    shap_engine_note: str | None = None

    @property
    def class_names(self) -> list[str]:
        """A classification's classes in CatBoost's order (the binary positive class last); [] for a regression."""
        return self.classes or []

    def to_json(self) -> bytes:
        """The stored form: the fields that were set, as earlier builds wrote them."""
        return self.model_dump_json(exclude_unset=True).encode()
