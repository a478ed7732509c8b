"""The plot render job (common.jobstates.PLOT_FUNC, on the plots queue): read a finished analysis's stored
result (its head and rows table), draw one plot (explain.plots) and store its bytes beside the result, for as
long as the result.

It returns {"stored": bytes}, {"refused": why} (the web answers a 400) or {"gone": why} (the result expired
meanwhile: a 404); anything else that goes wrong fails the job."""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson
import redis
from rq.exceptions import NoSuchJobError

from analysis import feature_values, rows_table, stored_result, wording
from analysis.plot_spec import PlotSpec
from common import keys
from common.errors import result_gone
from common.job_meta import JobMeta
from common.rqtypes import JSONJob
from explain import plots
from store import plot_queue, result_store
from store.frame_cache import FrameCache
from worker import context

# what a plot reads of the result (feature_importance: the labels the result was summarized with); the
# interaction plot also reads `interactions` (per-row values of the top pairs: large, so only for it)
FIELDS = ("shap_values", "base_value", "model", "feature_importance")
PLOT_FIELDS = ("base_value", "model", "feature_importance")  # the SHAP values come from the rows table


def result_fields(client: redis.Redis, analysis_id: str, fields: tuple[str, ...] = FIELDS) -> dict[str, Any] | None:
    """The `fields` of a result an earlier build stored whole as JSON, cut out by the byte ranges it recorded
    (whole when it has none); None when the result is gone."""
    key = keys.job_result(analysis_id)
    try:
        index = JobMeta.of(JSONJob.fetch(analysis_id, connection=client)).result_index
    except NoSuchJobError:  # the analysis's record expired while this render waited: its result is gone too
        return None
    if index is None:
        payload: Any = client.get(key)
        return None if payload is None else {k: v for k, v in orjson.loads(payload).items() if k in fields}
    with client.pipeline(transaction=False) as pipe:
        for name in fields:
            pipe.getrange(key, index[name][0], index[name][1] - 1)
        parts = pipe.execute()
    if not all(parts):
        return None
    return {name: orjson.loads(part) for name, part in zip(fields, parts, strict=True)}


def load(client: redis.Redis, analysis_id: str, kind: str = "bar", frames: FrameCache | None = None
         ) -> plots.Stored | None:
    """What the plots of one analysis are drawn from; None when its result or rows are gone. SHAP and feature
    values come from the rows table (its feature values from the dataset version when its rows are the
    dataset's); results of earlier builds are read as they stored them."""
    head = result_store.head(client, analysis_id)
    if head is None:
        return _load_earlier(client, analysis_id, kind)
    stored = result_store.rows(client, frames or FrameCache(), analysis_id, head)
    if stored is None:
        return None
    table = stored.with_values()
    features = rows_table.features_of(table)
    return _stored(head.parts, rows_table.shap_matrix(table, features), rows_table.feature_values(table, features),
                   features, stored_result.plot_rows(head, table))


def _stored(fields: dict[str, Any], matrix: np.ndarray, values: dict[str, list[Any]], features: list[str],
            rows: dict[str, Any]) -> plots.Stored:
    return plots.Stored(features=features, values=matrix, base_value=fields["base_value"],
                        task=fields["model"]["task"], explained_class=rows.get("explained_class"),
                        classes=rows.get("classes"), feature_values=values,
                        labels={entry["feature"]: entry["label"] for entry in fields["feature_importance"]
                                if "label" in entry},
                        interaction_pairs=(fields.get("interactions") or {}).get("pairs", []),
                        target=rows.get("target") or "the target",  # none in plot rows stored before it
                        row_names=wording.row_names(rows["ids"], len(matrix)))


def _load_earlier(client: redis.Redis, analysis_id: str, kind: str) -> plots.Stored | None:
    """An analysis whose JSON result an earlier build stored whole, with its plot rows apart."""
    fields = result_fields(client, analysis_id, PLOT_FIELDS + (("interactions",) if kind == "interaction" else ()))
    raw: Any = client.mget([keys.job_rows_table(analysis_id), keys.job_plot_rows(analysis_id)])
    raw_table, raw_rows = raw
    if fields is None or raw_rows is None:
        return None
    if raw_table is not None:
        table = rows_table.from_ipc(raw_table)
        features = rows_table.features_of(table)
        matrix, values = rows_table.shap_matrix(table, features), rows_table.feature_values(table, features)
    else:
        found = _stored_apart(client, analysis_id)
        if found is None:
            return None
        features, matrix, values = found
    return _stored(fields, matrix, values, features, orjson.loads(raw_rows))


def _stored_apart(client: redis.Redis, analysis_id: str) -> tuple[list[str], np.ndarray, dict] | None:
    """An earlier build's analysis: feature values stored apart, SHAP values in the JSON result."""
    raw: Any = client.get(keys.job_feature_values(analysis_id))
    shap = result_fields(client, analysis_id, ("shap_values",))
    if raw is None or shap is None:
        return None
    features, values = feature_values.decode(raw)
    columns = shap["shap_values"]
    matrix = np.array([columns[name] for name in features], dtype=float).T.reshape(-1, len(features))
    return features, matrix, values


def render_plot(analysis_id: str, spec: dict[str, Any]) -> dict[str, Any]:
    """RQ entry point: draw the plot `spec` (PlotSpec.to_json) of the analysis `analysis_id` and store it."""
    ctx = context.current()
    plot = PlotSpec.from_json(spec)
    try:
        return _render(ctx.redis, analysis_id, plot)
    finally:  # drawn, refused, gone or failed: its place in the plot queue is free (store.plot_queue)
        plot_queue.release(ctx.redis, analysis_id, plot.render_job_id(analysis_id))


def _render(client: redis.Redis, analysis_id: str, plot: PlotSpec) -> dict[str, Any]:
    stored = load(client, analysis_id, plot.kind, context.current().frames)
    if stored is None:
        return {"gone": result_gone(analysis_id)}
    try:
        image = plots.render(stored, plot)
    except plots.PlotRefused as exc:
        return {"refused": str(exc)}
    with client.pipeline(transaction=False) as pipe:
        pipe.pttl(keys.job_result_head(analysis_id))
        pipe.pttl(keys.job_result(analysis_id))  # an earlier build's result
        ttl: Any = max(pipe.execute())
    if not ttl or ttl <= 0:
        return {"gone": result_gone(analysis_id)}
    with client.pipeline(transaction=True) as pipe:
        pipe.hset(keys.job_plots(analysis_id), plot.digest(), image)
        pipe.pexpire(keys.job_plots(analysis_id), ttl)  # as long as the result (it is renewed by each render)
        pipe.execute()
    return {"stored": len(image)}
