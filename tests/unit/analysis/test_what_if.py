"""What-if scenarios (analysis_type what_if), in-process on small frames: the changed rows' predictions and
SHAP values, the additive change, the training-range warnings, and the refusals."""

from __future__ import annotations

import numpy as np
import orjson
import pandas as pd
import pytest
from catboost import Pool
from pydantic import ValidationError

from analysis import datasets, what_if
from analysis.encoding import encode
from analysis.features import feature_frame
from analysis.request import AnalyzeRequest
from analysis.request_parts import Scenario
from common.errors import UnknownColumn
from devtools.tables import areas as table
from explain.run import analyze
from explain.training import TrainedModel, train
from store import reuse

ADDITIVE = 1e-6


def run(task: str, plans: list[dict], **fields) -> tuple[dict, pd.DataFrame, TrainedModel]:
    meta, frame = table(task)
    model, model_meta = train(frame, "y", datasets.feature_columns(meta, "y"), thread_count=1)
    trained = TrainedModel("t", model, model_meta)
    request = AnalyzeRequest.model_validate({"dataset": "t", "analysis_type": "what_if", "scenarios": plans,
                                             **fields})
    result = analyze(frame, meta, request, "y", trained, thread_count=1, batch_size=64, max_rows=10_000)
    return orjson.loads(encode(result)), frame, trained


@pytest.mark.parametrize("task", ["regression", "binary"])
def test_each_rows_change_is_the_sum_of_its_shap_changes(task: str) -> None:
    """Per row and scenario: change = new raw - old raw = sum of the per-feature SHAP changes (1e-6), and the
    new SHAP values are the old ones plus the change."""
    result, _, _ = run(task, [{"name": "more a", "add": {"a": 0.5}}, {"name": "all x", "set": {"c": "x"}}])
    old = pd.DataFrame(result["shap_values"])
    raw = np.array([row["raw_prediction"] for row in result["results"]])
    for item in result["scenarios"]:
        new, change = pd.DataFrame(item["shap_values"]), pd.DataFrame(item["shap_change"])
        assert np.allclose(new - old, change, atol=1e-12)
        assert np.allclose(np.array(item["raw_predictions"]) - raw, item["changes"], atol=1e-12)
        assert np.max(np.abs(change.sum(axis=1).to_numpy() - np.array(item["changes"]))) < ADDITIVE
        assert item["mean_change"] == pytest.approx(np.mean(item["changes"]), abs=1e-12)
        assert item["mean_change"] == pytest.approx(sum(item["mean_shap_change"].values()), abs=ADDITIVE)
        if task == "binary":
            assert np.allclose(item["predictions"], 1 / (1 + np.exp(-np.array(item["raw_predictions"]))))


def test_the_new_predictions_are_the_models_on_the_changed_rows() -> None:
    """set, add and multiply change the rows as written, and the model predicts them as the scenario says."""
    result, frame, trained = run("regression", [{"name": "mix", "set": {"c": "z"}, "add": {"a": 1.0},
                                                 "multiply": {"d": 2.0}}])
    changed = frame.assign(c="z", a=frame["a"] + 1.0, d=frame["d"] * 2.0)
    x = feature_frame(changed, trained.meta.features, trained.meta.cat_features)
    expected = trained.model.predict(Pool(x, cat_features=trained.meta.cat_features))
    item = result["scenarios"][0]
    assert np.allclose(item["predictions"], expected, atol=1e-9)
    assert item["rows_changed"] == len(frame)
    assert item["set"] == {"c": "z"} and item["multiply"] == {"d": 2.0}
    assert "Scenario 'mix' changes 240 of 240 rows" in result["summary"]


def test_values_outside_the_training_range_are_predicted_and_warned() -> None:
    """A number beyond the column's range and an unseen category are predicted, each with a warning."""
    result, frame, _ = run("regression", [{"name": "far", "set": {"a": 1000.0}},
                                          {"name": "new kind", "set": {"c": "w"}}])
    assert any("'far': 240 rows get 'a' outside the model's training range" in w for w in result["warnings"])
    assert any("'new kind': 240 rows get 'c' values the model never saw" in w for w in result["warnings"])
    assert len(result["scenarios"][0]["predictions"]) == len(frame)


def test_the_training_range_is_the_models_not_the_datasets() -> None:
    """The range a scenario is checked against is the one the model stores (its training rows), as for
    `data` rows: a value inside the dataset's range but above every training row's is warned; only the
    scenario's own columns are named."""
    result, frame, trained = run("regression", [{"name": "edge", "set": {"a": 2.3}},
                                                {"name": "half d", "multiply": {"d": 0.5}}])
    low, high = trained.meta.training_range.numeric["a"]
    assert high < 2.3 < frame["a"].max()  # the table's largest `a` is a held-out row, beyond the training range
    assert [w for w in result["warnings"] if "scenario" in w] == [
        f"scenario 'edge': 240 rows get 'a' outside the model's training range [{low:g}, {high:g}]; trees predict "
        "there as at the nearest edge"]


