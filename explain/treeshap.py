"""Exact path-dependent TreeSHAP for CatBoost's oblivious trees, from per-leaf tables.

In an oblivious tree every row that falls in the same leaf gets the same SHAP values, so each tree's 2^depth
possible answers are computed once per model (`build_tables`), and explaining rows is CatBoost's own
`calc_leaf_indexes` plus a gather-and-sum over the trees (`LeafTables.explain`). The values are those of
CatBoost's `get_feature_importance(type="ShapValues")` (calc type Regular), whose semantics this follows:

- the players of a tree are "combination classes": a float feature, a categorical feature (its one-hot and
  its single-feature CTR splits are one class), or a set of categorical features (a CTR on a combination;
  float or one-hot parts of a CTR's projection are not attributed). A class's value is shared equally
  between its categorical features;
- the LAST split of a tree is the root of the path-dependent expectation, the leaf weights stored in the
  model are the covers, and a subtree whose weight is (fuzzily) zero is never entered;
- for a multiclass (MultiClass loss) model each tree's leaf values are centred on the mean over classes of
  the tree's expected value before they are attributed; the expected value is the sum over trees of their
  weighted mean leaf value, plus the model's bias.

Written from that description, the per-tree value is the Shapley formula over the tree's M classes: with
f_S(L) the path-dependent expectation given the classes in S follow leaf L, a vectorised pass over the 2^M
subsets and the 2^d leaves. A model this cannot follow exactly (non-oblivious trees, other split kinds, a
scale other than 1, no leaf weights...) raises `UnsupportedModel`; the caller then uses native ShapValues.
"""

from __future__ import annotations

import io
import math
import os
import tempfile
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson
from catboost import CatBoost, CatBoostError, Pool

FORMAT = 2  # bump when the stored arrays change meaning: older blobs are then rebuilt
MAX_DEPTH = 8  # a tree's table costs 4^depth work and memory: deeper trees are explained natively
CHUNK_ELEMENTS = 1 << 18  # (row, slot) cells gathered at once: 2 MB, kept in cache
FUZZY_EPS = 1e-13  # Arcadia's FuzzyEquals default, which CatBoost uses to skip zero-weight subtrees
SUPPORTED_SPLITS = {"FloatFeature", "OneHotFeature", "OnlineCtr"}


class UnsupportedModel(Exception):
    """The model has a part the leaf tables cannot reproduce exactly; explain it with native ShapValues."""


@dataclass(frozen=True)
class LeafTables:
    """Per-leaf SHAP values of every tree of one model, laid out for a vectorised gather.

    A slot is one (tree, feature) pair: the feature's value at each leaf of that tree. Slots are sorted by
    feature, so a row's per-feature sums are one `np.add.reduceat` over the slots; `leaf_values` and
    `leaf_base` give the raw prediction the same way."""

    n_features: int  # the model's flat feature count (ShapValues has one column more: the expected value)
    dims: int  # 1, or the number of classes of a multiclass model
    expected: np.ndarray  # (dims,)
    bias: np.ndarray  # (dims,)
    values: np.ndarray  # (slots, leaves of the deepest tree, dims)
    slot_tree: np.ndarray  # (slots,) tree of each slot
    column_start: np.ndarray  # (columns,) first slot of each explained feature
    columns: np.ndarray  # (columns,) flat index of each explained feature
    leaf_values: np.ndarray  # (leaves of all trees, dims)
    leaf_base: np.ndarray  # (trees,) first leaf of each tree in leaf_values

    @property
    def trees(self) -> int:
        return len(self.leaf_base)

    def explain(self, leaves: np.ndarray, chunk_elements: int = CHUNK_ELEMENTS) -> tuple[np.ndarray, np.ndarray]:
        """SHAP values and raw predictions of rows from their leaf indexes ((rows, trees), as returned by
        `calc_leaf_indexes`). The SHAP array has ShapValues' shape: (rows, features+1), or
        (rows, classes, features+1) for a multiclass model; raw is (rows,) or (rows, classes).

        Rows are taken a couple of hundred at a time, trees (then slots) on the first axis: every step works
        on contiguous blocks that stay in cache (whole-row takes, no mixed fancy indexing, which is several
        times slower), and the per-feature sums are one reduceat over the slots."""
        rows = len(leaves)
        slots, width = self.values.shape[:2]
        flat = self.values.reshape(slots * width, self.dims)
        first_cell = (np.arange(slots, dtype=np.intp) * width)[:, None]
        shap = np.zeros((rows, self.dims, self.n_features + 1))
        raw = np.empty((rows, self.dims))
        step = max(1, chunk_elements // (max(slots, self.trees, 1) * self.dims))
        sums = np.empty((len(self.columns), min(step, rows), self.dims))  # one chunk's per-feature sums
        for start in range(0, rows, step):
            by_tree = leaves[start:start + step].T.astype(np.intp)  # (trees, rows), contiguous
            count = by_tree.shape[1]
            if slots:
                cells = by_tree.take(self.slot_tree, axis=0)  # (slots, rows): each slot's tree's leaf
                cells += first_cell
                gathered = flat[:, 0].take(cells)[..., None] if self.dims == 1 else flat[cells]  # 1-D take: faster
                np.add.reduceat(gathered, self.column_start, axis=0, out=sums[:, :count])
                shap[start:start + count, :, self.columns] = sums[:, :count].transpose(1, 2, 0)
            by_tree += self.leaf_base[:, None]
            raw[start:start + count] = self.leaf_values[by_tree].sum(axis=0) + self.bias
        shap[:, :, -1] = self.expected
        if self.dims == 1:
            return shap[:, 0, :], raw[:, 0]
        return shap, raw

    def to_bytes(self) -> bytes:
        buffer = io.BytesIO()
        arrays = {name: getattr(self, name) for name in _ARRAYS}
        np.savez(buffer, format=np.array(FORMAT), n_features=np.array(self.n_features), dims=np.array(self.dims),
                 **arrays)
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, blob: bytes) -> LeafTables | None:
        """Tables stored by `to_bytes`; None for a blob of another FORMAT (it is rebuilt)."""
        with np.load(io.BytesIO(blob), allow_pickle=False) as stored:
            if int(stored["format"]) != FORMAT:
                return None
            return cls(n_features=int(stored["n_features"]), dims=int(stored["dims"]),
                       **{name: stored[name] for name in _ARRAYS})


