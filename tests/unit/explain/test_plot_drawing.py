"""explain.plots in-process: which SHAP values a plot shows for each task, and that shap draws them."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.plot_spec import PlotSpec
from explain import plots


def stored(task: str) -> plots.Stored:
    values = np.array([[1.0, -2.0], [0.5, 0.25], [-1.0, 3.0]])
    base: float | dict[str, float] = {"a": 0.1, "b": 0.2, "c": 0.3} if task == "multiclass" else 0.5
    classes = {"binary": ["no", "yes"], "multiclass": ["a", "b", "c"]}.get(task)
    return plots.Stored(features=["x", "c"], values=values, base_value=base, task=task,
                        explained_class=["a", "b", "a"] if task == "multiclass" else None, classes=classes,
                        feature_values={"x": [1.5, None, 3.0], "c": ["u", "w", None]})


def test_binary_negative_class_negates_values_and_base() -> None:
    """The other class's log-odds are the negation of the positive class's."""
    positive, _ = plots.explanation(stored("binary"), None)
    negative, rows = plots.explanation(stored("binary"), "no")
    assert np.array_equal(negative.values, -positive.values) and list(rows) == [0, 1, 2]
    assert np.allclose(negative.base_values, -0.5)


def test_multiclass_keeps_only_the_rows_explained_for_the_class() -> None:
    """Rows 0 and 2 were explained for class a: only they are plotted, over a's base value."""
    made, rows = plots.explanation(stored("multiclass"), "a")
    assert list(rows) == [0, 2] and np.allclose(made.base_values, 0.1)
    assert made.values.tolist() == [[1.0, -2.0], [-1.0, 3.0]]


def test_categories_are_coded_for_colour_and_shown_as_text() -> None:
    """A text feature's values become level positions (missing: NaN) and stay text where displayed."""
    made, _ = plots.explanation(stored("regression"), None)
    assert made.data[:, 1].tolist()[:2] == [0.0, 1.0] and np.isnan(made.data[2, 1]) and np.isnan(made.data[1, 0])
    assert made.display_data[:, 1].tolist() == ["u", "w", None]


def test_a_waterfall_shows_a_missing_value_as_missing() -> None:
    """Row 1 has no x: its step reads 'missing = x' (it read 'None = x')."""
    svg = plots.render(stored("regression"), PlotSpec(kind="waterfall", row=1, format="svg")).decode()
    assert "missing = x" in svg and "None" not in svg


def test_a_class_no_row_was_explained_for_is_refused() -> None:
    """A multiclass plot of a class no row was predicted as has nothing to show: PlotRefused says so."""
    with pytest.raises(plots.PlotRefused, match="no explained row"):
        plots.render(stored("multiclass"), PlotSpec(kind="bar", output_class="c"))


def test_the_same_plot_gives_the_same_svg() -> None:
    """SVG output carries no date: a plot drawn twice is byte-identical."""
    spec = PlotSpec(kind="bar", format="svg")
    assert plots.render(stored("regression"), spec) == plots.render(stored("regression"), spec)


@pytest.mark.parametrize("kind", ["bar", "beeswarm", "heatmap", "dependence", "waterfall"])
def test_one_row_is_drawn_by_every_kind(kind: str) -> None:
    """A result of one explained row (or a class predicted once) still gives every plot: the heatmap, which
    clusters its rows, leaves a single row unclustered."""
    one = plots.Stored(features=["x", "c"], values=np.array([[0.3, -0.1]]), base_value=0.5, task="regression",
                       explained_class=None, classes=None, feature_values={"x": [1.0], "c": ["u"]})
    spec = PlotSpec(kind=kind, row=0 if kind == "waterfall" else None, feature="x" if kind == "dependence" else None)
    assert plots.render(one, spec).startswith(b"\x89PNG")


def test_labels_are_the_names_a_plot_shows() -> None:
    """A labelled feature is shown by its label (the SVG's text), an unlabelled one by its column name."""
    labelled = plots.Stored(**{**stored("regression").__dict__, "labels": {"x": "Household income"}})
    svg = plots.render(labelled, PlotSpec(kind="bar", format="svg")).decode()
    assert "Household income" in svg and ">x<" not in svg.replace(" ", "")
    dependence = plots.render(labelled, PlotSpec(kind="dependence", feature="x", color="c", format="svg")).decode()
    assert "Household income" in dependence


def test_the_interaction_plot_shows_the_pair_values_of_the_class_asked() -> None:
    """A stored pair is drawn in either order; a binary's negative class negates its values; a pair the result
    does not store is refused."""
    pair = {"feature": "x", "with": "c", "values": [0.2, -0.1, 0.4]}
    binary = plots.Stored(**{**stored("binary").__dict__, "interaction_pairs": [pair]})
    spec = PlotSpec(kind="interaction", feature="c", with_feature="x", format="svg")
    assert "interaction" in plots.render(binary, spec).decode()
    positive = plots.render(binary, PlotSpec(kind="interaction", feature="x", with_feature="c"))
    negative = plots.render(binary, PlotSpec(kind="interaction", feature="x", with_feature="c", output_class="no"))
    assert positive.startswith(b"\x89PNG") and negative != positive
    with pytest.raises(plots.PlotRefused, match="not among the top pairs"):
        plots.render(stored("binary"), spec)


