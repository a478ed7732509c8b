"""SHAP engine (issue 12 points 2 and 5): the leaf tables (explain.treeshap) against CatBoost's native
ShapValues, on the same model, the same rows and one thread each (THREADS_PER_JOB of 2 workers x 1 thread).

The model is the service's own (`explain.training.train`, today's parameters) on the wide census-like
table (devtools/wide_table.py), target Default_Rate. Rows: the table's rows tiled to 1, 100, 1,700, 20,000
and 100,000. Per size, from one Pool built beforehand (both engines need one): native = ShapValues;
engine = calc_leaf_indexes + the gather (raw predictions included), and the largest absolute difference of
the two (SHAP values and expected value). Table build time per model: `build_tables` alone and with the
check against ShapValues that the service runs (`prepare_tables`), for the wide table's two targets and
`default`'s.

    .venv/bin/python bench/shap_engine.py [--sizes 1,100,1700,20000,100000]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from benchlib import emit, machine, median, rounded
from catboost import CatBoost, Pool

from analysis import datasets
from analysis.features import feature_frame
from analysis.model_meta import ModelMeta
from devtools import wide_table
from explain import engine, treeshap
from explain.training import train
from store import default_dataset

SIZES = (1, 100, 1_700, 20_000, 100_000)
TARGET = "Default_Rate"


def repeats_for(rows: int) -> int:
    return 25 if rows <= 100 else 9 if rows <= 2_000 else 2 if rows <= 20_000 else 1


def timed(call: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    value = call()
    return time.perf_counter() - started, value


def cpu_timed(call: Callable[[], Any]) -> tuple[float, float, Any]:
    """Wall and CPU seconds of one call (both engines run one thread, so CPU drifts less on a shared machine)."""
    wall, cpu = time.perf_counter(), time.process_time()
    value = call()
    return time.perf_counter() - wall, time.process_time() - cpu, value


def wide_model(target: str) -> tuple[CatBoost, ModelMeta, pd.DataFrame]:
    meta, frame = datasets.describe(wide_table.csv_bytes(), wide_table.options(target), name="wide",
                                    max_rows=10**6)
    features = datasets.feature_columns(meta, target)
    model, model_meta = train(frame, target, features, thread_count=1)
    return model, model_meta, feature_frame(frame, features, model_meta.cat_features)


def default_model() -> tuple[CatBoost, ModelMeta, pd.DataFrame]:
    data = datasets.to_csv_bytes(default_dataset.generate())
    meta, frame = datasets.describe(data, default_dataset.OPTIONS, name="default", max_rows=10**6)
    target = meta.default_target
    assert target is not None, "the table has a default target"
    features = datasets.feature_columns(meta, target)
    model, model_meta = train(frame, target, features, thread_count=1)
    return model, model_meta, feature_frame(frame, features, model_meta.cat_features)


def build_figures(name: str, model: CatBoost, meta: ModelMeta, x: pd.DataFrame) -> dict[str, Any]:
    """Seconds to build one model's tables (median of 3), and to build and check them as training does."""
    build = median([timed(lambda: treeshap.build_tables(model))[0] for _ in range(3)])
    prepare_s, prepared = timed(lambda: engine.prepare_tables(model, x, meta.cat_features))
    tables = prepared.tables
    return {"model": name, "trees": int(model.tree_count_), "features": x.shape[1],
            "depth": int(np.log2(max(model.get_tree_leaf_counts()))),
            "build_s": rounded(build, 4), "build_and_check_s": rounded(prepare_s, 4),
            "table_mb": rounded(len(tables.to_bytes()) / 2**20, 2) if tables else None,
            "engine": engine.LEAF_TABLE if tables else engine.NATIVE}


def size_figures(model: CatBoost, tables: treeshap.LeafTables, x: pd.DataFrame, cats: list[str],
                 rows: int) -> dict[str, Any]:
    tiled = pd.concat([x] * (rows // len(x) + 1), ignore_index=True).iloc[:rows] if rows > len(x) else x.iloc[:rows]
    pool = Pool(tiled, cat_features=cats)
    native_times, native_cpu, leaf_times, gather_times, engine_cpu = [], [], [], [], []
    native = mine = np.empty(0)
    for _ in range(repeats_for(rows)):
        wall, cpu, native = cpu_timed(lambda: model.get_feature_importance(data=pool, type="ShapValues",
                                                                           thread_count=1))
        native_times.append(wall)
        native_cpu.append(cpu)
        leaf_wall, leaf_cpu, leaves = cpu_timed(lambda: model.calc_leaf_indexes(pool, thread_count=1))
        gather_wall, gather_cpu, (mine, _) = cpu_timed(lambda: tables.explain(leaves))  # noqa: B023 - called now
        leaf_times.append(leaf_wall)
        gather_times.append(gather_wall)
        engine_cpu.append(leaf_cpu + gather_cpu)
    engine_s = median(leaf_times) + median(gather_times)
    return {"rows": rows, "native_s": rounded(median(native_times), 5), "engine_s": rounded(engine_s, 5),
            "leaf_index_s": rounded(median(leaf_times), 5), "gather_s": rounded(median(gather_times), 5),
            "ratio_native_to_engine": rounded(median(native_times) / engine_s, 1),
            "ratio_cpu": rounded(median(native_cpu) / max(median(engine_cpu), 1e-9), 1),
            "max_abs_difference": float(np.max(np.abs(native - mine))), "repeats": repeats_for(rows)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)))
    args = parser.parse_args()
    model, meta, x = wide_model(TARGET)
    tables = treeshap.build_tables(model)
    sizes = [size_figures(model, tables, x, meta.cat_features, int(n)) for n in args.sizes.split(",")]
    models = [build_figures(f"wide/{TARGET}", model, meta, x),
              build_figures(f"wide/{wide_table.TARGETS[1]}", *wide_model(wide_table.TARGETS[1])),
              build_figures("default/Mortgage_Approvals", *default_model())]
    at_1700 = next((s for s in sizes if s["rows"] == 1_700), None)
    emit("shap_engine", {
        "model": f"wide/{TARGET}", "trees": int(model.tree_count_), "features": x.shape[1], "sizes": sizes,
        "ratio_at_1700": at_1700["ratio_native_to_engine"] if at_1700 else None,
        "max_abs_difference": max(s["max_abs_difference"] for s in sizes),
        "table_builds": models, "machine": machine(),
    })


if __name__ == "__main__":
    main()
