"""SHAP plots of a stored result, drawn by the shap library's own functions (shap.plots.bar, beeswarm,
waterfall, scatter, heatmap) on a shap.Explanation built from the result's arrays, with matplotlib's Agg
backend. Pure: arrays in, image bytes out (worker.plots reads Redis and stores the bytes).

Which SHAP values are plotted (explain.analysis keeps, per row, only the explained output's values):
regression and binary results plot every row (a binary's values are log-odds of its positive class; the
other class's are their negation, so asking for it flips the signs); a multiclass result plots only the
rows whose explained (predicted) class is the class asked for, since no other class's values are stored."""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import matplotlib

matplotlib.use("Agg")  # before pyplot: no display, no GUI toolkit, no thread

import matplotlib.pyplot as plt
import numpy as np
import shap

from common.plot_spec import PlotSpec

# Rows drawn at most (a seeded sample beyond): a beeswarm or scatter of more points only takes longer to
# draw and overplots; a heatmap clusters its rows (quadratic in them). Bar and waterfall use every row.
ROWS_DRAWN = {"beeswarm": 5_000, "dependence": 5_000, "heatmap": 1_000}
SAMPLE_SEED = 0
DPI = 100


class PlotRefused(ValueError):
    """The plot cannot be drawn from this result (e.g. no row has the class asked for); the message says why."""


@dataclass(frozen=True)
class Stored:
    """What a stored result holds for plots: SHAP values (rows x features, result order), the base value
    (a number, or one per class), the task, each row's explained class (multiclass), the model's classes
    (binary, multiclass), and the rows' feature values (feature -> one value per row, None when missing)."""

    features: list[str]
    values: np.ndarray
    base_value: float | dict[str, float]
    task: str
    explained_class: list[str] | None
    classes: list[str] | None
    feature_values: dict[str, list[Any]]


def _output(stored: Stored, output_class: str | None) -> tuple[np.ndarray, np.ndarray, float]:
    """(positions of the plotted rows, their SHAP values, the base value) for the class asked for."""
    every = np.arange(len(stored.values))
    if stored.task == "multiclass":
        assert isinstance(stored.base_value, dict) and stored.explained_class is not None
        if output_class is None or output_class not in stored.base_value:
            raise PlotRefused(f"class must name one of the classes {list(stored.base_value)}.")
        rows = np.flatnonzero(np.asarray(stored.explained_class, dtype=object) == output_class)
        if not len(rows):
            raise PlotRefused(f"no explained row has the class {output_class!r} (each row is explained for its "
                              "predicted class only); ask for another class.")
        return rows, stored.values[rows], float(stored.base_value[output_class])
    base = float(stored.base_value) if not isinstance(stored.base_value, dict) else 0.0
    negative = stored.task == "binary" and stored.classes and output_class == stored.classes[0]
    return (every, -stored.values, -base) if negative else (every, stored.values, base)


def _data(values: list[Any], rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(numbers for colours and axes, what is displayed) of one feature's values of `rows`: numbers as
    floats (missing: NaN); text as the position of each value among the sorted distinct values."""
    picked = [values[r] for r in rows.tolist()]
    display = np.array(picked, dtype=object)
    if any(isinstance(v, str) for v in picked):
        levels = {level: float(i) for i, level in enumerate(sorted({v for v in picked if v is not None}))}
        return np.array([np.nan if v is None else levels[v] for v in picked], dtype=float), display
    return np.array([np.nan if v is None else v for v in picked], dtype=float), display


def explanation(stored: Stored, output_class: str | None) -> tuple[shap.Explanation, np.ndarray]:
    """The shap.Explanation of the plotted rows, and their positions in the result."""
    rows, values, base = _output(stored, output_class)
    columns = [_data(stored.feature_values[name], rows) for name in stored.features]
    data = np.column_stack([c[0] for c in columns]) if columns else np.empty((len(rows), 0))
    display = np.column_stack([c[1] for c in columns]) if columns else np.empty((len(rows), 0), dtype=object)
    made = shap.Explanation(values=np.asarray(values, dtype=float), base_values=np.full(len(rows), base),
                            data=data, display_data=display, feature_names=list(stored.features))
    return made, rows


def _sampled(made: shap.Explanation, limit: int | None) -> shap.Explanation:
    if limit is None or len(made.values) <= limit:
        return made
    keep = np.sort(np.random.default_rng(SAMPLE_SEED).choice(len(made.values), limit, replace=False))
    return made[keep]


def _waterfall(made: shap.Explanation, rows: np.ndarray, spec: PlotSpec) -> None:
    at = np.flatnonzero(rows == spec.row)
    if not len(at):
        raise PlotRefused(f"row {spec.row} is not explained for the class {spec.output_class!r}; its waterfall "
                          "is drawn for its own explained class (omit class).")
    shap.plots.waterfall(made[int(at[0])], max_display=spec.max_display, show=False)


def _dependence(made: shap.Explanation, spec: PlotSpec) -> None:
    assert spec.feature is not None
    if np.isnan(made[:, spec.feature].data).all():
        raise PlotRefused(f"feature {spec.feature!r} has no value in the plotted rows; nothing to draw.")
    color = made[:, spec.color] if spec.color else "#1E88E5"
    shap.plots.scatter(made[:, spec.feature], color=color, show=False)


def _heatmap(made: shap.Explanation, spec: PlotSpec) -> None:
    # shap orders the rows by hierarchical clustering, which needs two rows: one row stays as it is
    order: Any = shap.Explanation.hclust() if len(made.values) > 1 else np.arange(len(made.values))
    shap.plots.heatmap(made, instance_order=order, max_display=spec.max_display, show=False)


_DRAW: dict[str, Callable[[shap.Explanation, PlotSpec], None]] = {
    "bar": lambda made, spec: shap.plots.bar(made, max_display=spec.max_display, show=False),
    "beeswarm": lambda made, spec: shap.plots.beeswarm(made, max_display=spec.max_display, show=False),
    "dependence": _dependence,
    "heatmap": lambda made, spec: _heatmap(made, spec),
}


def render(stored: Stored, spec: PlotSpec) -> bytes:
    """The plot as PNG or SVG bytes; PlotRefused when this result cannot give it."""
    made, rows = explanation(stored, spec.output_class)
    plt.close("all")
    try:
        if spec.kind == "waterfall":
            _waterfall(made, rows, spec)
        else:
            _DRAW[spec.kind](_sampled(made, ROWS_DRAWN.get(spec.kind)), spec)
        if spec.output_class is not None:  # whose values these are: not the default output
            plt.gcf().suptitle(f"class {spec.output_class!r}" + (
                f": the {len(rows)} rows predicted as it" if stored.task == "multiclass" else ""), y=1.02)
        out = io.BytesIO()
        metadata = {"Date": None} if spec.format == "svg" else {}  # the same plot, the same bytes:
        with matplotlib.rc_context({"svg.hashsalt": "shap-microservice"}):  # no date, no random ids
            plt.gcf().savefig(out, format=spec.format, dpi=DPI, bbox_inches="tight", metadata=metadata)
        return out.getvalue()
    finally:
        plt.close("all")


def warm_up() -> None:
    """Draw and save one small figure, so a worker parent has loaded matplotlib's fonts and renderers before
    it forks (each horse would otherwise pay it on its first plot). Starts no thread."""
    figure = plt.figure(figsize=(1, 1))
    figure.gca().text(0.5, 0.5, "x")
    figure.savefig(io.BytesIO(), format="png")
    figure.savefig(io.BytesIO(), format="svg")
    plt.close(figure)
