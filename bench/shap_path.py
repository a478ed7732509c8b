"""SHAP path (issue 5 item 7): native CatBoost ShapValues (what the service uses) vs shap.TreeExplainer
on the same model and rows: rows/s, import time, and the largest absolute difference (must be ~0).
shap.TreeExplainer hands a CatBoost model to CatBoost's own ShapValues with every core (it has no
thread_count), so the like-for-like figure is native with thread_count=-1; the service's jobs use
THREADS_PER_JOB (1 here, with 2 workers).

The model is the service's own (explain.training.train on `default`, default target, one thread). Rows:
the 2,000 rows of `default` tiled to `--rows`. Import times are measured in fresh interpreters.

    .venv/bin/python bench/shap_path.py [--rows 20000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from collections.abc import Callable

import numpy as np
from benchlib import REPO, emit, machine, median, rounded


def import_seconds(module: str, repeats: int = 3) -> float:
    code = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
    return median([float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                                        cwd=REPO).stdout) for _ in range(repeats)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=20000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    import pandas as pd
    import shap
    from catboost import Pool

    from analysis import datasets
    from analysis.features import feature_frame
    from explain.training import train
    from store import default_dataset

    data = datasets.to_csv_bytes(default_dataset.generate())
    meta, frame = datasets.describe(data, default_dataset.OPTIONS, name="default", max_rows=10**6)
    target = meta.default_target
    assert target is not None, "the table has a default target"
    features = datasets.feature_columns(meta, target)
    model, model_meta = train(frame, target, features, thread_count=1)
    cats = model_meta.cat_features
    x = feature_frame(pd.concat([frame] * (args.rows // len(frame) + 1)).iloc[:args.rows], features, cats)

    native_times, native_all_times, explainer_times = [], [], []
    native = explained = np.empty(0)
    for _ in range(args.repeats):
        started = time.perf_counter()
        native = model.get_feature_importance(data=Pool(x, cat_features=cats), type="ShapValues", thread_count=1)
        native_times.append(time.perf_counter() - started)
        started = time.perf_counter()
        model.get_feature_importance(data=Pool(x, cat_features=cats), type="ShapValues", thread_count=-1)
        native_all_times.append(time.perf_counter() - started)
        started = time.perf_counter()
        explainer = shap.TreeExplainer(model)
        explained = np.asarray(explainer.shap_values(Pool(x, cat_features=cats)))
        explainer_times.append(time.perf_counter() - started)
    expected = float(np.ravel(explainer.expected_value)[0])
    difference = max(float(np.max(np.abs(native[:, :-1] - explained))), abs(float(native[0, -1]) - expected))

    small = x.iloc[:1500]
    small_native = median([timed(lambda: model.get_feature_importance(
        data=Pool(small, cat_features=cats), type="ShapValues", thread_count=1)) for _ in range(args.repeats)])
    emit("shap_path", {
        "rows": args.rows, "features": len(features), "trees": model.tree_count_,
        "native_rows_per_s": rounded(args.rows / median(native_times), 0),
        "native_all_threads_rows_per_s": rounded(args.rows / median(native_all_times), 0),
        "tree_explainer_rows_per_s": rounded(args.rows / median(explainer_times), 0),
        "ratio_native_all_threads_to_explainer": rounded(median(explainer_times) / median(native_all_times), 3),
        "native_1500_rows_s": rounded(small_native, 4),
        "max_abs_difference": difference,
        "import_catboost_s": rounded(import_seconds("catboost"), 3),
        "import_shap_s": rounded(import_seconds("shap"), 3),
        "machine": machine(),
    })


def timed(call: Callable[[], object]) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


if __name__ == "__main__":
    main()