def test_only_the_rows_a_scenario_changes_are_counted() -> None:
    """Setting a category that some rows already hold changes the others only."""
    result, frame, _ = run("regression", [{"name": "x", "set": {"c": "x"}}], demographic_filters=["a > 0"])
    chosen = frame[frame["a"] > 0]
    assert result["scenarios"][0]["rows_changed"] == int((chosen["c"] != "x").sum())
    unchanged = np.flatnonzero((chosen["c"] == "x").to_numpy())
    assert np.allclose(np.array(result["scenarios"][0]["changes"])[unchanged], 0.0)


def test_only_the_values_a_scenario_changes_are_warned_as_outside_the_range() -> None:
    """Setting `a` to the value a held-out row already holds beyond the training range: the other rows are
    warned, that row is not (the scenario did not change it)."""
    _, frame = table("regression")
    beyond = float(frame["a"].max())
    result, _, trained = run("regression", [{"name": "like the largest", "set": {"a": beyond}}])
    low, high = trained.meta.training_range.numeric["a"]
    assert high < beyond
    assert [w for w in result["warnings"] if "scenario" in w] == [
        f"scenario 'like the largest': {len(frame) - 1} rows get 'a' outside the model's training range "
        f"[{low:g}, {high:g}]; trees predict there as at the nearest edge"]


def test_a_set_value_is_compared_as_the_model_reads_it() -> None:
    """A CSV's True/False column is categorical and read as "True"/"False": setting "True" changes the rows
    holding False only, and on rows that all hold True it changes nothing (a 400)."""
    given = pd.DataFrame({"flag": [True, False] * 20, "a": np.arange(40.0), "y": np.arange(40.0)})
    meta, frame = datasets.describe(datasets.to_csv_bytes(given), datasets.DatasetOptions(), name="t", max_rows=100)
    assert meta.column_types()["flag"] == "categorical"
    scenario = Scenario(name="all true", set={"flag": "True"})
    assert what_if.changed_rows(frame, what_if.apply(frame, scenario, meta), scenario, meta).sum() == 20
    with pytest.raises(what_if.NoChange):
        what_if.check(frame[given["flag"].to_numpy()], meta, "y", [scenario])


def test_scenarios_apply_to_data_rows() -> None:
    """With `data`, the scenarios change the given rows."""
    rows = [{"a": 0.1, "c": "y", "d": 0.0}, {"a": -1.0, "c": "z", "d": 1.0}]
    result, _, _ = run("regression", [{"name": "up", "add": {"a": 1.0}}], data=rows)
    assert len(result["scenarios"][0]["changes"]) == 2


@pytest.mark.parametrize(("plan", "code", "words"), [
    ({"name": "s", "add": {"nope": 1.0}}, "unknown_column", ("scenario 's'", "'nope'")),
    ({"name": "s", "add": {"c": 1.0}}, "invalid_scenario", ("'c' is a categorical column",)),
    ({"name": "s", "multiply": {"c": 2.0}}, "invalid_scenario", ("cannot be added to or multiplied",)),
    ({"name": "s", "set": {"a": "high"}}, "invalid_scenario", ("numeric column 'a'", "a number")),
    ({"name": "s", "set": {"c": 3.0}}, "invalid_scenario", ("categorical column 'c'", "a string")),
    ({"name": "s", "set": {"y": 1.0}}, "invalid_scenario", ("not a feature",)),
    ({"name": "s", "set": {"area": "A001"}}, "invalid_scenario", ("not a feature",)),
    ({"name": "s", "add": {"a": 0.0}}, "scenario_changes_nothing", ("scenario 's'", "changes no value")),
    ({"name": "s", "multiply": {"a": 1.0}, "set": {"c": "x"}}, None, ()),
])
def test_a_bad_scenario_is_refused_naming_the_problem(plan: dict, code: str | None, words: tuple[str, ...]) -> None:
    """Unknown or non-feature columns, arithmetic on categorical columns, values of the wrong type and
    scenarios that change nothing are 400s that say so; a partly-changing scenario passes."""
    meta, frame = table("regression")
    check = lambda: what_if.check(frame, meta, "y", [Scenario.model_validate(plan)])  # noqa: E731
    if code is None:
        check()
        return
    with pytest.raises((what_if.InvalidScenario, UnknownColumn)) as raised:
        check()
    assert raised.value.code == code
    for word in words:
        assert word in raised.value.message


