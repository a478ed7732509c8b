"""SHAP interaction values in-process (explain.interactions, explain.interaction_tables): the leaf tables equal
the brute-force Shapley interaction index (shapley_reference.py beside it), main effects and interactions add up
to the SHAP values and the prediction, the check that holds them to it can fail, and an interactions analysis
reports the top pairs."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from catboost import CatBoostClassifier, CatBoostRegressor, Pool

from analysis import datasets
from analysis.dataset_meta import DatasetMeta
from analysis.model_meta import ModelMeta
from analysis.request import AnalyzeRequest
from devtools.tables import described_default
from explain import interaction_tables, interactions
from explain.run import analyze
from explain.training import TrainedModel, TrainingParams, train
from store import default_dataset
from tests.unit.explain import shapley_reference

TARGET = "Mortgage_Approvals"


def small_frame(rows: int = 300) -> tuple[pd.DataFrame, pd.Series]:
    """Two float features that interact, two categorical ones (CatBoost makes CTR combinations of them)."""
    rng = np.random.default_rng(5)
    x = pd.DataFrame({"a": rng.normal(size=rows), "b": rng.normal(size=rows), "c": rng.choice(["u", "v", "w"], rows),
                      "e": rng.choice(["p", "q"], rows), "d": rng.normal(size=rows)})
    y = x.a * x.b + (x.c == "u") * x.d + (x.e == "p") * (x.c == "v") + rng.normal(size=rows) * 0.1
    return x, y


def native(model: Any, pool: Pool) -> np.ndarray:
    """CatBoost's ShapInteractionValues as (rows, dims, F, F), its last row and column dropped."""
    values = np.asarray(model.get_feature_importance(data=pool, type="ShapInteractionValues", thread_count=1))
    return values.reshape(pool.num_row(), -1, *values.shape[-2:])[:, :, :-1, :-1]


def float_frame(rows: int = 300) -> tuple[pd.DataFrame, pd.Series]:
    """Four float features, two of which interact: small enough for the brute-force reference."""
    rng = np.random.default_rng(7)
    x = pd.DataFrame({name: rng.normal(size=rows) for name in "abcd"})
    return x, x.a * x.b + np.sin(x.c) + 0.3 * x.d + rng.normal(size=rows) * 0.1


def _fitted(task: str, depth: int) -> tuple[Any, pd.DataFrame]:
    x, y = float_frame()
    target = {"regression": y, "binary": (y > 0).astype(int),
              "multiclass": pd.cut(y, 3, labels=["lo", "mid", "hi"]).astype(str)}[task]
    model_class = CatBoostRegressor if task == "regression" else CatBoostClassifier
    model = model_class(iterations=25, depth=depth, verbose=False, thread_count=1, allow_writing_files=False)
    return model.fit(x, target), x


@pytest.mark.parametrize("task", ["regression", "binary", "multiclass"])
@pytest.mark.parametrize("depth", [1, 3, 6])
def test_leaf_tables_equal_the_brute_force_shapley_interaction_index(task: str, depth: int) -> None:
    """The reference is the definition over every feature subset (shapley_reference.py beside it), not CatBoost's
    ShapInteractionValues: every output of regression, binary and multiclass models, within 1e-9; and the
    reference's SHAP values are CatBoost's ShapValues (the game is the one CatBoost explains)."""
    model, x = _fitted(task, depth)
    rows = x.iloc[:6]
    game = shapley_reference.Game(model)
    tables = interaction_tables.build(model)
    leaves = model.calc_leaf_indexes(Pool(rows), thread_count=1)
    shap = np.asarray(model.get_feature_importance(data=Pool(rows), type="ShapValues", thread_count=1))
    shap = shap.reshape(len(rows), -1, shap.shape[-1])[:, :, :-1]
    for r in range(len(rows)):
        phi, reference = shapley_reference.interaction_index(game, rows.to_numpy()[r])
        assert np.max(np.abs(phi - shap[r])) <= 1e-9
        for k in range(tables.dims):
            mine = tables.explain(leaves[r:r + 1], np.full(1, k, dtype=np.intp))[0]
            assert np.max(np.abs(mine - reference[k])) <= 1e-9
            assert np.max(np.abs(mine.sum(axis=1) - shap[r, k])) <= 1e-9
    assert interaction_tables.prepare(model, x, [])[1] == "leaf_table"


