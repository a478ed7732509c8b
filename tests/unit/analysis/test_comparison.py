"""Cohort comparison (analysis_type comparison), in-process on small frames: the additive decomposition,
the seeded bootstrap, the cohorts' rows, and the refusals."""

from __future__ import annotations

import numpy as np
import orjson
import pandas as pd
import pytest
from pydantic import ValidationError

from analysis import comparison, datasets
from analysis.encoding import encode
from analysis.request import AnalyzeRequest
from common.errors import EmptySelection, UnknownColumn
from devtools.tables import areas, areas_with_gaps
from explain.run import analyze
from explain.training import TrainedModel, train
from store import reuse

ADDITIVE = 1e-6




def run(task: str, groups: dict[str, list[str]], **fields) -> dict:
    meta, frame = areas(task)
    model, model_meta = train(frame, "y", datasets.feature_columns(meta, "y"), thread_count=1)
    request = AnalyzeRequest(dataset="t", analysis_type="comparison", cohorts=groups, **fields)
    result = analyze(frame, meta, request, "y", TrainedModel("t", model, model_meta), thread_count=1, batch_size=64,
                     max_rows=10_000)
    return orjson.loads(encode(result))


@pytest.mark.parametrize("task", ["regression", "binary"])
def test_mean_shap_differences_add_up_to_the_difference_of_mean_predictions(task: str) -> None:
    """Per pair, the features' differences of mean SHAP sum to the difference of mean raw predictions (1e-6),
    and their shares to 1."""
    result = run(task, {"x": ["c == x"], "not x": ["c != x"], "high a": ["a > 0.5"]})
    raw = np.array([row["raw_prediction"] for row in result["results"]])
    by_name = {c["name"]: c for c in result["comparison"]["cohorts"]}
    for item in result["comparison"]["pairs"]:
        first, second = (by_name[name] for name in item["cohorts"])
        assert item["mean_prediction"][0] == pytest.approx(raw[first["positions"]].mean(), abs=ADDITIVE)
        expected = raw[first["positions"]].mean() - raw[second["positions"]].mean()
        assert abs(sum(f["difference"] for f in item["features"]) - expected) < ADDITIVE
        assert abs(item["difference"] - expected) < ADDITIVE
        assert sum(f["share"] for f in item["features"]) == pytest.approx(1.0, abs=1e-6)
    assert result["comparison"]["scale"] == ("prediction" if task == "regression" else "log_odds")


def test_cohort_means_are_those_of_their_rows_shap_values() -> None:
    """A cohort's mean SHAP and mean |SHAP| per feature are those of its rows in `shap_values`."""
    result = run("regression", {"x": ["c == x"], "rest": []})
    shap = pd.DataFrame(result["shap_values"])
    for cohort in result["comparison"]["cohorts"]:
        rows = shap.iloc[cohort["positions"]]
        assert cohort["rows"] == len(rows)
        for feature in shap.columns:
            assert cohort["mean_shap"][feature] == pytest.approx(rows[feature].mean(), abs=1e-12)
            assert cohort["mean_abs_shap"][feature] == pytest.approx(rows[feature].abs().mean(), abs=1e-12)


def test_features_are_ranked_by_the_size_of_their_difference_with_intervals_around_it() -> None:
    """The ranking is by |difference|; each interval is ordered and holds its difference; the summary names
    the cohorts and the top feature."""
    result = run("regression", {"x": ["c == x"], "rest": []})
    item = result["comparison"]["pairs"][0]
    sizes = [abs(f["difference"]) for f in item["features"]]
    assert sizes == sorted(sizes, reverse=True)
    assert item["features"][0]["feature"] == "c"
    for feature in item["features"]:
        low, high = feature["interval"]
        assert low <= feature["difference"] <= high
    assert "'x'" in result["summary"] and "'rest'" in result["summary"] and "c +" in result["summary"]


def test_the_bootstrap_is_seeded_and_documents_its_resamples() -> None:
    """Two runs give the same intervals; the comparison says how they were made."""
    first, second = (run("regression", {"x": ["c == x"], "rest": []})["comparison"] for _ in range(2))
    assert first == second
    assert first["bootstrap"] == {"resamples": comparison.BOOTSTRAP_RESAMPLES, "seed": comparison.BOOTSTRAP_SEED,
                                  "interval": 0.95, "method": "percentile"}


