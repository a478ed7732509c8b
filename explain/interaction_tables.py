"""Exact SHAP interaction values of CatBoost's oblivious trees from per-leaf tables: the interaction
extension of explain.treeshap's engine.

CatBoost's native `ShapInteractionValues` costs about 0.1 s per row on `default` (31 features) and over a
second per row on the wide table (131 features), measured on this 2-core machine under load, so a few
hundred rows would take minutes. As with SHAP values, every row in one leaf of an oblivious tree has the
same interaction values, so each tree's 2^depth answers are computed once (from the same path-dependent
expectations f_S(L) over the tree's players as explain.treeshap) and explaining rows is CatBoost's
`calc_leaf_indexes` plus a gather per tree.

For a tree with M players (explain.treeshap's combination classes), the Shapley interaction index:
    Phi_jk = sum over S in P minus {j, k} of |S|! (M - |S| - 2)! / (2 (M - 1)!) x
             (f_{S+j+k} - f_{S+j} - f_{S+k} + f_S)                 for j != k,
    Phi_jj = phi_j - sum over k != j of Phi_jk,
then mapped from players to features with the same equal shares as the SHAP values. The tables are the
service's own engine and are NOT compared with CatBoost's `ShapInteractionValues`: for some models those do
not add up to CatBoost's own `ShapValues` (measured with catboost 1.2 on the built-in table's
Credit_Score_Avg and Vacancy_Rate models: 2e-05 apart), so they cannot be the reference. Instead `prepare`
holds the tables' row sums to CatBoost's `ShapValues` on a few rows (within 1e-9, relative), and
tests/unit/explain/test_interactions.py holds the tables to a brute-force Shapley interaction index computed from the
definition over every feature subset (tests/unit/explain/shapley_reference.py)."""

from __future__ import annotations

import io
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from catboost import CatBoost, Pool

from explain import treeshap
from explain.treeshap import UnsupportedModel

CHECK_ROWS = 5  # rows whose table row sums are compared with native ShapValues before the tables are used
TOLERANCE = 1e-9  # relative to the largest |SHAP value| (absolute below 1)
MAX_TABLE_BYTES = 256 * 2**20  # larger tables (deep trees, many classes) are left to native ShapInteractionValues


@dataclass(frozen=True)
class InteractionTables:
    """Per tree: the flat indexes of its features and its table (leaves, features, features, dims)."""

    n_features: int
    dims: int
    features: list[np.ndarray]
    tables: list[np.ndarray]

    def explain(self, leaves: np.ndarray, chosen: np.ndarray | None = None) -> np.ndarray:
        """(rows, F, F): the interaction values of rows from their leaf indexes ((rows, trees)), of each
        row's class `chosen` for a multiclass model (else its only output)."""
        out = np.zeros((len(leaves), self.n_features, self.n_features))
        dim = np.zeros(len(leaves), dtype=np.intp) if chosen is None else chosen
        for t, (features, table) in enumerate(zip(self.features, self.tables, strict=True)):
            if len(features):
                out[:, features[:, None], features[None, :]] += table[leaves[:, t], :, :, dim]
        return out


FORMAT = 1  # bump when the stored arrays change meaning: older blobs are then rebuilt


def to_bytes(tables: InteractionTables) -> bytes:
    """An .npz of the tables: every tree's features and table flattened, with their offsets."""
    buffer = io.BytesIO()
    np.savez(buffer, format=np.array(FORMAT), n_features=np.array(tables.n_features), dims=np.array(tables.dims),
             sizes=np.array([len(f) for f in tables.features], dtype=np.int64),
             leaves=np.array([len(t) for t in tables.tables], dtype=np.int64),
             features=np.concatenate([*tables.features, np.zeros(0, dtype=np.int64)]),
             values=np.concatenate([*(t.ravel() for t in tables.tables), np.zeros(0)]))
    return buffer.getvalue()


def from_bytes(blob: bytes) -> InteractionTables | None:
    """Tables stored by `to_bytes`; None for a blob of another FORMAT (they are rebuilt)."""
    with np.load(io.BytesIO(blob), allow_pickle=False) as stored:
        if int(stored["format"]) != FORMAT:
            return None
        dims = int(stored["dims"])
        features = np.split(stored["features"], np.cumsum(stored["sizes"])[:-1])
        shapes = [(int(leaves), len(f), len(f), dims) for leaves, f in zip(stored["leaves"], features, strict=True)]
        ends = np.cumsum([int(np.prod(shape)) for shape in shapes])
        values = np.split(stored["values"], ends[:-1])
        return InteractionTables(int(stored["n_features"]), dims, features,
                                 [v.reshape(shape) for v, shape in zip(values, shapes, strict=True)])