def test_the_brute_force_comparison_and_the_job_check_fail_on_a_perturbed_table() -> None:
    """One cell of one tree's table moved by 1e-6: the reference sees it, and explain refuses the result."""
    model, x = _fitted("regression", 3)
    tables = interaction_tables.build(model)
    tree = next(t for t, f in enumerate(tables.features) if len(f) >= 2)
    tables.tables[tree][:, 0, 1] += 1e-6
    rows = x.iloc[:3]
    leaves = model.calc_leaf_indexes(Pool(rows), thread_count=1)
    _, reference = shapley_reference.interaction_index(shapley_reference.Game(model), rows.to_numpy()[0])
    assert np.max(np.abs(tables.explain(leaves[:1])[0] - reference[0])) > 1e-9
    meta = ModelMeta(task="regression", features=list(x.columns), cat_features=[], trained_rows=len(x))
    pool = Pool(rows)
    shap = model.get_feature_importance(data=pool, type="ShapValues", thread_count=1)
    raw = np.asarray(model.predict(pool, prediction_type="RawFormulaVal"))
    trained = TrainedModel("m", model, meta, interactions=(tables, "leaf_table"))
    with pytest.raises(interactions.InteractionsDisagree):
        interactions.explain(trained, rows, shap[:, :-1], float(shap[0, -1]), raw, None, thread_count=1)


def test_ctr_models_tables_sum_to_catboosts_shap_values() -> None:
    """With categorical features (CTR combinations shared between their features) each table row sums to
    CatBoost's ShapValues within 1e-9, so prepare uses the tables."""
    x, y = small_frame()
    model = CatBoostRegressor(iterations=40, depth=4, verbose=False, thread_count=1, allow_writing_files=False)
    model.fit(x, y, cat_features=["c", "e"])
    assert interaction_tables.prepare(model, x, ["c", "e"])[1] == "leaf_table"


@pytest.fixture(scope="module")
def trained() -> tuple[dict, pd.DataFrame, TrainedModel]:
    meta, frame = described_default(rows=400, seed=11)
    model, model_meta = train(frame, TARGET, datasets.feature_columns(meta, TARGET), thread_count=1)
    return meta, frame, TrainedModel("test", model, model_meta)


def _native_answers(model: TrainedModel, frame: pd.DataFrame, rows: int) -> tuple[pd.DataFrame, np.ndarray,
                                                                                    np.ndarray, np.ndarray]:
    """CatBoost's own answers for the first `rows` rows: the features, SHAP values (base value last), raw
    predictions and a writable copy of the interaction matrix."""
    x = frame[model.meta.features].iloc[:rows]
    pool = Pool(x, cat_features=model.meta.cat_features)
    shap = model.model.get_feature_importance(data=pool, type="ShapValues", thread_count=1)
    raw = np.asarray(model.model.predict(pool, prediction_type="RawFormulaVal"))
    return x, shap, raw, native(model.model, pool)[:, 0].copy()


def test_main_effects_and_interactions_add_up_to_shap_values_and_prediction(trained: tuple) -> None:
    """Row sums of the interaction values are the SHAP values; base value + all of them the raw prediction."""
    _, frame, model = trained
    x, shap, raw, matrix = _native_answers(model, frame, 25)
    gap = interactions.additivity_gap(matrix, shap[:, :-1], shap[:, -1], raw)
    assert gap <= interactions.TOLERANCE
    found = interactions.summarize(list(x.columns), lambda: iter([(0, matrix)]), len(x))
    mains = np.array([m["values"] for m in found.main_effects]).sum(axis=0)
    everything_else = matrix.sum(axis=(1, 2)) - matrix[:, range(x.shape[1]), range(x.shape[1])].sum(axis=1)
    assert np.max(np.abs(shap[:, -1] + mains + everything_else - raw)) <= 1e-9


def test_the_additivity_check_fails_on_a_perturbed_value(trained: tuple) -> None:
    """One interaction value moved by 1e-6 (of values around 10): the check sees it, and explain refuses it."""
    _, frame, model = trained
    x, shap, raw, matrix = _native_answers(model, frame, 5)
    matrix[2, 0, 1] += 1e-6
    assert interactions.additivity_gap(matrix, shap[:, :-1], shap[:, -1], raw) > interactions.TOLERANCE
    wrong = shap[:, :-1].copy()
    wrong[0, 0] += 1e-6  # SHAP values that the interactions do not add up to
    with pytest.raises(interactions.InteractionsDisagree):
        interactions.explain(model, x, wrong, float(shap[0, -1]), raw, None, thread_count=1)