_ARRAYS = ("expected", "bias", "values", "slot_tree", "column_start", "columns", "leaf_values", "leaf_base")


def explain(model: CatBoost, tables: LeafTables, pool: Pool, thread_count: int) -> tuple[np.ndarray, np.ndarray]:
    """SHAP values and raw predictions of the rows of `pool`: CatBoost's leaf indexing, then the tables."""
    leaves = model.calc_leaf_indexes(pool, thread_count=thread_count)
    return tables.explain(leaves)


# --- reading the model ---------------------------------------------------------------------------------

def _model_json(model: CatBoost) -> dict[str, Any]:
    """CatBoost's own JSON export: split kinds, features, leaf values and weights, scale and bias."""
    fd, path = tempfile.mkstemp(suffix=".json")
    os.close(fd)
    try:
        try:
            model.save_model(path, format="json")
        except CatBoostError as exc:  # e.g. text or embedding features: CatBoost exports those as cbm only
            raise UnsupportedModel(f"CatBoost cannot export the model's structure: {exc}") from exc
        with open(path, "rb") as handle:
            return orjson.loads(handle.read())
    finally:
        os.unlink(path)


def _ctr_classes(info: dict[str, Any], trees: list[dict[str, Any]], cat_flat: dict[int, int],
                 first_ctr_bucket: int) -> dict[int, tuple[int, ...]] | None:
    """split_index -> class of every OnlineCtr split, if the CTR buckets start at `first_ctr_bucket`
    (the binary features are numbered float borders, one-hot values, CTR borders, in the model's order)
    and every split's border and target border agree with the CTR it then falls in; else None."""
    ctrs = info.get("ctrs", [])
    starts = np.cumsum([0] + [len(c["borders"]) for c in ctrs])
    found: dict[int, tuple[int, ...]] = {}
    for tree in trees:
        for split in tree["splits"]:
            if split["split_type"] != "OnlineCtr":
                continue
            bucket = split["split_index"] - first_ctr_bucket
            k = int(np.searchsorted(starts, bucket, side="right")) - 1
            if bucket < 0 or k >= len(ctrs):
                return None
            ctr = ctrs[k]
            if (ctr["borders"][bucket - starts[k]] != split["border"]
                    or ctr.get("target_border_idx") != split.get("ctr_target_border_idx")):
                return None
            found[split["split_index"]] = tuple(sorted(
                cat_flat[e["cat_feature_index"]] for e in ctr["elements"]
                if e["combination_element"] == "cat_feature_value"))
    return found


