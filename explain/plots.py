"""SHAP plots of a stored result, drawn by the shap library's own functions (shap.plots.bar, beeswarm,
waterfall, scatter, heatmap) on a shap.Explanation built from the result's arrays, with matplotlib's Agg
backend. Pure: arrays in, image bytes out (worker.plot_job reads Redis and stores the bytes). A feature is
shown by its label where the result gives it one (the Explanation's feature_names; docs/datasets.md, "Labels").

The interaction plot is shap.plots.scatter of an Explanation whose values are one stored pair's interaction
values (explain.interactions: the pair's whole interaction per row), x its first feature's values, coloured
by its second feature's values.

Which SHAP values are plotted (explain.run keeps, per row, only the explained output's values):
regression and binary results plot every row (a binary's values are log-odds of its positive class; the
other class's are their negation, so asking for it flips the signs); a multiclass result plots only the
rows whose explained (predicted) class is the class asked for, since no other class's values are stored.

Colours are the page's (web/static/page/charts.js): Okabe-Ito's colour-blind-safe blue for negative SHAP
values and vermillion for positive ones, given to shap through its own means: its style configuration
(`shap.plots._style.style_context`, the one way its bar and waterfall take colours) and the `color`/`cmap`
arguments of beeswarm, scatter and heatmap (matplotlib colormaps from blue to vermillion). Categories carry
no order: a dependence plot coloured by a text feature gives each category its own colour of the page's
Okabe-Ito palette, named in the legend, and the beeswarm draws a text feature's points in shap's neutral grey
(shap's beeswarm has one colour bar, for numbers, and leaves a non-numeric feature uncoloured) instead of a
low-to-high gradient in alphabetical order."""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import matplotlib

matplotlib.use("Agg")  # before pyplot: no display, no GUI toolkit, no thread

import matplotlib.pyplot as plt
import numpy as np
import shap
from matplotlib.colors import BoundaryNorm, Colormap, LinearSegmentedColormap, ListedColormap, to_hex, to_rgb
from shap.plots import _style as shap_style  # shap's own style configuration (experimental in 0.54)

from analysis import wording
from analysis.plot_spec import PlotSpec

# Rows drawn at most (a seeded sample beyond): a beeswarm or scatter of more points only takes longer to
# draw and overplots; a heatmap clusters its rows (quadratic in them). Bar and waterfall use every row.
ROWS_DRAWN = {"beeswarm": 5_000, "dependence": 5_000, "interaction": 5_000, "heatmap": 1_000}
SAMPLE_SEED = 0
DPI = 100
MISSING = "missing"  # how a plot displays a value the row does not have

# The page's palette (web/static/page/charts.js NEGATIVE, POSITIVE): Okabe-Ito blue and vermillion.
NEGATIVE = "#0072B2"
POSITIVE = "#D55E00"
# Categories (no order among them), as the page colours them (charts.js CATEGORY_COLOURS): Okabe & Ito (2008)
# without black, and grey last, for the eighth and later categories
CATEGORY_COLOURS = ("#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7", "#999999")
VALUE_COLOURS = LinearSegmentedColormap.from_list("okabe_ito_values", [NEGATIVE, POSITIVE])  # low -> high
SHAP_COLOURS = LinearSegmentedColormap.from_list("okabe_ito_diverging", [NEGATIVE, "#ffffff", POSITIVE])


def _lighter(colour: str) -> str:
    """Half-way to white: shap's secondary colours (error bars, lighter marks)."""
    red, green, blue = to_rgb(colour)
    return to_hex((0.5 + red / 2, 0.5 + green / 2, 0.5 + blue / 2))


STYLE = {"primary_color_positive": POSITIVE, "primary_color_negative": NEGATIVE,
         "secondary_color_positive": _lighter(POSITIVE), "secondary_color_negative": _lighter(NEGATIVE)}


class PlotRefused(ValueError):
    """The plot cannot be drawn from this result (e.g. no row has the class asked for); the message says why."""


