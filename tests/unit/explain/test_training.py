"""Right-sized training: borders by width, early stopping with the best iteration kept, honest metrics."""

from __future__ import annotations

import numpy as np
import pandas as pd

from explain.training import LEGACY_PARAMS, border_count_for, train


def test_border_count_follows_the_width() -> None:
    """Up to 32 features keep CatBoost's 254 borders; wider tables get a power of two down to 32."""
    assert [border_count_for(n) for n in (1, 30, 32, 33, 64, 100, 131, 2000)] == [254, 254, 254, 128, 128, 64, 32, 32]


def _frame(rows: int = 400, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, 5))
    frame = pd.DataFrame(x, columns=[f"f{i}" for i in range(5)])
    frame["y"] = x[:, 0] * 3 + x[:, 1] + rng.normal(0, 0.1, rows)
    frame["label"] = np.where(frame["y"] > 0, "up", "down")
    return frame


def test_early_stopping_keeps_the_best_iteration_of_the_holdout() -> None:
    """With early stopping the model has at most 300 trees and no more than the legacy fit."""
    frame = _frame()
    features = [f"f{i}" for i in range(5)]
    model, meta = train(frame, "y", features, thread_count=1)
    _, legacy_meta = train(frame, "y", features, thread_count=1, params=LEGACY_PARAMS)
    assert meta.trees == model.tree_count_ == model.get_best_iteration() + 1
    assert meta.trees <= legacy_meta.trees == 300
    assert meta.params["border_count"] == 254 and meta.params["early_stopping_rounds"] == 30
    assert meta.metrics.r2 > 0.9


def test_classifiers_report_log_loss_and_accuracy() -> None:
    """A binary target's held-out metrics carry log-loss beside accuracy."""
    frame = _frame()
    _, meta = train(frame, "label", [f"f{i}" for i in range(5)], thread_count=1)
    assert meta.task == "binary"
    assert 0 < meta.metrics.log_loss < 0.69
    assert meta.metrics.accuracy > 0.8


def test_a_class_seen_only_in_the_holdout_does_not_break_training() -> None:
    """A rare class absent from the training rows is left out of early stopping, not refused by CatBoost."""
    frame = _frame(200)
    frame["cls"] = np.where(frame["y"] > 1, "high", np.where(frame["y"] > -1, "mid", "low"))
    order = np.random.default_rng(0).permutation(len(frame))
    frame.loc[frame.index[order[0]], "cls"] = "rare"  # the seeded split puts this row in the holdout
    _, meta = train(frame, "cls", [f"f{i}" for i in range(5)], thread_count=1)
    assert meta.task == "multiclass" and "rare" not in meta.classes
    assert meta.metrics.holdout_rows == 40



def test_training_reports_its_trees_through_catboosts_callback() -> None:
    """CatBoost calls the reporter after each tree; the first tree is reported at once, the rest at most
    every PROGRESS_INTERVAL_S, in order, never past the most trees, and the model is the one trained
    without it (the callback changes nothing it learns)."""
    frame = _frame()
    features = [f"f{i}" for i in range(5)]
    heard: list[tuple[int, int]] = []
    _, meta = train(frame, "y", features, thread_count=1, on_iteration=lambda i, n: heard.append((i, n)))
    _, without = train(frame, "y", features, thread_count=1)
    assert heard and heard[0] == (1, 300)  # info.iteration counts the trees built
    assert [i for i, _ in heard] == sorted({i for i, _ in heard}) and all(1 <= i <= n == 300 for i, n in heard)
    assert meta.trees == without.trees and meta.metrics == without.metrics