def _interaction_index(f: np.ndarray, players: int) -> np.ndarray:
    """(G, M, M, leaves, dims) from f_S ((G, 2^M, leaves, dims)): the Shapley interaction index per leaf."""
    phi = treeshap._shapley(f, players)  # one definition of phi
    subsets = np.arange(1 << players)
    size = np.array([bin(s).count("1") for s in subsets])
    out = np.zeros((f.shape[0], players, players, *f.shape[2:]))
    if players > 1:
        coefficient = np.array([math.factorial(k) * math.factorial(players - k - 2) / (2 * math.factorial(players - 1))
                                for k in range(players - 1)])
        for j in range(players):
            for k in range(j + 1, players):
                rest = subsets[((subsets >> j) & 1 == 0) & ((subsets >> k) & 1 == 0)]
                both, only_j, only_k = rest | (1 << j) | (1 << k), rest | (1 << j), rest | (1 << k)
                delta = f[:, both] - f[:, only_j] - f[:, only_k] + f[:, rest]
                out[:, j, k] = out[:, k, j] = np.tensordot(delta, coefficient[size[rest]], axes=([1], [0]))
    diagonal = phi - out.sum(axis=2)
    out[:, np.arange(players), np.arange(players)] = diagonal
    return out


def build(model: CatBoost) -> InteractionTables:
    """The interaction tables of `model`; UnsupportedModel when the leaf tables cannot follow it."""
    doc = treeshap._model_json(model)
    if "oblivious_trees" not in doc:
        raise UnsupportedModel("the trees are not oblivious (grow_policy other than SymmetricTree)")
    for tree in doc["oblivious_trees"]:
        tree["splits"] = tree.get("splits") or []
    dims = treeshap._dims(doc)
    treeshap._check_model(doc, dims)
    loss = (doc["model_info"].get("params", {}).get("loss_function") or {}).get("type")
    centre = dims > 1 and loss == "MultiClass"
    features: list[np.ndarray] = []
    tables: list[np.ndarray] = []
    size = 0
    for classes, raw in zip(treeshap._split_classes(doc), doc["oblivious_trees"], strict=True):
        tree = treeshap._Tree(classes, np.asarray(raw["leaf_values"], dtype=np.float64).reshape(-1, dims),
                              np.asarray(raw["leaf_weights"], dtype=np.float64))
        assert tree.features is not None
        features.append(tree.features)
        tables.append(_tree_table(tree, centre))
        size += tables[-1].nbytes
        if size > MAX_TABLE_BYTES:
            raise UnsupportedModel(f"the interaction tables would take over {MAX_TABLE_BYTES // 2**20} MB")
    return InteractionTables(len(model.feature_names_), dims, features, tables)


def _tree_table(tree: treeshap._Tree, centre: bool) -> np.ndarray:
    """One tree's (leaves, features, features, dims) table."""
    assert tree.features is not None
    depth, players = len(tree.classes), len(tree.players)
    if depth == 0:
        return np.zeros((1, 0, 0, tree.leaf_values.shape[1]))
    values = tree.leaf_values - (tree.mean().mean() if centre else 0.0)
    class_of_split = np.array([[tree.players.index(c) for c in tree.classes]])
    f = treeshap._subset_values(class_of_split, players, tree.weights[None], values[None])
    shares = tree.shares(len(tree.features))
    return np.einsum("jkld,ja,kb->labd", _interaction_index(f, players)[0], shares, shares)


def prepare(model: CatBoost, x: pd.DataFrame, cat_features: list[str]) -> tuple[InteractionTables | None, str]:
    """The tables when each row of them sums to CatBoost's ShapValues on the first CHECK_ROWS rows of `x`
    (the Shapley interaction index's defining property: sum over k of Phi_jk = phi_j), else None; and a note
    saying which (for the result's timings and the log)."""
    try:
        tables = build(model)
    except UnsupportedModel as exc:
        return None, f"native: {exc}"
    pool = Pool(x.iloc[:CHECK_ROWS], cat_features=cat_features)
    shap = np.asarray(model.get_feature_importance(data=pool, type="ShapValues", thread_count=1))
    shap = shap.reshape(pool.num_row(), -1, shap.shape[-1])[:, :, :-1]  # (rows, dims, F)
    leaves = model.calc_leaf_indexes(pool, thread_count=1)
    sums = np.stack([tables.explain(leaves, np.full(len(leaves), k, dtype=np.intp)).sum(axis=2)
                     for k in range(tables.dims)], axis=1)
    gap = float(np.max(np.abs(shap - sums), initial=0.0)) if shap.shape == sums.shape else float("inf")
    if not gap <= TOLERANCE * max(1.0, float(np.max(np.abs(shap), initial=0.0))):
        return None, f"native: the interaction tables' row sums differed by {gap:.3g} from ShapValues"
    return tables, "leaf_table"