@dataclass(frozen=True)
class Stored:
    """What a stored result holds for plots: SHAP values (rows x features, result order), the base value
    (a number, or one per class), the task, each row's explained class (multiclass), the model's classes
    (binary, multiclass), the rows' feature values (feature -> one value per row, None when missing), the
    features' labels (column -> label, where one exists) and an interactions result's top pairs
    ({"feature", "with", "values": one per row} each)."""

    features: list[str]
    values: np.ndarray
    base_value: float | dict[str, float]
    task: str
    explained_class: list[str] | None
    classes: list[str] | None
    feature_values: dict[str, list[Any]]
    labels: dict[str, str] = field(default_factory=dict)
    interaction_pairs: list[dict[str, Any]] = field(default_factory=list)
    target: str = "the target"  # by its label; results stored before plots named it have none
    row_names: list[str] = field(default_factory=list)  # per row, analysis.wording.row_names

    def name(self, column: str) -> str:
        """The words a plot shows for `column`: its label when it has one."""
        return self.labels.get(column, column)

    def scale(self, output_class: str | None) -> str | None:
        """What the plotted SHAP values are in, for a classification: log-odds of the binary class plotted
        (the positive class unless another is asked for), a multiclass class's score; None for a regression
        (they are in the target's own units)."""
        if self.task == "binary" and self.classes:
            return f"log-odds of {self.target} = {output_class or self.classes[1]}"
        return f"score of {self.target} = {output_class}" if self.task == "multiclass" else None


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
    return (every, -stored.values, -base) if _negated(stored, output_class) else (every, stored.values, base)


def _negated(stored: Stored, output_class: str | None) -> bool:
    """Whether the class asked for is a binary result's negative class, whose values are the stored ones negated."""
    return bool(stored.task == "binary" and stored.classes and output_class == stored.classes[0])


def _data(values: list[Any], rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(numbers for colours and axes, what is displayed) of one feature's values of `rows`: numbers as
    floats (missing: NaN); text as the position of each value among the sorted distinct values."""
    picked = [values[r] for r in rows.tolist()]
    display = np.array(picked, dtype=object)
    if any(isinstance(v, str) for v in picked):
        levels = {level: float(i) for i, level in enumerate(sorted({v for v in picked if v is not None}))}
        return np.array([np.nan if v is None else levels[v] for v in picked], dtype=float), display
    return np.array([np.nan if v is None else v for v in picked], dtype=float), display


def _uncoloured_categories(made: shap.Explanation) -> shap.Explanation:
    """The Explanation with each text feature's data as its text: shap's beeswarm draws a feature whose
    values are not numbers in its neutral grey, not on the value gradient (whose order would be alphabetical)."""
    display = np.asarray(made.display_data, dtype=object)
    data = np.asarray(made.data, dtype=object).copy()
    for column in range(data.shape[1]):
        if any(isinstance(v, str) for v in display[:, column]):
            data[:, column] = display[:, column]
    return shap.Explanation(values=made.values, base_values=made.base_values, data=data, display_data=display,
                            feature_names=made.feature_names)


def category_colours(codes: np.ndarray) -> ListedColormap:
    """A colormap giving category code i (text values as `_data` numbers them) the i-th Okabe-Ito colour under
    the discrete norm shap's scatter builds for a text colour feature (a BoundaryNorm over the codes present
    with one colour fewer than the map has): each category its own colour, none implying an order. The
    colour bar draws bin i's centre where the points draw code i (the last code is the norm's top edge), so
    both places get the category's colour."""
    known = codes[~np.isnan(codes)]
    low, high = (float(known.min()), float(known.max())) if len(known) else (0.0, 0.0)
    count = int(high - low) + 1
    size = count + 2
    colours = [CATEGORY_COLOURS[-1]] * size  # every colour the norm may pick is set below
    if count == 1:
        return ListedColormap([CATEGORY_COLOURS[0]] * size)
    bounds = np.linspace(low, high, min(int(high - low + 2), size - 1))
    norm = BoundaryNorm(bounds, size - 1)
    centres = (bounds[:-1] + bounds[1:]) / 2
    for code in range(count):
        colour = CATEGORY_COLOURS[min(code, len(CATEGORY_COLOURS) - 1)]
        colours[int(norm(low + code))] = colours[int(norm(centres[min(code, len(centres) - 1)]))] = colour
    return ListedColormap(colours)


