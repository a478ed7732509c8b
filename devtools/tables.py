"""Small described tables for in-process tests: the built-in table at a chosen size, and two small "areas"
tables with numeric, categorical and id columns whose target is numeric, yes/no or three classes."""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis import datasets
from analysis.dataset_meta import DatasetMeta
from store import default_dataset


def described_default(rows: int, seed: int, name: str = "default") -> tuple[DatasetMeta, pd.DataFrame]:
    """The built-in table's generator at `rows` rows, described with its own options."""
    data = datasets.to_csv_bytes(default_dataset.generate(rows=rows, seed=seed))
    return datasets.describe(data, default_dataset.OPTIONS, name=name, max_rows=10_000)


def areas(task: str) -> tuple[DatasetMeta, pd.DataFrame]:
    """240 areas: two numeric features, a categorical one; y numeric (regression) or yes/no (binary)."""
    rng = np.random.default_rng(11)
    n = 240
    frame = pd.DataFrame({"area": [f"A{i:03d}" for i in range(n)], "a": rng.normal(size=n),
                          "c": rng.choice(["x", "y", "z"], size=n), "d": rng.normal(size=n)})
    score = 2 * frame["a"] + (frame["c"] == "x") * 1.5 + 0.5 * frame["d"] + rng.normal(scale=0.2, size=n)
    frame["y"] = score if task == "regression" else np.where(score > 0.3, "yes", "no")
    return datasets.describe(datasets.to_csv_bytes(frame), datasets.DatasetOptions(id_columns=("area",)),
                             name="t", max_rows=10_000)


def areas_with_gaps(task: str) -> tuple[DatasetMeta, pd.DataFrame]:
    """240 areas with 25 missing values of `a`; y yes/no (binary) or lo/mid/hi (multiclass)."""
    rng = np.random.default_rng(7)
    n = 240
    frame = pd.DataFrame({"area": [f"A{i:03d}" for i in range(n)], "a": rng.normal(size=n),
                          "c": rng.choice(["x", "y", "z"], size=n), "d": rng.normal(size=n)})
    frame.loc[rng.choice(n, 25, replace=False), "a"] = np.nan
    score = frame["a"].fillna(0) + (frame["c"] == "x") + frame["d"]
    bins = [-np.inf, 0.5, np.inf] if task == "binary" else [-np.inf, -0.3, 0.9, np.inf]
    frame["y"] = pd.cut(score, bins, labels=["no", "yes"] if task == "binary" else ["lo", "mid", "hi"]).astype(str)
    data = datasets.to_csv_bytes(frame)
    return datasets.describe(data, datasets.DatasetOptions(id_columns=("area",)), name="t", max_rows=10_000)
