"""What storing the explained rows' feature values adds to an analysis (docs/plots.md),
and how long each plot kind takes to draw, on the wide table (1,700 x 131), in process.

Baseline, measured in the same run: encoding the result itself (analysis.encoding.encode), which every
analysis pays. Figures: medians of `--repeats` runs, milliseconds.

    .venv/bin/python bench/feature_values.py [--repeats 7]
"""

from __future__ import annotations

import argparse
import functools
import time
from collections.abc import Callable

from benchlib import emit, machine, median, rounded


def timed(action: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()

    import numpy as np

    from analysis import datasets, feature_values
    from analysis.encoding import encode
    from analysis.plot_spec import PlotSpec
    from analysis.request import AnalyzeRequest
    from devtools import wide_table
    from explain import plots
    from explain.run import analyze
    from explain.training import TrainedModel, train

    meta, frame = datasets.describe(wide_table.csv_bytes(), wide_table.options(), name="wide", max_rows=10**6)
    target = meta.default_target
    assert target is not None, "the table has a default target"
    model, model_meta = train(frame, target, datasets.feature_columns(meta, target), thread_count=1)
    trained = TrainedModel("bench", model, model_meta)
    result = analyze(frame, meta, AnalyzeRequest.model_validate({"dataset": "wide"}), target, trained,
                     thread_count=1, batch_size=10_000, max_rows=10**6)
    columns = result.shap_values
    result_ms = timed(lambda: encode(result), args.repeats)
    values_ms = timed(lambda: feature_values.encode("job", columns.features, columns.frame, columns.order),
                      args.repeats)
    rows_ms = timed(lambda: feature_values.encode_rows(result.results, target, None), args.repeats)
    payload = feature_values.encode("job", columns.features, columns.frame, columns.order)
    _, values = feature_values.decode(payload)
    stored = plots.Stored(features=columns.features, values=columns.values[columns.order],
                          base_value=result.base_value, task="regression", explained_class=None, classes=None,
                          feature_values=values)
    specs = [PlotSpec(kind="bar"), PlotSpec(kind="beeswarm"), PlotSpec(kind="waterfall", row=0),
             PlotSpec(kind="dependence", feature=columns.features[0]), PlotSpec(kind="heatmap")]
    draw_ms = {spec.kind: rounded(timed(functools.partial(plots.render, stored, spec), 3)) for spec in specs}
    emit("feature_values", {"machine": machine(), "rows": len(columns.order), "features": len(columns.features),
                            "result_encode_ms": rounded(result_ms), "feature_values_ms": rounded(values_ms),
                            "rows_index_ms": rounded(rows_ms), "feature_values_bytes": len(payload),
                            "ratio_to_result_encode": rounded((values_ms + rows_ms) / result_ms),
                            "draw_png_ms": draw_ms, "shap_rows_nan": bool(np.isnan(stored.values).any())})


if __name__ == "__main__":
    main()