def test_top_pairs_are_the_largest_mean_absolute_pair_values() -> None:
    """summarize ranks every pair by mean |M[i, j] + M[j, i]| and reports the values of the top ones per row."""
    rng = np.random.default_rng(2)
    matrix = rng.normal(size=(30, 6, 6))
    matrix = matrix + matrix.transpose(0, 2, 1)
    features = list("abcdef")
    batches = [(0, matrix[:13]), (13, matrix[13:])]
    found = interactions.summarize(features, lambda: iter(batches), 30, top=4)
    brute = {(features[i], features[j]): np.abs(matrix[:, i, j] + matrix[:, j, i]).mean()
             for i in range(6) for j in range(i + 1, 6)}
    best = sorted(brute, key=lambda pair: -brute[pair])[:4]
    assert [(p["feature"], p["with"]) for p in found.pairs] == best
    first = found.pairs[0]
    i, j = features.index(first["feature"]), features.index(first["with"])
    assert np.allclose(first["values"], matrix[:, i, j] + matrix[:, j, i], atol=0, rtol=0)
    assert found.main_effects[0]["feature"] == features[int(np.argmax(np.abs(
        matrix[:, range(6), range(6)]).mean(axis=0)))]


def test_interactions_analysis_caps_rows_and_names_the_strongest_pair(trained: tuple) -> None:
    """An interactions analysis explains at most interaction_max_rows (seeded sample, with a warning) and its
    pairs' values line up with `results` and add up with the main effects to each row's raw prediction."""
    meta, frame, model = trained
    request = AnalyzeRequest(analysis_type="interactions", target_variable=TARGET)
    result = analyze(frame, meta, request, TARGET, model, thread_count=1, batch_size=100, max_rows=10_000,
                     interaction_max_rows=60)
    assert result.explained_rows == 60 and result.selected_rows == 400
    assert any("INTERACTION_MAX_ROWS" in w for w in result.warnings)
    found = result.interactions
    assert found["rows"] == 60 and found["engine"] == "leaf_table"
    assert len(found["pairs"]) == interactions.TOP_PAIRS
    first = found["pairs"][0]
    assert f"between {first['feature']} and {first['with']}" in result.summary
    rows = result.results.to_list()
    assert all(len(p["values"]) == len(rows) for p in found["pairs"])
    assert len(found["main_effects"]) == len(model.meta.features)
    shap = result.shap_values.to_dict()
    for effect in found["main_effects"]:  # a main effect is part of its feature's SHAP value
        assert len(effect["values"]) == len(shap[effect["feature"]])
    again = analyze(frame, meta, request, TARGET, model, thread_count=1, batch_size=100, max_rows=10_000,
                    interaction_max_rows=60)
    assert [p["mean_abs_interaction"] for p in again.interactions["pairs"]] == [
        p["mean_abs_interaction"] for p in found["pairs"]]  # the seeded sample: the same rows every time


def test_stored_tables_round_trip_and_native_gives_the_same_interactions() -> None:
    """to_bytes/from_bytes keep the tables exactly; a model marked native is computed natively, equal to the
    tables within 1e-9, and the result's engine says which ran."""
    x, y = small_frame(200)
    model, meta = train(x.assign(y=y), "y", list(x.columns), thread_count=1)
    tables = interaction_tables.build(model)
    again = interaction_tables.from_bytes(interaction_tables.to_bytes(tables))
    assert again is not None and all(np.array_equal(a, b) for a, b in zip(tables.tables, again.tables, strict=True))
    rows = x.iloc[:20]
    pool = Pool(rows, cat_features=meta.cat_features)
    shap = model.get_feature_importance(data=pool, type="ShapValues", thread_count=1)
    raw = np.asarray(model.predict(pool, prediction_type="RawFormulaVal"))
    found = {}
    for name, prepared in (("stored", (again, "leaf_table")), ("native", (None, "native: test"))):
        trained = TrainedModel("m", model, meta, interactions=prepared)
        found[name] = interactions.explain(trained, rows, shap[:, :-1], float(shap[0, -1]), raw, None, 1)
    assert found["stored"][1] == "leaf_table" and found["native"][1] == "native: test"
    for mine, theirs in zip(found["stored"][0].pairs, found["native"][0].pairs, strict=True):
        assert (mine["feature"], mine["with"]) == (theirs["feature"], theirs["with"])
        assert np.max(np.abs(mine["values"] - theirs["values"])) <= 1e-9


