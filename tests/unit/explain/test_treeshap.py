"""The leaf-table TreeSHAP engine equals CatBoost's native ShapValues (in-process, small frames)."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest
from catboost import CatBoost, CatBoostClassifier, CatBoostRegressor, Pool

from explain import treeshap

EXACT = 1e-9
CATS = ["region", "kind", "size_band"]


def frame(rows: int, seed: int, unseen: bool = False) -> pd.DataFrame:
    """Floats with missing values, three categorical columns; `unseen` adds categories never trained on."""
    rng = np.random.default_rng(seed)
    out = pd.DataFrame({
        "x1": rng.normal(size=rows),
        "x2": rng.gamma(2.0, 3.0, size=rows),
        "x3": rng.uniform(-1, 1, size=rows),
        "region": rng.choice(list("ABCDEFGH"), rows),
        "kind": rng.choice(["house", "flat", "farm", "shop", "mill"], rows),
        "size_band": rng.choice(["s", "m", "l"], rows),
        "x4": rng.normal(size=rows),
    })
    out.loc[rng.random(rows) < 0.1, "x2"] = np.nan
    out.loc[rng.random(rows) < 0.03, "x4"] = np.nan
    if unseen:
        out.loc[rng.random(rows) < 0.2, "region"] = "never_seen"
        out.loc[rng.random(rows) < 0.2, "kind"] = "castle"
    return out


def signal(x: pd.DataFrame) -> np.ndarray:
    """A target with interactions between categorical columns (so CTR combinations pay off) and floats;
    a frame without the categorical columns gets the float part only."""
    y = x["x1"] * 2 + np.sqrt(x["x2"].fillna(1.0)) + x["x4"].fillna(-2.0) + (x["x3"] > 0) * x["x1"]
    if "region" in x:
        y += ((x["region"].isin(["A", "B"])) & (x["kind"] == "flat")) * 3.0 + (x["size_band"] == "l") * 1.5
    return y.to_numpy()


def fit(task: str, x: pd.DataFrame, cats: list[str] | None = None, **params) -> CatBoost:
    y = signal(x) + np.random.default_rng(1).normal(scale=0.3, size=len(x))
    base = {"iterations": 40, "depth": 6, "learning_rate": 0.2, "random_seed": 0, "thread_count": 1,
            "verbose": False, "allow_writing_files": False} | params
    model: CatBoost
    if task == "regression":
        model = CatBoostRegressor(**base)
    elif task == "binary":
        model = CatBoostClassifier(**base, loss_function="Logloss")
        y = (y > np.median(y)).astype(int)
    else:
        model = CatBoostClassifier(**base, loss_function="MultiClass")
        y = np.digitize(y, np.quantile(y, [0.25, 0.5, 0.75]))
    model.fit(Pool(x, y, cat_features=cats))
    return model


def split_kinds(model: CatBoost) -> set[str]:
    doc = treeshap._model_json(model)
    return {s["split_type"] for tree in doc["oblivious_trees"] for s in tree["splits"]}


def ctr_combination_sizes(model: CatBoost) -> set[int]:
    doc = treeshap._model_json(model)
    return {sum(e["combination_element"] == "cat_feature_value" for e in ctr["elements"])
            for ctr in doc["features_info"].get("ctrs", [])}


def assert_exact(model: CatBoost, tables: treeshap.LeafTables, pool: Pool) -> None:
    """Every row's values, the expected value and the raw prediction equal CatBoost's within 1e-9."""
    native = model.get_feature_importance(data=pool, type="ShapValues", thread_count=1)
    mine, raw = treeshap.explain(model, tables, pool, thread_count=1)
    assert mine.shape == native.shape
    assert np.max(np.abs(mine[..., :-1] - native[..., :-1])) <= EXACT
    assert np.max(np.abs(mine[..., -1] - native[..., -1])) <= EXACT  # the expected value
    predicted = np.asarray(model.predict(pool, prediction_type="RawFormulaVal", thread_count=1))
    assert np.max(np.abs(raw - predicted)) <= EXACT


@pytest.fixture(scope="module")
def train_x() -> pd.DataFrame:
    return frame(600, seed=7)


@pytest.fixture(scope="module")
def new_rows() -> pd.DataFrame:
    return frame(250, seed=99, unseen=True)


SHAPES = {
    # name: (task, categorical columns, extra CatBoost parameters)
    "regression_floats": ("regression", None, {}),
    "binary_log_odds": ("binary", None, {}),
    "multiclass_per_class": ("multiclass", None, {}),
    "one_hot_categoricals": ("regression", CATS, {"one_hot_max_size": 255}),
    "ctr_combinations": ("regression", CATS, {"one_hot_max_size": 1, "max_ctr_complexity": 3}),
    "binary_ctr_and_one_hot": ("binary", CATS, {"one_hot_max_size": 3, "max_ctr_complexity": 2}),
    "multiclass_categoricals": ("multiclass", CATS, {"one_hot_max_size": 4, "max_ctr_complexity": 2}),
    "missing_as_max": ("regression", None, {"nan_mode": "Max"}),
    "many_trees_shallow": ("regression", CATS, {"iterations": 150, "depth": 2}),
}


@pytest.mark.parametrize("shape", list(SHAPES))
def test_engine_equals_native_shap_values(shape: str, train_x: pd.DataFrame, new_rows: pd.DataFrame) -> None:
    """On every model shape the tables reproduce ShapValues on training rows and on rows never seen."""
    task, cats, params = SHAPES[shape]
    columns = list(train_x.columns) if cats else [c for c in train_x.columns if c not in CATS]
    model = fit(task, train_x[columns], cats, **params)
    tables = treeshap.build_tables(model)
    assert_exact(model, tables, Pool(train_x[columns], cat_features=cats))
    assert_exact(model, tables, Pool(new_rows[columns], cat_features=cats))


def test_shapes_cover_every_split_kind(train_x: pd.DataFrame) -> None:
    """The categorical shapes really contain one-hot splits, CTR splits and CTRs on feature combinations."""
    one_hot = fit("regression", train_x, CATS, **SHAPES["one_hot_categoricals"][2])
    assert "OneHotFeature" in split_kinds(one_hot) and "OnlineCtr" not in split_kinds(one_hot)
    ctr = fit("regression", train_x, CATS, **SHAPES["ctr_combinations"][2])
    assert "OnlineCtr" in split_kinds(ctr)
    assert max(ctr_combination_sizes(ctr)) >= 2
    mixed = fit("binary", train_x, CATS, **SHAPES["binary_ctr_and_one_hot"][2])
    assert {"OneHotFeature", "OnlineCtr", "FloatFeature"} <= split_kinds(mixed)


@pytest.mark.parametrize("depth", range(1, 9))
def test_engine_is_exact_at_every_depth(depth: int, train_x: pd.DataFrame, new_rows: pd.DataFrame) -> None:
    """Depths 1 to 8, with CTR splits, on training rows and new rows."""
    model = fit("regression", train_x, CATS, depth=depth, iterations=25, one_hot_max_size=2)
    tables = treeshap.build_tables(model)
    assert_exact(model, tables, Pool(new_rows, cat_features=CATS))


def test_trees_of_different_depths_in_one_model() -> None:
    """CatBoost stops a tree early when no split gains: one model then mixes depths; still exact."""
    x = pd.DataFrame({"a": [0.0] * 39 + [1.0], "b": np.arange(40) % 2 * 1.0})
    model = CatBoostRegressor(iterations=5, depth=3, verbose=False, allow_writing_files=False, thread_count=1)
    model.fit(x, np.arange(40, dtype=float))
    assert len(set(model.get_tree_leaf_counts())) > 1
    assert_exact(model, treeshap.build_tables(model), Pool(x))


def test_multiclass_values_have_one_block_per_class(train_x: pd.DataFrame) -> None:
    """Multiclass: (rows, classes, features+1), each class's row summing to that class's raw score."""
    columns = [c for c in train_x.columns if c not in CATS]
    model = fit("multiclass", train_x[columns])
    tables = treeshap.build_tables(model)
    mine, raw = treeshap.explain(model, tables, Pool(train_x[columns]), thread_count=1)
    assert mine.shape == (len(train_x), 4, len(columns) + 1)
    assert np.max(np.abs(mine.sum(axis=2) - raw)) < 1e-9


def test_single_rows_and_a_stored_round_trip(train_x: pd.DataFrame, new_rows: pd.DataFrame) -> None:
    """One row at a time gives the same values as a batch; tables read back from bytes are the same."""
    model = fit("regression", train_x, CATS, one_hot_max_size=2)
    tables = treeshap.LeafTables.from_bytes(treeshap.build_tables(model).to_bytes())
    assert tables is not None
    batch, _ = treeshap.explain(model, tables, Pool(new_rows, cat_features=CATS), thread_count=1)
    for i in (0, 17, 249):
        one, _ = treeshap.explain(model, tables, Pool(new_rows.iloc[[i]], cat_features=CATS), thread_count=1)
        assert np.array_equal(one[0], batch[i])
    assert_exact(model, tables, Pool(new_rows, cat_features=CATS))


@pytest.mark.parametrize("task", ["regression", "multiclass"])
def test_chunks_of_rows_do_not_change_the_values(task: str, train_x: pd.DataFrame, new_rows: pd.DataFrame) -> None:
    """Rows explained one, seven or all at a time give bit-identical values and predictions."""
    model = fit(task, train_x, CATS, one_hot_max_size=2, iterations=20)
    tables = treeshap.build_tables(model)
    leaves = model.calc_leaf_indexes(Pool(new_rows, cat_features=CATS), thread_count=1)
    whole = tables.explain(leaves)
    cells_per_row = len(tables.slot_tree) * tables.dims
    for rows_per_chunk in (1, 7):
        chunked = tables.explain(leaves, chunk_elements=rows_per_chunk * cells_per_row)
        assert np.array_equal(chunked[0], whole[0]) and np.array_equal(chunked[1], whole[1])


def test_a_perturbed_table_is_caught(train_x: pd.DataFrame) -> None:
    """The comparison can fail: one cell of the table of the leaf row 0 falls in, moved by 1e-6, is caught."""
    columns = [c for c in train_x.columns if c not in CATS]
    model = fit("regression", train_x[columns])
    tables = treeshap.build_tables(model)
    pool = Pool(train_x[columns])
    assert treeshap.max_difference(model, tables, pool) <= EXACT
    leaf = model.calc_leaf_indexes(pool, thread_count=1)[0, 0]
    slot = int(np.flatnonzero(tables.slot_tree == 0)[0])
    values = tables.values.copy()
    values[slot, leaf] += 1e-6
    perturbed = dataclasses.replace(tables, values=values)
    assert treeshap.max_difference(model, perturbed, pool) > EXACT
    with pytest.raises(AssertionError):
        assert_exact(model, perturbed, pool)


def test_unsupported_models_are_refused_with_a_reason(train_x: pd.DataFrame) -> None:
    """Non-oblivious trees, text features and a non-identity scale cannot be reproduced: UnsupportedModel."""
    columns = [c for c in train_x.columns if c not in CATS]
    lossguide = fit("regression", train_x[columns], grow_policy="Lossguide", iterations=10)
    with pytest.raises(treeshap.UnsupportedModel, match="not oblivious"):
        treeshap.build_tables(lossguide)
    words = np.array(["red apple", "green pear", "blue sky", "red sky", "green apple"])
    texts = train_x[columns].assign(note=words[np.arange(len(train_x)) % 5])
    text_model = CatBoostClassifier(iterations=10, depth=3, verbose=False, allow_writing_files=False,
                                    thread_count=1, text_features=["note"])
    text_model.fit(texts, (signal(train_x) > 0).astype(int))
    with pytest.raises(treeshap.UnsupportedModel, match="cannot export"):
        treeshap.build_tables(text_model)
    scaled = fit("regression", train_x[columns], iterations=10)
    scaled.set_scale_and_bias(2.0, 0.5)
    with pytest.raises(treeshap.UnsupportedModel, match="scale"):
        treeshap.build_tables(scaled)


def test_model_json_is_what_the_tables_read(train_x: pd.DataFrame) -> None:
    """Guard on the export the engine reads: leaf values reproduce the model's raw predictions."""
    columns = [c for c in train_x.columns if c not in CATS]
    model = fit("regression", train_x[columns], iterations=5, depth=3)
    doc = json.loads(json.dumps(treeshap._model_json(model)))
    leaves = model.calc_leaf_indexes(Pool(train_x[columns]), thread_count=1)
    summed = sum(np.asarray(t["leaf_values"])[leaves[:, i]] for i, t in enumerate(doc["oblivious_trees"]))
    predicted = model.predict(Pool(train_x[columns]), prediction_type="RawFormulaVal")
    assert np.max(np.abs(summed + doc["scale_and_bias"][1][0] - predicted)) <= EXACT
