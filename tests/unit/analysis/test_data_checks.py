"""The data warnings' pure checks on small frames: feature choice from stored statistics (constant,
near-empty, request exclusions), leak measures, training range and out-of-range flags, weak models."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis import data_checks, datasets
from analysis.features import choose_features
from analysis.model_meta import Metrics, ModelMeta, TrainingRange
from analysis.request import AnalyzeRequest
from common.errors import InvalidRequest, UnknownColumn
from store.reuse import fingerprint


def _meta(frame: pd.DataFrame) -> dict:
    data = frame.to_csv(index=False).encode()
    return datasets.describe(data, datasets.DatasetOptions(), name="t", max_rows=10_000)[0]


def _frame(rows: int = 100) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"a": rng.normal(size=rows), "b": rng.normal(size=rows), "same": 7.0,
                          "label": "x", "sparse": np.nan})
    frame.loc[:2, "sparse"] = 1.0  # 3 of 100 rows: 97 % missing
    frame["y"] = frame["a"] + rng.normal(0, 0.1, rows)
    return frame


def test_constant_and_near_empty_columns_are_dropped_and_named() -> None:
    """A one-valued column (numeric or text) and a 97 %-missing one leave the features, each named."""
    choice = choose_features(_meta(_frame()), "y")
    assert choice.features == ["a", "b"]
    assert (choice.constant, choice.near_empty) == (["same", "label"], ["sparse"])
    text = " ".join(choice.warnings())
    assert "constant columns from the features: same, label" in text and "near-empty" in text and "sparse" in text


def test_a_column_with_one_value_and_some_missing_values_is_kept() -> None:
    """Present-or-missing is information: one value plus missing cells is not constant (if not near-empty)."""
    frame = _frame()
    frame.loc[:49, "same"] = np.nan
    assert "same" in choose_features(_meta(frame), "y").features


def test_request_exclusions_are_checked_against_the_dataset() -> None:
    """Unknown names and the target are refused; excluding every usable feature is refused."""
    meta = _meta(_frame())
    assert choose_features(meta, "y", ["b"]).features == ["a"]
    with pytest.raises(UnknownColumn, match="'nope'"):
        choose_features(meta, "y", ["nope"])
    with pytest.raises(InvalidRequest, match="names the target"):
        choose_features(meta, "y", ["y"])
    with pytest.raises(InvalidRequest, match="No usable feature") as refused:
        choose_features(meta, "y", ["a", "b"])
    assert refused.value.code == "invalid_request"


def test_a_dataset_whose_every_feature_is_constant_is_an_invalid_dataset() -> None:
    """No usable feature without any request exclusion: the dataset's fault, as resolve_target reports it."""
    frame = _frame()[["same", "label", "sparse", "y"]]
    with pytest.raises(InvalidRequest, match="constant: \\['same', 'label'\\]") as refused:
        choose_features(_meta(frame), "y")
    assert refused.value.code == "invalid_dataset"


def test_request_exclusions_are_sorted_so_their_order_is_the_same_analysis() -> None:
    """exclude_columns in another order, or repeated, is the same request and the same fingerprint."""
    one = AnalyzeRequest.model_validate({"exclude_columns": ["b", "a", "b"]})
    other = AnalyzeRequest.model_validate({"exclude_columns": ["a", "b"]})
    assert one.exclude_columns == ["a", "b"]
    assert fingerprint(one, "v") == fingerprint(other, "v")
    assert fingerprint(one, "v") != fingerprint(AnalyzeRequest.model_validate({}), "v")


def test_a_near_copy_of_a_numeric_target_is_a_leak_and_a_real_driver_is_not() -> None:
    """|Spearman| 0.999 is named; a driver with |Spearman| ~0.7 is not."""
    rng = np.random.default_rng(2)
    y = rng.normal(size=500)
    x = pd.DataFrame({"copy": y + rng.normal(0, 0.02, 500), "driver": y + rng.normal(0, 1, 500)})
    found = data_checks.leaks(x, y, [], "regression", None)
    assert [item.feature for item in found] == ["copy"] and (found[0].abs_spearman or 0) > 0.99


def test_a_feature_that_separates_a_binary_target_is_a_leak() -> None:
    """One-feature AUC of 1 (or 0: the direction does not matter) is a leak for a binary target."""
    rng = np.random.default_rng(3)
    y = np.where(rng.normal(size=400) > 0, "yes", "no")
    x = pd.DataFrame({"flag": np.where(y == "yes", -1.0, 1.0) + rng.normal(0, 0.1, 400),
                      "noise": rng.normal(size=400)})
    found = data_checks.leaks(x, y, [], "binary", ["no", "yes"])
    assert [item.feature for item in found] == ["flag"]


def test_auc_counts_ties_half_and_needs_both_classes() -> None:
    """A perfect score is 1, a constant score 0.5, one class alone None."""
    positive = np.array([False, False, True, True])
    assert data_checks.auc(positive, np.array([0.1, 0.2, 0.8, 0.9])) == 1.0
    assert data_checks.auc(positive, np.zeros(4)) == 0.5
    assert data_checks.auc(np.ones(4, dtype=bool), np.arange(4.0)) is None