def test_the_out_of_range_warning_counts_the_data_rows_sent_not_the_capped_ones() -> None:
    """With `data` cut to INTERACTION_MAX_ROWS, the warning's 'N of the M data rows' says M = the rows sent."""
    from devtools.tables import areas as table

    meta, frame = table("regression")
    model, model_meta = train(frame, "y", datasets.feature_columns(meta, "y"), thread_count=1)
    rows = [{"a": 1000.0 + i, "c": "x", "d": 0.0} for i in range(5)]
    request = AnalyzeRequest(dataset="t", analysis_type="interactions", target_variable="y", data=rows)
    result = analyze(frame, meta, request, "y", TrainedModel("t", model, model_meta), thread_count=1, batch_size=64,
                     max_rows=10_000, interaction_max_rows=2)
    assert result.explained_rows == 2
    assert any("2 of the 5 data rows hold values outside" in w for w in result.warnings), result.warnings


def _numeric_targets(meta: DatasetMeta) -> list[str]:
    return [c.name for c in meta.columns if c.name not in meta.id_columns and datasets.task_of(c) == "regression"]


def _answers_within_1e_9(model: TrainedModel, x: pd.DataFrame) -> str:
    """Explain `x`'s interactions (explain fails on a row that does not add up); assert the SHAP values equal
    CatBoost's ShapValues and the rows sum to them within 1e-9; return the engine used."""
    pool = Pool(x, cat_features=model.meta.cat_features)
    shap = model.model.get_feature_importance(data=pool, type="ShapValues", thread_count=1)
    raw = np.asarray(model.model.predict(pool, prediction_type="RawFormulaVal"))
    found, engine = interactions.explain(model, x, shap[:, :-1], float(shap[0, -1]), raw, None, 1)
    tables = interaction_tables.build(model.model)
    matrix = tables.explain(model.model.calc_leaf_indexes(pool, thread_count=1))
    assert np.max(np.abs(matrix.sum(axis=2) - shap[:, :-1])) <= 1e-9
    assert found.rows == len(x)
    return engine


def test_every_numeric_target_of_the_built_in_table_answers_interactions() -> None:
    """Every numeric target of the built-in table (few rows, few trees to stay fast): the interactions are the
    service's tables and add up to the SHAP values within 1e-9; none fails."""
    meta, frame = datasets.describe(datasets.to_csv_bytes(default_dataset.generate(rows=300, seed=3)),
                                    default_dataset.OPTIONS, name="default", max_rows=10_000)
    targets = _numeric_targets(meta)
    assert {"Credit_Score_Avg", "Vacancy_Rate", TARGET} <= set(targets)
    for target in targets:
        features = datasets.feature_columns(meta, target)
        model, model_meta = train(frame, target, features, thread_count=1, params=TrainingParams(iterations=20))
        trained = TrainedModel(target, model, model_meta)
        assert _answers_within_1e_9(trained, frame[features].iloc[:15]) == "leaf_table", target


def test_catboosts_inconsistent_interaction_values_do_not_fail_the_analysis() -> None:
    """On the built-in table's Vacancy_Rate model CatBoost's own ShapInteractionValues do not sum to its
    ShapValues (measured 2.8e-04); the analysis still answers, from the service's tables, exactly, and a model
    left to the native values (tables unsupported) answers too, its main effects completed from the SHAP values."""
    meta, frame = datasets.describe(datasets.to_csv_bytes(default_dataset.generate()), default_dataset.OPTIONS,
                                    name="default", max_rows=10_000)
    features = datasets.feature_columns(meta, "Vacancy_Rate")
    model, model_meta = train(frame, "Vacancy_Rate", features, thread_count=2)
    x = frame[features].iloc[:5]
    pool = Pool(x, cat_features=model_meta.cat_features)
    shap = model.get_feature_importance(data=pool, type="ShapValues", thread_count=1)
    theirs = native(model, pool)[:, 0]
    assert np.max(np.abs(theirs.sum(axis=2) - shap[:, :-1])) > 1e-6  # CatBoost's inconsistency
    assert interaction_tables.prepare(model, frame[features], model_meta.cat_features)[1] == "leaf_table"
    assert _answers_within_1e_9(TrainedModel("v", model, model_meta), x) == "leaf_table"
    left_native = TrainedModel("v", model, model_meta, interactions=(None, "native: test"))
    assert _answers_within_1e_9(left_native, x) == "native: test"