def test_setting_the_value_every_row_holds_changes_nothing() -> None:
    """A scenario that sets each selected row's own value is refused as a no-op."""
    meta, frame = table("regression")
    rows = frame[frame["c"] == "x"]
    with pytest.raises(what_if.NoChange):
        what_if.check(rows, meta, "y", [Scenario(name="same", set={"c": "x"})])


@pytest.mark.parametrize(("body", "words"), [
    ({"analysis_type": "what_if"}, ("scenarios is needed",)),
    ({"scenarios": [{"name": "s", "add": {"a": 1}}]}, ("needs analysis_type what_if",)),
    ({"analysis_type": "what_if", "scenarios": [{"name": "s"}]}, ("changes nothing",)),
    ({"analysis_type": "what_if", "scenarios": [{"name": "s", "add": {"a": 1}, "multiply": {"a": 2}}]},
     ("more than one",)),
    ({"analysis_type": "what_if", "scenarios": [{"name": "s", "add": {"a": 1}}] * 2}, ("unique",)),
    ({"analysis_type": "what_if", "scenarios": [{"name": str(i), "add": {"a": 1}} for i in range(11)]},
     ("at most 10",)),
    ({"analysis_type": "what_if", "scenarios": [{"name": "s", "add": {"a": "1"}}]}, ("number",)),
    ({"analysis_type": "what_if", "scenarios": [{"name": "s", "add": {"a": True}}]}, ("number",)),
    ({"analysis_type": "what_if", "scenarios": [{"name": "s", "sett": {"a": 1}}]}, ("sett",)),
    ({"analysis_type": "what_if", "scenarios": [{"name": "s", "set": {"c": "v" * 1001}}]}, ("at most 1000",)),
    ({"analysis_type": "what_if", "scenarios": [{"name": "s", "add": {str(i): 1 for i in range(51)}}]},
     ("at most 50",)),
])
def test_the_request_bounds_its_scenarios(body: dict, words: tuple[str, ...]) -> None:
    """Scenarios need analysis_type what_if, unique names, 1-10 of them, a change each, each column once,
    numbers for add/multiply, no unknown keys and bounded sizes."""
    with pytest.raises(ValidationError) as raised:
        AnalyzeRequest.model_validate(body)
    for word in words:
        assert word in str(raised.value)


def test_the_fingerprint_includes_the_scenarios() -> None:
    """Two what-if analyses that differ only in a scenario's number are not identical requests."""
    first, second = (AnalyzeRequest.model_validate({"analysis_type": "what_if",
                                                    "scenarios": [{"name": "s", "add": {"a": n}}]}) for n in (1, 2))
    assert reuse.fingerprint(first, "v") != reuse.fingerprint(second, "v")


def test_a_scenario_on_an_excluded_or_dropped_column_is_refused_saying_why() -> None:
    """A column the request's exclude_columns removes, or one dropped as constant, is no feature of the
    model: changing it is refused (it would report a change of 0), naming the reason."""
    meta, frame = table("regression")
    with pytest.raises(what_if.InvalidScenario) as raised:
        what_if.check(frame, meta, "y", [Scenario(name="s", add={"d": 1.0})], exclude=["d"])
    assert raised.value.code == "invalid_scenario" and "exclude_columns" in raised.value.message
    flat = frame.assign(k=1.0)
    flat_meta, flat = datasets.describe(datasets.to_csv_bytes(flat), datasets.DatasetOptions(id_columns=("area",)),
                                        name="t", max_rows=10_000)
    with pytest.raises(what_if.InvalidScenario) as raised:
        what_if.check(flat, flat_meta, "y", [Scenario(name="s", set={"k": 2.0})])
    assert "'k'" in raised.value.message and "constant" in raised.value.message


def test_a_what_if_larger_than_its_cell_limit_is_refused_naming_the_numbers() -> None:
    """scenarios x explained rows x features above WHAT_IF_MAX_CELLS is a 400 too_many_rows that names the
    numbers and what to change; at the limit it passes."""
    from analysis import questions
    from analysis.selection import select_rows
    from common.errors import TooManyRows

    meta, frame = table("regression")
    request = AnalyzeRequest.model_validate({"dataset": "t", "target_variable": "y", "analysis_type": "what_if",
                                             "scenarios": [{"name": "s", "add": {"a": 1.0}},
                                                           {"name": "t", "set": {"c": "x"}}]})
    chosen = select_rows(frame, meta, request, 10_000)
    cells = 2 * 240 * 3  # scenarios x rows x features (a, c, d)
    questions.check(frame, meta, request, chosen, 10_000, what_if_max_cells=cells)
    with pytest.raises(TooManyRows) as raised:
        questions.check(frame, meta, request, chosen, 10_000, what_if_max_cells=cells - 1)
    for words in ("2 scenarios x 240 rows x 3 features", f"{cells - 1}", "WHAT_IF_MAX_CELLS", "sample_size"):
        assert words in raised.value.message
