"""A small table for the "look" routes' tests (feature values, plots): numeric and categorical features with
missing values, and a regression, a binary and a three-class target."""

from __future__ import annotations

import numpy as np
import pandas as pd

ROWS = 240
TARGETS = ("Score", "Approved", "Tier")
UPLOAD_QUERY = "?id_columns=area&exclude_columns=" + ",".join(TARGETS)


def generate(rows: int = ROWS, seed: int = 20261206) -> pd.DataFrame:
    """Score = 2*Income/1000 - Age + region effect + noise; Approved: Score above its median; Tier: terciles."""
    rng = np.random.default_rng(seed)
    income = rng.normal(60_000, 15_000, rows).round()
    age = rng.integers(20, 70, rows).astype(float)
    region = rng.choice(["north", "south", "east"], rows).astype(object)
    score = 2 * income / 1000 - age + np.select([region == "north", region == "south"], [10.0, -10.0], 0.0)
    score += rng.normal(0, 3, rows)
    income[::17] = np.nan  # missing numbers and categories: null in the feature values
    region[::23] = None
    return pd.DataFrame({
        "area": [f"A{i:04d}" for i in range(rows)], "Income": income, "Age": age, "Region": region,
        "Score": score.round(2), "Approved": np.where(score > np.median(score), "yes", "no"),
        "Tier": pd.qcut(score, 3, labels=["low", "mid", "high"]).astype(str),
    })


def csv_bytes(rows: int = ROWS) -> bytes:
    return generate(rows).to_csv(index=False).encode()