def test_bootstrap_means_resample_rows_with_replacement() -> None:
    """Each bootstrap mean is the mean of n rows drawn with replacement: centred on the mean, spread ~ sd/sqrt(n)."""
    matrix = np.random.default_rng(3).normal(size=(400, 2))
    means = comparison.bootstrap_means(matrix, 2000, np.random.default_rng(0))
    assert means.shape == (2000, 2)
    assert np.allclose(means.mean(axis=0), matrix.mean(axis=0), atol=0.01)
    assert np.allclose(means.std(axis=0), matrix.std(axis=0) / np.sqrt(400), rtol=0.1)


def test_rest_holds_the_selected_rows_no_other_cohort_holds_and_overlaps_are_warned() -> None:
    """`rest` is the complement of the other cohorts within the filters; overlapping cohorts are a warning."""
    meta, frame = areas("regression")
    request = AnalyzeRequest(dataset="t", analysis_type="comparison", demographic_filters=["d > -1"],
                             cohorts={"x": ["c == x"], "high a": ["a > 0"], "rest": []})
    chosen = comparison.select_cohorts(frame, meta, request, 10_000)
    rows = frame[frame["d"] > -1]
    assert chosen.membership[:, 2].sum() == int(((rows["c"] != "x") & ~(rows["a"] > 0)).sum())
    assert len(chosen.frame) == len(rows)
    assert any("'x' and 'high a' overlap" in w for w in chosen.warnings)


def test_the_union_is_sampled_to_sample_size_with_a_warning() -> None:
    """More cohort rows than sample_size: a seeded sample of the union is explained, and warnings says so."""
    meta, frame = areas("regression")
    request = AnalyzeRequest(dataset="t", analysis_type="comparison", sample_size=50,
                             cohorts={"x": ["c == x"], "rest": []})
    chosen = comparison.select_cohorts(frame, meta, request, 10_000)
    assert len(chosen.frame) == 50 and chosen.selected_rows == 240
    assert any("sample of 50" in w for w in chosen.warnings)


@pytest.mark.parametrize(("groups", "error", "words"), [
    ({"none": ["a > 100"], "x": ["c == x"]}, EmptySelection, ("'none'", "empty")),
    ({"all": ["a > -100"], "rest": []}, EmptySelection, ("'rest'", "another cohort")),
    ({"x": ["e == 1"], "rest": []}, UnknownColumn, ("cohort 'x'", "'e'")),
])
def test_an_empty_or_bad_cohort_is_refused_naming_it(groups: dict, error: type, words: tuple[str, ...]) -> None:
    """An empty cohort (rest included) or a bad filter of a cohort is a 400 that names the cohort."""
    meta, frame = areas("regression")
    with pytest.raises(error) as raised:
        comparison.select_cohorts(frame, meta, AnalyzeRequest(analysis_type="comparison", cohorts=groups), 10_000)
    for word in words:
        assert word in raised.value.message


@pytest.mark.parametrize(("body", "words"), [
    ({"analysis_type": "comparison"}, ("cohorts is needed",)),
    ({"cohorts": {"a": [], "b": []}}, ("needs analysis_type comparison",)),
    ({"analysis_type": "comparison", "cohorts": {"a": []}}, ("at least 2",)),
    ({"analysis_type": "comparison", "cohorts": {str(i): [] for i in range(7)}}, ("at most 6",)),
    ({"analysis_type": "comparison", "cohorts": {"a": ["x > 1"], "rest": ["x < 1"]}}, ("no filters",)),
    ({"analysis_type": "comparison", "cohorts": {"a" * 65: [], "b": []}}, ("at most 64",)),
    ({"analysis_type": "comparison", "cohorts": {"a": "x > 1", "b": []}}, ("list",)),
    ({"analysis_type": "comparison", "cohorts": {"a": ["x > 1"], "a ": ["x < 0"], "b": []}}, ("more than once",)),
])
def test_the_request_bounds_its_cohorts(body: dict, words: tuple[str, ...]) -> None:
    """Cohorts need analysis_type comparison (and the reverse), 2-6 of them, short distinct names (compared
    without surrounding spaces, which a name loses), lists of filters."""
    with pytest.raises(ValidationError) as raised:
        AnalyzeRequest.model_validate(body)
    for word in words:
        assert word in str(raised.value)