def test_rows_outside_the_training_range_are_flagged_by_feature() -> None:
    """Numbers beyond min/max and unseen categories are flagged; missing values and in-range rows are not."""
    train = pd.DataFrame({"n": [0.0, 5.0, 10.0], "c": ["a", "b", ""]})
    seen = data_checks.training_range(train, ["c"])
    assert seen == TrainingRange(numeric={"n": [0.0, 10.0]}, categories={"c": ["a", "b"]})
    rows = pd.DataFrame({"n": [5.0, 11.0, np.nan, -1.0], "c": ["a", "b", "", "z"]})
    assert data_checks.out_of_range(rows, seen) == {1: ["n"], 3: ["n", "c"]}


def test_a_float32_row_at_the_training_edge_is_in_range() -> None:
    """AGGRESSIVE_MEMORY_MANAGEMENT's float32 frames: the training maximum rounds up in float32, and is no
    value beyond it; a value a float32 step above still is."""
    edge = 2.129444531219653
    seen = data_checks.training_range(pd.DataFrame({"n": [0.0, edge]}), [])
    assert float(np.float32(edge)) > edge  # compared in float64, it would be flagged
    rows = pd.DataFrame({"n": np.array([edge, np.nextafter(np.float32(edge), np.float32(3))], dtype="float32")})
    assert data_checks.out_of_range(rows, seen) == {1: ["n"]}


def test_flagged_rows_get_out_of_range_and_others_no_key() -> None:
    """Built rows get out_of_range only at flagged positions."""
    built = data_checks.flag([{"p": 1}, {"p": 0}], np.array([1, 0]), {1: ["n"]})
    assert built == [{"p": 1, "out_of_range": ["n"]}, {"p": 0}]


@pytest.mark.parametrize(("task", "metrics", "weak"), [
    ("regression", {"r2": 0.05}, True), ("regression", {"r2": 0.8}, False), ("regression", {"r2": None}, False),
    ("binary", {"auc": 0.52}, True), ("binary", {"auc": 0.9}, False),
    ("multiclass", {"accuracy": 0.52, "majority_accuracy": 0.5}, True),
    ("multiclass", {"accuracy": 0.8, "majority_accuracy": 0.5}, False),
])
def test_weak_models_are_judged_by_their_held_out_metric(task: str, metrics: dict, weak: bool) -> None:
    """R² < 0.3, AUC < 0.6, or under 10 % of the majority guess's errors avoided: weak."""
    assert (data_checks.weakness(task, Metrics.model_validate(metrics)) is not None) is weak


def test_notes_and_summary_name_the_leak_and_the_weak_model() -> None:
    """The warnings advise exclude_columns for a leak and say the explanations describe a weak model."""
    meta = ModelMeta.model_validate({"task": "regression", "features": ["copy"], "cat_features": [],
                                     "trained_rows": 60, "metrics": {"r2": 0.1},
                                     "leaks": [{"feature": "copy", "abs_spearman": 0.999}]})
    text = " ".join(data_checks.notes(meta, "y", {0: ["n"]}, 3))
    assert "likely target leakage: copy" in text and "exclude_columns=['copy']" in text
    assert "describe a weak model" in text and "1 of the 3 data rows" in text
    note = data_checks.summary_note(meta, "y", {})
    assert "likely target leakage" in note and "weak model" in note


def test_columns_with_and_without_missing_values_are_measured_alike() -> None:
    """A column measured in a block (no missing value) and its copy with a hole (one by one) agree."""
    rng = np.random.default_rng(4)
    y = rng.normal(size=300)
    whole = y + rng.normal(0, 0.01, 300)
    holed = whole.copy()
    holed[0] = np.nan
    x = pd.DataFrame({"whole": whole, "holed": holed})
    found = {item.feature: item.abs_spearman for item in data_checks.leaks(x, y, [], "regression", None)}
    assert set(found) == {"whole", "holed"} and abs(found["whole"] - found["holed"]) < 1e-3
    ok = np.isfinite(holed)
    direct = data_checks.association("regression", holed[ok], y[ok], np.zeros(ok.sum(), dtype=bool))
    assert direct is not None and abs(direct - found["holed"]) < 1e-4


def test_training_stores_the_checks_and_the_binary_metrics_they_need() -> None:
    """A trained model's meta holds its leaks, its training range, and for a binary target AUC and the
    majority-class baseline."""
    from explain.training import train

    rng = np.random.default_rng(5)
    frame = pd.DataFrame({"a": rng.normal(size=200), "c": rng.choice(["p", "q"], 200)})
    frame["y"] = np.where(frame["a"] > 0, "yes", "no")
    _, meta = train(frame, "y", ["a", "c"], thread_count=1)
    assert [item.feature for item in meta.leaks] == ["a"]
    assert meta.training_range.categories == {"c": ["p", "q"]}
    assert meta.metrics.auc > 0.95 and 0.4 < meta.metrics.majority_accuracy < 0.7