def _split_classes(doc: dict[str, Any]) -> list[list[tuple[int, ...]]]:
    """For each tree, the class (sorted flat indexes of the features it is attributed to) of each split."""
    info, trees = doc["features_info"], doc["oblivious_trees"]
    float_flat = {f["feature_index"]: f["flat_feature_index"] for f in info.get("float_features", [])}
    cat_flat = {f["feature_index"]: f["flat_feature_index"] for f in info.get("categorical_features", [])}
    kinds = {s["split_type"] for t in trees for s in t["splits"]}
    if not kinds <= SUPPORTED_SPLITS:
        raise UnsupportedModel(f"split kinds {sorted(kinds - SUPPORTED_SPLITS)} are not attributed by the tables")
    ctr: dict[int, tuple[int, ...]] = {}
    if "OnlineCtr" in kinds:
        floats = sum(len(f.get("borders") or []) for f in info.get("float_features", []))
        one_hot = [s["split_index"] for t in trees for s in t["splits"] if s["split_type"] == "OneHotFeature"]
        lowest = min(s["split_index"] for t in trees for s in t["splits"] if s["split_type"] == "OnlineCtr")
        # one-hot values unused by any split still take buckets: try every start they allow, keep the
        # attributions that fit; several fitting starts must agree
        options = [c for first in range(max([floats, *(i + 1 for i in one_hot)]), lowest + 1)
                   if (c := _ctr_classes(info, trees, cat_flat, first)) is not None]
        if not options or any(o != options[0] for o in options):
            raise UnsupportedModel("the CTR splits could not be matched to the model's CTRs unambiguously")
        ctr = options[0]
        if any(not c for c in ctr.values()):
            raise UnsupportedModel("a CTR split has no categorical feature to attribute it to")
    classes: list[list[tuple[int, ...]]] = []
    for tree in trees:
        row: list[tuple[int, ...]] = []
        for split in tree["splits"]:
            kind = split["split_type"]
            if kind == "FloatFeature":
                row.append((float_flat[split["float_feature_index"]],))
            elif kind == "OneHotFeature":
                row.append((cat_flat[split["cat_feature_index"]],))
            else:
                row.append(ctr[split["split_index"]])
        classes.append(row)
    return classes


def _check_model(doc: dict[str, Any], dims: int) -> None:
    scale = doc.get("scale_and_bias", [1.0, [0.0]])[0]
    if scale != 1.0:
        raise UnsupportedModel(f"the model's scale is {scale}, not 1")
    loss = (doc["model_info"].get("params", {}).get("loss_function") or {}).get("type")
    if loss == "RMSEWithUncertainty" or (dims > 1 and not loss):
        raise UnsupportedModel(f"loss {loss!r} is explained natively")
    for tree in doc["oblivious_trees"]:
        depth = len(tree["splits"])
        if depth > MAX_DEPTH:
            raise UnsupportedModel(f"a tree of depth {depth} is deeper than {MAX_DEPTH}")
        if len(tree.get("leaf_weights") or []) != 1 << depth:
            raise UnsupportedModel("the model has no leaf weights")
        if _fuzzy_zero(float(sum(tree["leaf_weights"]))):
            raise UnsupportedModel("a tree's leaves all have zero weight")


def _fuzzy_zero(weight: Any) -> Any:
    """CatBoost's FuzzyEquals(1 + w, 1 + 0): |a - b| <= eps * max(|a|, |b|)."""
    return np.abs(weight) <= FUZZY_EPS * np.maximum(np.abs(1.0 + weight), 1.0)


# --- the trees' tables, computed for groups of trees of the same depth and number of classes ---------------

GROUP_ELEMENTS = 1 << 21  # (tree, subset, level, leaf) factors computed at once while building


def _subtree_weights(weights: np.ndarray) -> list[np.ndarray]:
    """Per level t (0 = root), each node's weight, summed bottom-up in pairs as CatBoost does: (G, 2^t)."""
    levels = [weights]
    while levels[0].shape[1] > 1:
        levels.insert(0, levels[0][:, 0::2] + levels[0][:, 1::2])
    return levels