def _scatter(column: shap.Explanation, color: shap.Explanation | str, **kwargs: Any) -> None:
    """shap's scatter in the page's colours: a text colour feature by category, a numeric one blue to
    vermillion."""
    cmap: Colormap = VALUE_COLOURS
    if not isinstance(color, str) and any(isinstance(v, str) for v in np.asarray(color.display_data)):
        cmap = category_colours(np.asarray(color.data, dtype=float))
    shap.plots.scatter(column, color=color, cmap=cmap, show=False, **kwargs)


def explanation(stored: Stored, output_class: str | None) -> tuple[shap.Explanation, np.ndarray]:
    """The shap.Explanation of the plotted rows, and their positions in the result."""
    rows, values, base = _output(stored, output_class)
    columns = [_data(stored.feature_values[name], rows) for name in stored.features]
    data = np.column_stack([c[0] for c in columns]) if columns else np.empty((len(rows), 0))
    display = np.column_stack([c[1] for c in columns]) if columns else np.empty((len(rows), 0), dtype=object)
    made = shap.Explanation(values=np.asarray(values, dtype=float), base_values=np.full(len(rows), base),
                            data=data, display_data=display, feature_names=[stored.name(f) for f in stored.features])
    return made, rows


def _sampled(made: shap.Explanation, limit: int | None) -> shap.Explanation:
    if limit is None or len(made.values) <= limit:
        return made
    keep = np.sort(np.random.default_rng(SAMPLE_SEED).choice(len(made.values), limit, replace=False))
    return made[keep]


def _waterfall(stored: Stored, made: shap.Explanation, rows: np.ndarray, spec: PlotSpec) -> None:
    at = np.flatnonzero(rows == spec.row)
    if not len(at):
        raise PlotRefused(f"row {spec.row} is not explained for the class {spec.output_class!r}; its waterfall "
                          "is drawn for its own explained class (omit class).")
    one = made[int(at[0])]
    # the waterfall writes "value = feature": a missing value as MISSING, not None. Only here: in the other
    # plots a string among a numeric column's display values changes how shap's scatter colours it
    shown = np.array([MISSING if v is None else v for v in one.display_data], dtype=object)
    one = shap.Explanation(values=one.values, base_values=one.base_values, data=one.data, display_data=shown,
                           feature_names=one.feature_names)
    shap.plots.waterfall(one, max_display=spec.max_display, show=False)
    plt.gca().set_title(_waterfall_title(stored, spec, float(one.base_values), float(one.values.sum())), fontsize=12)


def _waterfall_title(stored: Stored, spec: PlotSpec, base: float, total: float) -> str:
    """The row by its name, what f(x) is in, and for a binary result the probability beside the log-odds."""
    assert spec.row is not None
    name = stored.row_names[spec.row] if spec.row < len(stored.row_names) else f"row {spec.row}"
    scale = stored.scale(spec.output_class)
    if stored.task != "binary":
        return f"{name}: {scale}" if scale else f"{name}: predicted {stored.target}"
    return (f"{name}: f(x) in {scale}\nprobability {wording.number(_probability(base + total))} "
            f"(base {wording.number(_probability(base))})")


def _probability(log_odds: float) -> float:
    return float(1.0 / (1.0 + np.exp(-log_odds)))


def _dependence(made: shap.Explanation, spec: PlotSpec, features: list[str]) -> None:
    # columns by position: feature_names are labels, which need not be unique
    assert spec.feature is not None
    column = made[:, features.index(spec.feature)]
    if np.isnan(column.data).all():
        raise PlotRefused(f"feature {spec.feature!r} has no value in the plotted rows; nothing to draw.")
    _scatter(column, made[:, features.index(spec.color)] if spec.color else NEGATIVE)


