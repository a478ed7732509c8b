"""The leak thresholds' evidence (analysis.data_checks, docs/warnings.md): for every numeric
feature of `default` and of the wide census-like table, its association with each target as the service
measures it (|Spearman| for a numeric target, one-feature AUC either way for a binary one), on all rows.
Prints, per dataset and target, the strongest real feature and the leak column's figure, so a threshold
can be placed between them with margin. A measurement of exactness, not of speed: run_all.py does not run it.

    .venv/bin/python bench/leakage.py
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis import data_checks
from devtools import wide_table
from store import default_dataset


def strongest(frame: pd.DataFrame, target: str, skip: set[str], task: str) -> list[tuple[str, float]]:
    """Every numeric feature's association with `target`, strongest first."""
    y = frame[target].to_numpy()
    positive = y.astype(str) == "True"
    found = []
    for name in frame.columns:
        if name in skip or name == target or not pd.api.types.is_numeric_dtype(frame[name]):
            continue
        values = frame[name].to_numpy(dtype=float)
        ok = np.isfinite(values)
        value = data_checks.association(task, values[ok], y[ok], positive[ok])
        if value is not None:
            found.append((str(name), value))
    return sorted(found, key=lambda item: -item[1])


def main() -> None:
    default = default_dataset.generate()
    wide = wide_table.generate()
    wide["Default_High"] = wide["Default_Rate"] > wide["Default_Rate"].median()
    cases = [("default", default, t, {"zip_code", "latitude", "longitude", *default_dataset.TRUE_DRIVERS} - {t},
              "regression") for t in default_dataset.TRUE_DRIVERS]
    targets = {"Default_Rate": "regression", "Turnout_Pct": "regression", "Default_High": "binary"}
    cases += [("wide", wide, t, {"zip", *targets} - {t}, task) for t, task in targets.items()]
    print(f"thresholds: |Spearman| >= {data_checks.LEAK_SPEARMAN}, one-feature AUC >= {data_checks.LEAK_AUC}")
    for name, frame, target, skip, task in cases:
        ranked = strongest(frame, target, skip, task)
        real = [item for item in ranked if item[0] != wide_table.LEAK_COLUMN]
        leak = [f"{feature} {value:.4f}" for feature, value in ranked if feature == wide_table.LEAK_COLUMN]
        print(f"{name:8s} {target:22s} ({task}): strongest real feature {real[0][0]} {real[0][1]:.4f}; "
              f"leak column: {leak[0] if leak else '-'}")


if __name__ == "__main__":
    main()