def _subset_values(class_of_split: np.ndarray, players: int, weights: np.ndarray,
                   leaf_values: np.ndarray) -> np.ndarray:
    """f_S(L) for G trees, every subset S of a tree's classes (bit masks) and leaf L: (G, 2^M, 2^d, dims).

    Level t (0 = root) splits on bit d-1-t of the leaf index (the root is the tree's LAST split). For a
    class outside S every split of it multiplies by the child's share of its parent's weight; for a class
    in S the leaf must agree with L on every split of it. Leaves under a zero-weight subtree are never
    reached."""
    trees, depth = class_of_split.shape
    leaf = np.arange(1 << depth)
    # each leaf's ancestor weight at every level (level depth is the leaf itself): (G, depth+1, leaves)
    level_weight = np.stack([np.repeat(w, 1 << (depth - t), axis=1)
                             for t, w in enumerate(_subtree_weights(weights))], axis=1)
    reached = ~_fuzzy_zero(level_weight[:, 1:]).any(axis=1)  # (G, leaves)
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(reached[:, None], level_weight[:, 1:] / level_weight[:, :-1], 0.0)  # (G, levels, leaves)
    level_class = class_of_split[:, ::-1]  # (G, levels)
    subsets = np.arange(1 << players)
    in_s = (subsets[None, :, None] >> level_class[:, None, :]) & 1  # (G, subsets, levels)
    factor = np.where(in_s[..., None] == 1, 1.0, share[:, None]).prod(axis=2)  # (G, subsets, leaves)
    contribution = (factor * reached[:, None])[..., None] * leaf_values[:, None]  # (G, subsets, leaves, dims)
    # the leaf bits each subset pins: bit k of the leaf index belongs to split k
    pinned = (in_s[:, :, ::-1] << np.arange(depth)).sum(axis=2)  # (G, subsets)
    key = leaf & pinned[..., None]  # (G, subsets, leaves)
    block = (np.arange(trees * len(subsets)).reshape(trees, -1, 1) << depth) + key
    out = np.empty(contribution.shape)
    for dim in range(leaf_values.shape[2]):
        sums = np.bincount(block.ravel(), contribution[..., dim].ravel(), minlength=block.size)
        out[..., dim] = np.take_along_axis(sums.reshape(key.shape), key, axis=2)
    return out


def _shapley(f: np.ndarray, players: int) -> np.ndarray:
    """Shapley values of each player for each leaf from f_S ((G, 2^M, leaves, dims)): (G, M, leaves, dims)."""
    subsets = np.arange(1 << players)
    size = np.array([bin(s).count("1") for s in subsets])
    coefficient = np.array([math.factorial(k) * math.factorial(players - k - 1) / math.factorial(players)
                            for k in range(players)])
    phi = np.empty((f.shape[0], players, *f.shape[2:]))
    for j in range(players):
        without = subsets[(subsets >> j) & 1 == 0]
        phi[:, j] = np.tensordot(f[:, without | (1 << j)] - f[:, without], coefficient[size[without]], axes=([1], [0]))
    return phi


@dataclass
class _Tree:
    """One tree as read from the export, and its table once computed."""

    classes: list[tuple[int, ...]]  # per split
    leaf_values: np.ndarray  # (leaves, dims)
    weights: np.ndarray  # (leaves,)
    features: np.ndarray | None = None  # flat feature indexes of the table's columns
    table: np.ndarray | None = None  # (leaves, features, dims)

    def __post_init__(self) -> None:
        self.players = sorted(set(self.classes))  # the tree's classes: its Shapley players
        self.features = np.array(sorted({f for c in self.players for f in c}), dtype=np.int64)

    def mean(self) -> np.ndarray:
        """The tree's expected value: its leaf values weighted by the leaf weights."""
        return (self.leaf_values * self.weights[:, None]).sum(axis=0) / _subtree_weights(self.weights[None])[0][0, 0]

    def shares(self, width: int) -> np.ndarray:
        """(players, width): the share of each class's value that goes to each of the tree's features
        (equal shares for the categorical features of a CTR combination); columns past them are zero."""
        assert self.features is not None
        out = np.zeros((len(self.players), width))
        for j, cls in enumerate(self.players):
            out[j, np.searchsorted(self.features, cls)] = 1.0 / len(cls)
        return out