def test_a_binary_plot_says_its_values_are_log_odds_of_the_positive_class_and_names_the_row() -> None:
    """The waterfall's title names the row by its id and gives the probability beside the log-odds; every
    axis of SHAP values says they are log-odds of the positive class (it said "model output (raw)")."""
    binary = stored("binary")
    named = plots.Stored(**{**binary.__dict__, "target": "churned", "row_names": ["C0001", "C0259", "row 2"]})
    svg = plots.render(named, PlotSpec(kind="waterfall", row=1, format="svg")).decode()
    assert "C0259: f(x) in log-odds of churned = yes" in svg and "probability 0.777 (base 0.622)" in svg  # f(x) = 1.25
    beeswarm = plots.render(named, PlotSpec(kind="beeswarm", format="svg")).decode()
    assert "(log-odds of churned = yes)" in beeswarm
    other = plots.render(named, PlotSpec(kind="bar", format="svg", output_class="no")).decode()
    assert "(log-odds of churned = no)" in other
    assert "log-odds" not in plots.render(stored("regression"), PlotSpec(kind="bar", format="svg")).decode()


SHAPS_OWN = ("#ff0051", "#008bfb", "#1e88e5")  # shap's red, blue and scatter default: never drawn by the service


@pytest.mark.parametrize("kind", ["bar", "waterfall", "beeswarm", "dependence", "heatmap"])
def test_plots_use_the_pages_okabe_ito_colours(kind: str) -> None:
    """Every kind is drawn in the page's blue and vermillion (charts.js NEGATIVE, POSITIVE), none in shap's
    pink and blue."""
    spec = PlotSpec(kind=kind, format="svg", row=0 if kind == "waterfall" else None,
                    feature="x" if kind == "dependence" else None)
    svg = plots.render(stored("regression"), spec).decode().lower()
    assert not [colour for colour in SHAPS_OWN if colour in svg]
    if kind in ("bar", "waterfall"):
        assert plots.NEGATIVE.lower() in svg or plots.POSITIVE.lower() in svg


def test_the_page_and_the_plots_share_the_palette() -> None:
    """The constants are the page's own (web/static/page/charts.js)."""
    from pathlib import Path

    charts = (Path(__file__).parents[3] / "web" / "static" / "page" / "charts.js").read_text()
    assert f'export const NEGATIVE = "{plots.NEGATIVE}";' in charts
    assert f'export const POSITIVE = "{plots.POSITIVE}";' in charts
    declared = charts.split("export const CATEGORY_COLOURS = [", 1)[1].split("]", 1)[0]
    assert tuple(colour.strip().strip('"') for colour in declared.split(",")) == plots.CATEGORY_COLOURS


def categories(count: int) -> plots.Stored:
    rng = np.random.default_rng(0)
    rows = 60
    names = [f"level {chr(ord('z') - i)}" for i in range(count)]  # alphabetical order is not the colour order
    return plots.Stored(features=["x", "c"], values=rng.normal(size=(rows, 2)), base_value=0.0, task="regression",
                        explained_class=None, classes=None,
                        feature_values={"x": rng.normal(size=rows).tolist(),
                                        "c": [names[i % count] for i in range(rows)]})


@pytest.mark.parametrize("count", [2, 3, 5, 8])
def test_a_dependence_plot_gives_each_category_its_own_colour(count: int) -> None:
    """Coloured by a text feature, each category gets a distinct Okabe-Ito colour (no gradient)."""
    import matplotlib.pyplot as plt
    from matplotlib.colors import to_hex

    plt.close("all")
    with plots.shap_style.style_context(**plots.STYLE):
        plots._draw(categories(count), PlotSpec(kind="dependence", feature="x", color="c"))
    plt.gcf().canvas.draw()  # mapped colours are resolved when drawn
    points = max(plt.gcf().axes[0].collections, key=lambda c: len(c.get_offsets()))
    colours = {to_hex(rgba[:3]) for rgba in points.get_facecolors()}
    plt.close("all")
    palette = {c.lower() for c in plots.CATEGORY_COLOURS}
    assert len(colours) == count and colours <= palette


def test_the_beeswarm_leaves_categories_uncoloured() -> None:
    """A text feature's points are shap's neutral grey, not a low-to-high gradient in alphabetical order."""
    import matplotlib.pyplot as plt
    from matplotlib.colors import to_hex

    plt.close("all")
    plots._draw(categories(4), PlotSpec(kind="beeswarm"))
    plt.gcf().canvas.draw()
    colours = [{to_hex(rgba[:3]) for rgba in c.get_facecolors()} for c in plt.gcf().axes[0].collections
               if len(c.get_offsets())]
    plt.close("all")
    assert {"#777777"} in colours  # the text feature
    assert any(len(found) > 1 for found in colours)  # the numeric one, on the value gradient
