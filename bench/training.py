"""Training (issue 12 point 3): today's CatBoost parameters against the old ones, in the same run.

For `default` and the wide census-like table (devtools/wide_table.py), two targets each (plus a binary
target derived from the wide table, `Default_Rate` above its median, judged by log-loss), the service's
own `explain.training.train` runs with LEGACY_PARAMS (300 trees, depth 6, lr 0.08, border_count 254, no
early stopping) and with PARAMS (border_count by width, early stopping on the held-out split, best
iteration kept), one thread each (THREADS_PER_JOB of the 2 workers x 1 thread layout), old and new
interleaved. Because the new parameters let the service's holdout pick the number of trees, the verdict
uses rows that neither training saw: this script first sets aside a seeded 15 % of each table ("bench
rows") and gives `train` only the rest, on three seeded splits (255 test rows are noisy: the verdict uses
each metric's mean over the splits). Seconds are wall and CPU, medians over the splits (the machine is
shared; CPU drifts less).

    .venv/bin/python bench/training.py [--splits 3]
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np
import pandas as pd
from benchlib import emit, machine, median, rounded

from analysis.datasets import DatasetOptions
from analysis.features import feature_frame
from analysis.model_meta import ModelMeta
from devtools import wide_table
from explain.training import (
    LEGACY_PARAMS,
    PARAMS,
    TrainingParams,
    categorical_features,
    train,
)
from store import default_dataset

BENCH_FRACTION = 0.15
R2_TOLERANCE = 0.005  # the new parameters may lose at most this much R² ...
LOG_LOSS_TOLERANCE = 0.02  # ... or this share of log-loss


BINARY = "High_Default"  # a binary target derived from the wide table, for the log-loss criterion


def cases() -> list[tuple[str, str, pd.DataFrame, DatasetOptions]]:
    frame = default_dataset.generate()
    wide = wide_table.generate()
    binary = wide.assign(**{BINARY: (wide["Default_Rate"] > wide["Default_Rate"].median()).astype(int)})
    leak = wide_table.options("Default_Rate")
    binary_options = DatasetOptions(leak.id_columns, (*leak.exclude_columns, "Default_Rate"), BINARY)
    return [("default", target, frame, default_dataset.OPTIONS) for target in default_dataset.TRUE_DRIVERS] + [
        ("wide", target, wide, wide_table.options(target)) for target in wide_table.TARGETS] + [
        ("wide", BINARY, binary, binary_options)]


def features_of(frame: pd.DataFrame, target: str, options: DatasetOptions) -> list[str]:
    skip = {target, *options.id_columns, *options.exclude_columns}
    return [c for c in frame.columns if c not in skip]


def bench_metrics(model: Any, meta: ModelMeta, rows: pd.DataFrame, target: str) -> dict[str, float]:
    """R² (regression) or log-loss (classification) on the bench rows."""
    x = feature_frame(rows, meta.features, meta.cat_features)
    y = rows[target].to_numpy()
    if meta.task == "regression":
        pred = np.asarray(model.predict(x), dtype=float)
        return {"r2": 1 - float(np.mean((pred - y) ** 2) / np.var(y))}
    proba = np.asarray(model.predict_proba(x), dtype=float)
    classes = [str(c) for c in model.classes_]
    picked = proba[np.arange(len(y)), [classes.index(str(c)) for c in y]]
    return {"log_loss": float(-np.mean(np.log(np.clip(picked, 1e-15, 1))))}


def measure(frame: pd.DataFrame, bench_rows: pd.DataFrame, target: str, features: list[str],
            params: TrainingParams) -> dict[str, Any]:
    started, cpu = time.perf_counter(), time.process_time()
    model, meta = train(frame, target, features, thread_count=1, params=params)
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    holdout = meta.metrics.as_dict()
    return {"seconds": rounded(wall, 3), "cpu_seconds": rounded(cpu, 3), "trees": meta.trees,
            "border_count": meta.params["border_count"],
            "holdout": {k: rounded(v, 4) for k, v in holdout.items()
                        if k in ("r2", "rmse", "log_loss") and v is not None},
            "bench_rows": {k: rounded(v, 4) for k, v in bench_metrics(model, meta, bench_rows, target).items()}}


def compare(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    o, n = old["bench_rows"], new["bench_rows"]
    if "r2" in o:
        loss = o["r2"] - n["r2"]
        return {"r2_loss": rounded(loss, 4), "within_tolerance": loss <= R2_TOLERANCE}
    worse = n["log_loss"] / o["log_loss"] - 1
    return {"log_loss_increase": rounded(worse, 4), "within_tolerance": worse <= LOG_LOSS_TOLERANCE}


def summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Median seconds over every run; each metric averaged over the bench splits."""
    metrics = {k: rounded(float(np.mean([r["bench_rows"][k] for r in runs])), 4) for k in runs[0]["bench_rows"]}
    return dict(runs[0], seconds=median([r["seconds"] for r in runs]),
                cpu_seconds=median([r["cpu_seconds"] for r in runs]), trees=median([r["trees"] for r in runs]),
                bench_rows=metrics, bench_rows_by_split=[r["bench_rows"] for r in runs])


def run_case(name: str, target: str, frame: pd.DataFrame, options: DatasetOptions, splits: int) -> dict[str, Any]:
    """Old and new parameters on `splits` seeded bench splits; 255-row test sets are noisy, so the
    verdict uses the mean over the splits."""
    frame = frame[frame[target].notna()]
    features = features_of(frame, target, options)
    n_bench = int(len(frame) * BENCH_FRACTION)
    runs: dict[str, list[dict[str, Any]]] = {"old": [], "new": []}
    for seed in range(12, 12 + splits):
        order = np.random.default_rng(seed).permutation(len(frame))
        bench_rows, rest = frame.iloc[order[:n_bench]], frame.iloc[order[n_bench:]]
        runs["old"].append(measure(rest, bench_rows, target, features, LEGACY_PARAMS))
        runs["new"].append(measure(rest, bench_rows, target, features, PARAMS))
    old, new = summary(runs["old"]), summary(runs["new"])
    return {"dataset": name, "target": target, "rows": len(frame) - n_bench, "features": len(features),
            "categorical": len(categorical_features(frame, features)), "splits": splits, "old": old, "new": new,
            "ratio_seconds_new_to_old": rounded(new["seconds"] / old["seconds"], 3),
            "ratio_cpu_new_to_old": rounded(new["cpu_seconds"] / old["cpu_seconds"], 3), **compare(old, new)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--splits", type=int, default=3, help="seeded bench splits per case")
    args = parser.parse_args()
    results = [run_case(*case, splits=args.splits) for case in cases()]
    for r in results:
        print(f"{r['dataset']:8s} {r['target']:22s} old {r['old']['seconds']:6.2f}s ({r['old']['trees']} trees, "
              f"{r['old']['bench_rows']}) new {r['new']['seconds']:6.2f}s ({r['new']['trees']} trees, "
              f"borders {r['new']['border_count']}, {r['new']['bench_rows']})", flush=True)
    emit("training", {"cases": results, "all_within_tolerance": all(r["within_tolerance"] for r in results),
                      "params_old": LEGACY_PARAMS.__dict__, "params_new": PARAMS.__dict__,
                      "r2_tolerance": R2_TOLERANCE, "log_loss_tolerance": LOG_LOSS_TOLERANCE, "machine": machine()})


if __name__ == "__main__":
    main()
