"""The reference for the service's interaction tables: SHAP values and the Shapley interaction index of a
small CatBoost model of float features, computed from their definitions over every subset of the model's
features, with nothing shared with explain.treeshap or explain.interaction_tables.

The game is the model's path-dependent expectation (TreeSHAP's, as CatBoost computes its ShapValues): v(S)
is the bias plus, per oblivious tree, the expected leaf value when the splits on features in S follow the
row and every other split is averaged over its children by the training weight under them (CatBoost's leaf
weights; a subtree of zero weight is never entered). A tree's LAST split is its root. For a MultiClass model
each tree's values are first centred on the mean over classes of the tree's expected value, as CatBoost does.

    phi_i  = sum over S in F - {i} of |S|! (F - |S| - 1)! / F! (v(S + i) - v(S))
    Phi_ij = sum over S in F - {i, j} of |S|! (F - |S| - 2)! / (2 (F - 1)!) (v(S+i+j) - v(S+i) - v(S+j) + v(S))
    Phi_ii = phi_i - sum over j != i of Phi_ij

Exponential in the number of features: for models of a handful of features only."""

from __future__ import annotations

import itertools
import json
import math
import os
import tempfile
from typing import Any

import numpy as np
from catboost import CatBoost


def model_doc(model: CatBoost) -> dict[str, Any]:
    """CatBoost's JSON export of `model`."""
    fd, path = tempfile.mkstemp(suffix=".json")
    os.close(fd)
    try:
        model.save_model(path, format="json")
        with open(path) as handle:
            return json.load(handle)
    finally:
        os.unlink(path)


class Game:
    """v(S) of one row of a float-feature oblivious-tree model."""

    def __init__(self, model: CatBoost) -> None:
        doc = model_doc(model)
        flat = {f["feature_index"]: f["flat_feature_index"] for f in doc["features_info"]["float_features"]}
        self.n_features = len(model.feature_names_)
        self.trees = []
        for tree in doc["oblivious_trees"]:
            splits = [(flat[s["float_feature_index"]], s["border"]) for s in tree.get("splits") or []]
            weights = np.asarray(tree["leaf_weights"], dtype=float)
            values = np.asarray(tree["leaf_values"], dtype=float).reshape(len(weights), -1)
            self.trees.append((splits, weights, values))
        self.dims = self.trees[0][2].shape[1]
        self.bias = np.broadcast_to(np.asarray(doc.get("scale_and_bias", [1, [0.0]])[1], dtype=float),
                                    (self.dims,))
        loss = doc["model_info"]["params"]["loss_function"]["type"]
        if loss == "MultiClass":
            self.trees = [(s, w, v - (v * w[:, None]).sum(axis=0).mean() / w.sum()) for s, w, v in self.trees]

    def value(self, row: np.ndarray, subset: frozenset[int]) -> np.ndarray:
        total = self.bias.copy()
        for splits, weights, values in self.trees:
            total += _expect(splits, weights, values, row, subset, len(splits) - 1, 0)
        return total


def _expect(splits: list[tuple[int, float]], weights: np.ndarray, values: np.ndarray, row: np.ndarray,
            subset: frozenset[int], level: int, prefix: int) -> np.ndarray:
    """The expected value under the node whose splits above `level` gave the leaf bits `prefix`."""
    if level < 0:
        return values[prefix]

    def weight(bit: int) -> float:
        child = prefix | (bit << level)
        return float(sum(weights[leaf] for leaf in range(len(weights))
                         if leaf & ~((1 << level) - 1) == child))

    feature, border = splits[level]
    if feature in subset:
        bit = int(row[feature] > border)
        if weight(bit) == 0:
            return np.zeros(values.shape[1])
        return _expect(splits, weights, values, row, subset, level - 1, prefix | (bit << level))
    node = weight(0) + weight(1)
    out = np.zeros(values.shape[1])
    for bit in (0, 1):
        if weight(bit) > 0:
            below = _expect(splits, weights, values, row, subset, level - 1, prefix | (bit << level))
            out += weight(bit) / node * below
    return out


def interaction_index(game: Game, row: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(phi (dims, F), Phi (dims, F, F)) of one row, from the definitions (module docstring)."""
    count = game.n_features
    everyone = range(count)
    v = {frozenset(s): game.value(row, frozenset(s))
         for size in range(count + 1) for s in itertools.combinations(everyone, size)}
    phi = np.zeros((game.dims, count))
    pairs = np.zeros((game.dims, count, count))
    for i in everyone:
        for s in (k for k in v if i not in k):
            phi[:, i] += math.factorial(len(s)) * math.factorial(count - len(s) - 1) / math.factorial(count) * (
                v[s | {i}] - v[s])
        for j in everyone:
            if j == i:
                continue
            for s in (k for k in v if i not in k and j not in k):
                weight = math.factorial(len(s)) * math.factorial(count - len(s) - 2) / (2 * math.factorial(count - 1))
                pairs[:, i, j] += weight * (v[s | {i, j}] - v[s | {i}] - v[s | {j}] + v[s])
    for i in everyone:
        pairs[:, i, i] = phi[:, i] - pairs[:, i].sum(axis=1)
    return phi, pairs