def _compute_tables(trees: list[_Tree], centre: bool) -> None:
    """Fill every tree's table, group by group of trees with the same depth and class count."""
    groups: dict[tuple[int, int], list[_Tree]] = {}
    for tree in trees:
        groups.setdefault((len(tree.classes), len(tree.players)), []).append(tree)
    for (depth, players), members in groups.items():
        if depth == 0:  # a constant tree: all of it is in the expected value
            for tree in members:
                tree.table = np.zeros((1, 0, tree.leaf_values.shape[1]))
            continue
        step = max(1, GROUP_ELEMENTS // ((1 << players) * depth * (1 << depth)))
        for start in range(0, len(members), step):
            chunk = members[start:start + step]
            values = np.stack([t.leaf_values for t in chunk])
            if centre:  # MultiClass: centre each tree on the mean over classes of its expected value
                values = values - np.stack([t.mean().mean() for t in chunk])[:, None, None]
            class_of_split = np.array([[t.players.index(c) for c in t.classes] for t in chunk])
            f = _subset_values(class_of_split, players, np.stack([t.weights for t in chunk]), values)
            width = max(len(t.features) for t in chunk if t.features is not None)
            shares = np.stack([t.shares(width) for t in chunk])
            tables = np.einsum("gjld,gjc->glcd", _shapley(f, players), shares)  # (G, leaves, width, dims)
            for tree, table in zip(chunk, tables, strict=True):
                assert tree.features is not None
                tree.table = table[:, :len(tree.features)]


# --- the whole model -----------------------------------------------------------------------------------

def build_tables(model: CatBoost) -> LeafTables:
    """The leaf tables of `model`; raises UnsupportedModel when they could not match ShapValues exactly."""
    doc = _model_json(model)
    if "oblivious_trees" not in doc:
        raise UnsupportedModel("the trees are not oblivious (grow_policy other than SymmetricTree)")
    for tree in doc["oblivious_trees"]:
        tree["splits"] = tree.get("splits") or []  # a tree without a split (one leaf) is exported with null
    dims = _dims(doc)
    _check_model(doc, dims)
    loss = (doc["model_info"].get("params", {}).get("loss_function") or {}).get("type")
    trees = [_Tree(c, np.asarray(t["leaf_values"], dtype=np.float64).reshape(-1, dims),
                   np.asarray(t["leaf_weights"], dtype=np.float64))
             for c, t in zip(_split_classes(doc), doc["oblivious_trees"], strict=True)]
    _compute_tables(trees, centre=dims > 1 and loss == "MultiClass")
    bias = np.asarray(doc.get("scale_and_bias", [1.0, [0.0]])[1], dtype=np.float64).reshape(-1)
    bias = np.broadcast_to(bias, (dims,)).copy() if bias.size in (1, dims) else np.zeros(dims)
    return _assemble(trees, dims, len(model.feature_names_), bias)


def _dims(doc: dict[str, Any]) -> int:
    tree = doc["oblivious_trees"][0]
    return len(tree["leaf_values"]) // (1 << len(tree["splits"]))


def _assemble(trees: list[_Tree], dims: int, n_features: int, bias: np.ndarray) -> LeafTables:
    """Lay the trees' tables out as LeafTables: one slot per (tree, feature), sorted by feature."""
    width = max(len(t.leaf_values) for t in trees)
    slot_values: list[np.ndarray] = []
    slot_tree: list[int] = []
    slot_feature: list[int] = []
    for t, tree in enumerate(trees):
        assert tree.table is not None and tree.features is not None
        padded = np.zeros((len(tree.features), width, dims))
        padded[:, :len(tree.table)] = tree.table.transpose(1, 0, 2)
        slot_values.append(padded)
        slot_tree += [t] * len(tree.features)
        slot_feature += tree.features.tolist()
    order = np.argsort(np.asarray(slot_feature, dtype=np.int64), kind="stable")
    columns, column_start = np.unique(np.asarray(slot_feature, dtype=np.int64)[order], return_index=True)
    leaf_base = np.cumsum([0] + [len(t.leaf_values) for t in trees[:-1]])
    return LeafTables(
        n_features=n_features, dims=dims,
        expected=np.sum([t.mean() for t in trees], axis=0) + bias, bias=bias,
        values=np.concatenate(slot_values)[order],
        slot_tree=np.asarray(slot_tree, dtype=np.intp)[order],
        column_start=column_start.astype(np.intp), columns=columns.astype(np.intp),
        leaf_values=np.concatenate([t.leaf_values for t in trees]), leaf_base=leaf_base.astype(np.intp))


def max_difference(model: CatBoost, tables: LeafTables, pool: Pool, thread_count: int = 1) -> float:
    """The largest absolute difference between the tables' SHAP values (expected value included) and
    CatBoost's native ShapValues on the rows of `pool`."""
    native = model.get_feature_importance(data=pool, type="ShapValues", thread_count=thread_count)
    mine, _ = explain(model, tables, pool, thread_count)
    if native.shape != mine.shape:
        return float("inf")
    return float(np.max(np.abs(native - mine), initial=0.0))