def _interaction(stored: Stored, spec: PlotSpec) -> int:
    """Draw the pair's interaction values against `feature`'s values, coloured by `with_feature`'s; returns
    how many rows were plotted."""
    first, second = spec.feature, spec.with_feature
    assert first is not None and second is not None
    pair = next((p for p in stored.interaction_pairs if {p["feature"], p["with"]} == {first, second}), None)
    if pair is None:
        raise PlotRefused(f"the pair {first!r} and {second!r} is not among the top pairs this result stores.")
    rows, _, _ = _output(stored, spec.output_class)
    values = np.asarray(pair["values"], dtype=float)[rows] * (-1.0 if _negated(stored, spec.output_class) else 1.0)
    columns = [_data(stored.feature_values[name], rows) for name in (first, second)]
    made = _sampled(shap.Explanation(values=np.column_stack([values, values]),
                                     data=np.column_stack([c[0] for c in columns]),
                                     display_data=np.column_stack([c[1] for c in columns]),
                                     feature_names=[stored.name(first), stored.name(second)]),
                    ROWS_DRAWN["interaction"])
    if np.isnan(made[:, 0].data).all():
        raise PlotRefused(f"feature {first!r} has no value in the plotted rows; nothing to draw.")
    axes = plt.gca()
    _scatter(made[:, 0], made[:, 1], ax=axes)
    # shap's own y label would say "SHAP value for <first>": these are the pair's interaction values
    axes.set_ylabel(f"SHAP interaction value of\n{stored.name(first)} and {stored.name(second)}", fontsize=13)
    return len(rows)


def _heatmap(made: shap.Explanation, spec: PlotSpec) -> None:
    # shap orders the rows by hierarchical clustering, which needs two rows: one row stays as it is
    order: Any = shap.Explanation.hclust() if len(made.values) > 1 else np.arange(len(made.values))
    shap.plots.heatmap(made, instance_order=order, max_display=spec.max_display, cmap=SHAP_COLOURS, show=False)


_DRAW: dict[str, Callable[[shap.Explanation, PlotSpec, list[str]], None]] = {
    "bar": lambda made, spec, _: shap.plots.bar(made, max_display=spec.max_display, show=False),
    "beeswarm": lambda made, spec, _: shap.plots.beeswarm(_uncoloured_categories(made), max_display=spec.max_display,
                                                          color=VALUE_COLOURS, show=False),
    "dependence": _dependence,
    "heatmap": lambda made, spec, _: _heatmap(made, spec),
}


def _draw(stored: Stored, spec: PlotSpec) -> int:
    """Draw the plot on the current figure; returns how many rows it plots."""
    if spec.kind == "interaction":
        return _interaction(stored, spec)
    made, rows = explanation(stored, spec.output_class)
    if spec.kind == "waterfall":
        _waterfall(stored, made, rows, spec)
    else:
        _DRAW[spec.kind](_sampled(made, ROWS_DRAWN.get(spec.kind)), spec, stored.features)
    return len(rows)


def _label_scale(scale: str | None) -> None:
    """Say on every axis that shows SHAP values what they are in (a classification's log-odds or score):
    shap's own labels say only "SHAP value"."""
    if scale is None:
        return
    for axes in plt.gcf().axes:
        for get, put in ((axes.get_xlabel, axes.set_xlabel), (axes.get_ylabel, axes.set_ylabel)):
            if "SHAP" in get():
                put(f"{get()}\n({scale})")


def render(stored: Stored, spec: PlotSpec) -> bytes:
    """The plot as PNG or SVG bytes; PlotRefused when this result cannot give it."""
    plt.close("all")
    try:
        with shap_style.style_context(**STYLE):
            rows = _draw(stored, spec)
        _label_scale(stored.scale(spec.output_class))
        if spec.output_class is not None:  # whose values these are: not the default output
            plt.gcf().suptitle(f"class {spec.output_class!r}" + (
                f": the {rows} rows predicted as it" if stored.task == "multiclass" else ""), y=1.02)
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
