"""Training (issue 12 point 3): today's CatBoost parameters against the old ones, in the same run.

For `default` and the wide census-like table (devtools/wide_table.py), two targets each, the service's
own `explain.training.train` runs with LEGACY_PARAMS (300 trees, depth 6, lr 0.08, border_count 254, no
early stopping) and with PARAMS (border_count by width, early stopping on the held-out split, best
iteration kept), one thread each (THREADS_PER_JOB of the 2 workers x 1 thread layout), old and new
interleaved. Because the new parameters let the service's holdout pick the number of trees, the verdict
uses rows that neither training saw: this script first sets aside a seeded 15 % of each table ("bench
rows") and gives `train` only the rest. Seconds are wall and CPU (the machine is shared; CPU drifts less).

    .venv/bin/python bench/training.py [--repeats 1]
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np
import pandas as pd
from benchlib import emit, machine, median, rounded

from common import default_dataset
from common.datasets import DatasetOptions
from devtools import wide_table
from explain.training import (
    LEGACY_PARAMS,
    PARAMS,
    TrainingParams,
    categorical_features,
    feature_frame,
    train,
)

BENCH_FRACTION = 0.15
R2_TOLERANCE = 0.005  # the new parameters may lose at most this much R² ...
LOG_LOSS_TOLERANCE = 0.02  # ... or this share of log-loss


def cases() -> list[tuple[str, str, pd.DataFrame, DatasetOptions]]:
    frame = default_dataset.generate()
    wide = wide_table.generate()
    return [("default", target, frame, default_dataset.OPTIONS) for target in default_dataset.TRUE_DRIVERS] + [
        ("wide", target, wide, wide_table.options(target)) for target in wide_table.TARGETS]


def features_of(frame: pd.DataFrame, target: str, options: DatasetOptions) -> list[str]:
    skip = {target, *options.id_columns, *options.exclude_columns}
    return [c for c in frame.columns if c not in skip]


def bench_metrics(model: Any, meta: dict[str, Any], rows: pd.DataFrame, target: str) -> dict[str, float]:
    """R² (regression) or log-loss (classification) on the bench rows."""
    x = feature_frame(rows, meta["features"], meta["cat_features"])
    y = rows[target].to_numpy()
    if meta["task"] == "regression":
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
    holdout = meta["metrics"]
    return {"seconds": rounded(wall, 3), "cpu_seconds": rounded(cpu, 3), "trees": meta["trees"],
            "border_count": meta["params"]["border_count"],
            "holdout": {k: rounded(v, 4) for k, v in holdout.items() if k in ("r2", "rmse", "log_loss")},
            "bench_rows": {k: rounded(v, 4) for k, v in bench_metrics(model, meta, bench_rows, target).items()}}


def compare(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    o, n = old["bench_rows"], new["bench_rows"]
    if "r2" in o:
        loss = o["r2"] - n["r2"]
        return {"r2_loss": rounded(loss, 4), "within_tolerance": loss <= R2_TOLERANCE}
    worse = n["log_loss"] / o["log_loss"] - 1
    return {"log_loss_increase": rounded(worse, 4), "within_tolerance": worse <= LOG_LOSS_TOLERANCE}


def run_case(name: str, target: str, frame: pd.DataFrame, options: DatasetOptions, repeats: int) -> dict[str, Any]:
    frame = frame[frame[target].notna()]
    order = np.random.default_rng(12).permutation(len(frame))
    n_bench = int(len(frame) * BENCH_FRACTION)
    bench_rows, rest = frame.iloc[order[:n_bench]], frame.iloc[order[n_bench:]]
    features = features_of(frame, target, options)
    runs: dict[str, list[dict[str, Any]]] = {"old": [], "new": []}
    for _ in range(repeats):
        runs["old"].append(measure(rest, bench_rows, target, features, LEGACY_PARAMS))
        runs["new"].append(measure(rest, bench_rows, target, features, PARAMS))
    old, new = (dict(r[0], seconds=median([x["seconds"] for x in r]), cpu_seconds=median([x["cpu_seconds"] for x in r]))
                for r in (runs["old"], runs["new"]))
    return {"dataset": name, "target": target, "rows": len(rest), "features": len(features),
            "categorical": len(categorical_features(rest, features)), "old": old, "new": new,
            "ratio_seconds_new_to_old": rounded(new["seconds"] / old["seconds"], 3),
            "ratio_cpu_new_to_old": rounded(new["cpu_seconds"] / old["cpu_seconds"], 3), **compare(old, new)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    results = [run_case(*case, repeats=args.repeats) for case in cases()]
    for r in results:
        print(f"{r['dataset']:8s} {r['target']:22s} old {r['old']['seconds']:6.2f}s ({r['old']['trees']} trees, "
              f"{r['old']['bench_rows']}) new {r['new']['seconds']:6.2f}s ({r['new']['trees']} trees, "
              f"borders {r['new']['border_count']}, {r['new']['bench_rows']})", flush=True)
    emit("training", {"cases": results, "all_within_tolerance": all(r["within_tolerance"] for r in results),
                      "params_old": LEGACY_PARAMS.__dict__, "params_new": PARAMS.__dict__,
                      "r2_tolerance": R2_TOLERANCE, "log_loss_tolerance": LOG_LOSS_TOLERANCE, "machine": machine()})


if __name__ == "__main__":
    main()