def test_the_fingerprint_includes_the_cohorts() -> None:
    """Two comparisons that differ only in a cohort's filters are not identical requests."""
    first = AnalyzeRequest(analysis_type="comparison", cohorts={"a": ["Income > 1"], "rest": []})
    second = AnalyzeRequest(analysis_type="comparison", cohorts={"a": ["Income > 2"], "rest": []})
    assert reuse.fingerprint(first, "v") != reuse.fingerprint(second, "v")


@pytest.mark.parametrize("body", [{"analysis_type": "comparison", "cohorts": {"x": ["c == x"], "rest": []}},
                                  {"analysis_type": "what_if", "scenarios": [{"name": "s", "add": {"a": 1.0}}]}])
def test_a_multiclass_model_is_refused_in_the_job_too(body: dict) -> None:
    """Behind the web's 400, the analysis itself refuses a multiclass model with the same clear error."""
    from analysis.questions import MulticlassNotSupported

    meta, frame = areas_with_gaps("multiclass")
    model, model_meta = train(frame, "y", datasets.feature_columns(meta, "y"), thread_count=1)
    request = AnalyzeRequest.model_validate({"dataset": "t", **body})
    with pytest.raises(MulticlassNotSupported, match="more than two classes"):
        analyze(frame, meta, request, "y", TrainedModel("t", model, model_meta), thread_count=1, batch_size=64,
                max_rows=10_000)


def leaky(labels: dict[str, str] | None = None) -> tuple[dict, pd.DataFrame, TrainedModel]:
    """areas("regression") with `d` replaced by the target plus tiny noise (a target leak), and `labels`."""
    _, frame = areas("regression")
    frame["d"] = frame["y"] + np.random.default_rng(3).normal(scale=1e-3, size=len(frame))
    meta, frame = datasets.describe(datasets.to_csv_bytes(frame), datasets.DatasetOptions(id_columns=("area",)),
                                    name="t", max_rows=10_000)
    meta = meta.model_copy(update={"labels": labels or {}})
    model, model_meta = train(frame, "y", datasets.feature_columns(meta, "y"), thread_count=1)
    return meta, frame, TrainedModel("t", model, model_meta)


QUESTION_BODIES = [{"analysis_type": "comparison", "cohorts": {"hi": ["a > 0"], "rest": []}},
                   {"analysis_type": "what_if", "scenarios": [{"name": "up", "add": {"a": 1.0}}]}]


@pytest.mark.parametrize("body", QUESTION_BODIES)
def test_a_questions_summary_keeps_the_caution_about_the_model(body: dict) -> None:
    """Comparison and what-if summaries end with the leakage caution, as every analysis's summary does."""
    meta, frame, trained = leaky()
    request = AnalyzeRequest.model_validate({"dataset": "t", **body})
    result = analyze(frame, meta, request, "y", trained, thread_count=1, batch_size=64, max_rows=10_000)
    assert result.summary.startswith(("'hi'", "Scenario 'up'"))
    assert "Caution: d nearly determines y (likely target leakage)" in result.summary


@pytest.mark.parametrize("body", QUESTION_BODIES)
def test_a_questions_summary_names_columns_by_their_labels(body: dict) -> None:
    """Comparison and what-if summaries, their caution included, say a labelled column's label."""
    meta, frame, trained = leaky({"a": "Alpha", "d": "Delta", "y": "Why"})
    request = AnalyzeRequest.model_validate({"dataset": "t", **body})
    summary = analyze(frame, meta, request, "y", trained, thread_count=1, batch_size=64, max_rows=10_000).summary
    assert "predicted Why" in summary and "Alpha +" in summary and "Delta " in summary
    assert "Caution: Delta nearly determines Why (likely target leakage)" in summary
