"""GET /job_status/<id>/plots/<kind>: SHAP plots drawn by shap.plots in a real forking worker (the plots
queue), stored in a real redis-server beside the result and served by the real web; refusals name what to fix."""

from __future__ import annotations

import http.client
import json
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import numpy as np
import pytest
from shap_client import Client

from analysis.plot_spec import PlotSpec
from common import jobstates, keys
from common.rqtypes import JSONJob, JSONQueue
from devtools import look_table
from devtools.stack import Stack
from worker import plot_job as render

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
KINDS_WITH_PARAMS: list[tuple[str, dict[str, str]]] = [
    ("bar", {}), ("beeswarm", {"max_display": "2"}), ("waterfall", {"row": "A0005"}),
    ("dependence", {"feature": "Income", "color": "Region"}), ("heatmap", {}),
]


def get(stack: Stack, path: str, params: dict[str, str] | None = None) -> tuple[int, Any, dict[str, str]]:
    """One GET; the body parsed when it is JSON, else the bytes as sent (an image)."""
    connection = http.client.HTTPConnection("127.0.0.1", stack.port, timeout=60)
    try:
        connection.request("GET", path + (f"?{urlencode(params)}" if params else ""), headers=stack.headers())
        response = connection.getresponse()
        body, headers = response.read(), dict(response.getheaders())
    finally:
        connection.close()
    return response.status, json.loads(body) if headers["Content-Type"] == "application/json" else body, headers


@pytest.fixture(scope="module")
def analyses(stack: Stack) -> dict[str, str]:
    """One finished analysis per task of the look table, by task."""
    status, answer, _ = stack.request("PUT", f"/datasets/look{look_table.UPLOAD_QUERY}", raw=look_table.csv_bytes(),
                                      headers={"Content-Type": "text/csv"})
    assert status in (200, 201), answer
    jobs = {task: stack.analyze({"dataset": "look", "target": target})
            for task, target in zip(("regression", "binary", "multiclass"), look_table.TARGETS, strict=True)}
    for task, job_id in jobs.items():
        answer = stack.wait_job(job_id)
        assert answer["status"] == "finished" and answer["result"]["model"]["task"] == task, answer
    return jobs


@pytest.mark.parametrize(("kind", "params"), KINDS_WITH_PARAMS)
def test_every_kind_is_drawn_as_png_and_svg(stack: Stack, analyses: dict[str, str], kind: str,
                                            params: dict[str, str]) -> None:
    """Each kind answers 200 with a PNG by default and an SVG on format=svg, typed as such."""
    path = f"/job_status/{analyses['regression']}/plots/{kind}"
    status, png, headers = get(stack, path, {**params, "wait": "30"})
    assert status == 200, png
    assert headers["Content-Type"] == "image/png" and png.startswith(PNG_MAGIC)
    status, svg, headers = get(stack, path, {**params, "format": "svg", "wait": "30"})
    assert status == 200 and headers["Content-Type"].startswith("image/svg+xml")
    assert b"<svg" in svg[:2000] and svg.rstrip().endswith(b"</svg>")


def test_a_repeated_plot_is_served_from_redis_without_a_second_render(stack: Stack,
                                                                        analyses: dict[str, str]) -> None:
    """The first request enqueues a render (202, its job id, where to poll); once drawn, every request is
    answered at once from the stored image, and the render job ran exactly once."""
    job_id = analyses["regression"]
    path = f"/job_status/{job_id}/plots/beeswarm"
    status, pending, _ = get(stack, path, {"max_display": "4"})
    assert status == 202, pending
    assert pending["status_url"] == f"{path}?max_display=4" and pending["job_id"].startswith(f"plot-{job_id}-")
    status, first, _ = get(stack, pending["status_url"] + "&wait=30")
    assert status == 200 and first.startswith(PNG_MAGIC)
    for _ in range(3):
        status, again, headers = get(stack, path, {"max_display": "4"})
        assert status == 200 and again == first and "max-age" in headers["Cache-Control"]
    assert get(stack, path, {"max_display": "4", "wait": "31"})[0] == 400  # checked though the plot is stored
    render = JSONJob.fetch(pending["job_id"], connection=stack.redis())
    assert len(render.results()) == 1  # one execution
    spec = PlotSpec(kind="beeswarm", max_display=4)
    client = stack.redis()
    assert client.hget(keys.job_plots(job_id), spec.digest()) == first
    assert 0 < client.ttl(keys.job_plots(job_id)) <= client.ttl(keys.job_result_head(job_id))


@pytest.mark.parametrize(("kind", "params", "named"), [
    ("pie", {}, "pie"),
    ("bar", {"format": "gif"}, "gif"),
    ("bar", {"max_display": "0"}, "max_display"),
    ("bar", {"max_display": "ten"}, "ten"),
    ("waterfall", {"row": "Z9999"}, "Z9999"),
    ("waterfall", {"row": "240"}, "240"),
    ("waterfall", {}, "row"),
    ("bar", {"row": "3"}, "row"),
    ("dependence", {"feature": "Height"}, "Height"),
    ("dependence", {"feature": "Income", "color": "Weight"}, "Weight"),
    ("dependence", {}, "feature"),
    ("bar", {"class": "yes"}, "class"),
    ("bar", {"wait": "31"}, "wait"),
    ("bar", {"colour": "Income"}, "colour"),
    ("bar", {"max-display": "3"}, "max-display"),
])
def test_a_bad_parameter_is_a_400_that_names_it(stack: Stack, analyses: dict[str, str], kind: str,
                                                params: dict[str, str], named: str) -> None:
    """An unknown kind, format, row, feature or colour, a parameter the kind does not take or no plot takes:
    400 naming it."""
    status, answer, _ = get(stack, f"/job_status/{analyses['regression']}/plots/{kind}", params)
    assert status == 400 and answer["code"] == "invalid_request", answer
    assert named in answer["error"]


def test_an_unknown_job_is_404_and_an_unfinished_one_409(stack: Stack, analyses: dict[str, str]) -> None:
    """No such job: 404; an analysis that has not finished: 409 job_not_finished; nothing is rendered."""
    status, answer, _ = get(stack, "/job_status/never-a-job/plots/bar")
    assert status == 404 and answer["code"] == "not_found"
    queue = JSONQueue(stack.settings.queue_name, connection=stack.redis())
    waiting = queue.enqueue_in(timedelta(hours=1), jobstates.ANALYSIS_FUNC, kwargs={"request": {}})
    status, answer, _ = get(stack, f"/job_status/{waiting.id}/plots/bar")
    assert status == 409 and answer["code"] == "job_not_finished"
    assert JSONQueue(stack.settings.plots_queue_name, connection=stack.redis()).count == 0


def test_binary_plots_either_class_and_refuses_another(stack: Stack, analyses: dict[str, str]) -> None:
    """A binary result plots its positive class by default, the negative one on class=, and refuses others;
    the two classes' plots differ (the values are negated)."""
    path = f"/job_status/{analyses['binary']}/plots/waterfall"
    status, positive, _ = get(stack, path, {"row": "0", "wait": "30"})
    assert status == 200 and positive.startswith(PNG_MAGIC)
    status, negative, _ = get(stack, path, {"row": "0", "class": "no", "wait": "30"})
    assert status == 200 and negative.startswith(PNG_MAGIC) and negative != positive
    status, answer, _ = get(stack, path, {"row": "0", "class": "maybe"})
    assert status == 400 and "maybe" in answer["error"] and "['no', 'yes']" in answer["error"]


def test_multiclass_plots_the_rows_explained_for_the_class_asked(stack: Stack, analyses: dict[str, str]) -> None:
    """A multiclass summary plot needs class= (400 listing them without); a waterfall uses its row's class and
    refuses another one."""
    path = f"/job_status/{analyses['multiclass']}/plots"
    status, answer, _ = get(stack, f"{path}/beeswarm")
    assert status == 400 and "class" in answer["error"] and "'high'" in answer["error"]
    for kind in ("bar", "beeswarm", "heatmap"):
        status, image, _ = get(stack, f"{path}/{kind}", {"class": "high", "wait": "30"})
        assert status == 200 and image.startswith(PNG_MAGIC), image
    status, image, _ = get(stack, f"{path}/waterfall", {"row": "0", "wait": "30"})
    assert status == 200 and image.startswith(PNG_MAGIC)
    status, result, _ = stack.get(f"/job_status/{analyses['multiclass']}?fields=results")
    own = result["result"]["results"][0]["explained_class"]
    other = next(c for c in ("low", "mid", "high") if c != own)
    status, answer, _ = get(stack, f"{path}/waterfall", {"row": "0", "class": other})
    assert status == 400 and own in answer["error"]


def test_a_failed_render_is_a_500_naming_the_error_and_the_next_request_draws_again(
        stack: Stack, analyses: dict[str, str]) -> None:
    """A render that raises ends failed: the answer is 500 plot_failed with its error; the failed job is
    removed, so once the cause is gone the same request draws the plot."""
    job_id = analyses["regression"]
    client = stack.redis()
    kept = client.get(keys.job_rows_table(job_id))
    client.set(keys.job_rows_table(job_id), b"not arrow", keepttl=True)  # unreadable: the render raises
    path = f"/job_status/{job_id}/plots/bar"
    try:
        status, answer, _ = get(stack, path, {"max_display": "3", "wait": "30"})
        assert status == 500 and answer["code"] == "plot_failed" and "ArrowInvalid" in answer["error"], answer
    finally:
        client.set(keys.job_rows_table(job_id), kept, keepttl=True)
    status, image, _ = get(stack, path, {"max_display": "3", "wait": "30"})
    assert status == 200 and image.startswith(PNG_MAGIC)


LABELS = {"Income": "Household income", "Noise1": "First noise"}


@pytest.fixture(scope="module")
def interactions_job(stack: Stack) -> tuple[str, list[list[str]]]:
    """A finished interactions analysis of the look table with three noise columns more (six features: 15
    pairs, of which the result stores the top 10) and labels; its id and its stored pairs."""
    table = look_table.generate()
    rng = np.random.default_rng(7)
    for name in ("Noise1", "Noise2", "Noise3"):
        table[name] = rng.normal(size=len(table)).round(3)
    query = f"{look_table.UPLOAD_QUERY}&{urlencode({'labels': json.dumps(LABELS)})}"
    status, answer = stack.request("PUT", f"/datasets/pairs{query}", raw=table.to_csv(index=False).encode(),
                                   headers={"Content-Type": "text/csv"})[:2]
    assert status in (200, 201), answer
    job_id = stack.analyze({"dataset": "pairs", "target": "Score", "analysis_type": "interactions"})
    answer = stack.wait_job(job_id)
    assert answer["status"] == "finished", answer
    return job_id, [[p["feature"], p["with"]] for p in answer["result"]["interactions"]["pairs"]]


def test_an_interaction_plot_draws_a_stored_pair_in_either_order(stack: Stack,
                                                                interactions_job: tuple[str, list[list[str]]]) -> None:
    """kind=interaction&feature=a&with=b of a stored pair: a PNG, and an SVG naming the pair (by its labels)
    on its interaction axis; the pair asked the other way round is drawn too."""
    job_id, pairs = interactions_job
    first, second = next(p for p in pairs if "Income" in p)
    path = f"/job_status/{job_id}/plots/interaction"
    for a, b in ((first, second), (second, first)):
        status, png, headers = get(stack, path, {"feature": a, "with": b, "wait": "30"})
        assert status == 200 and headers["Content-Type"] == "image/png" and png.startswith(PNG_MAGIC), png
    status, svg, _ = get(stack, path, {"feature": "Income", "with": second if first == "Income" else first,
                                       "format": "svg", "wait": "30"})
    assert status == 200 and b"SHAP interaction value of" in svg and b"Household income" in svg
    with Client(stack.base, stack.env.get("API_KEY")) as client:  # `with` is a Python keyword: with_feature
        assert client.job(job_id).plot("interaction", feature=a, with_feature=b) == png


def test_an_interaction_plot_of_another_pair_or_analysis_is_a_400(stack: Stack, analyses: dict[str, str],
                                                                 interactions_job: tuple[str, list[list[str]]]) -> None:
    """A pair the result does not store: 400 listing stored pairs; an analysis that is not an interactions one,
    one feature twice, or a missing or misplaced `with`: 400 naming it; nothing is enqueued."""
    job_id, pairs = interactions_job
    features = ["Income", "Age", "Region", "Noise1", "Noise2", "Noise3"]
    stored = [set(p) for p in pairs]
    missing = next([a, b] for i, a in enumerate(features) for b in features[i + 1:] if {a, b} not in stored)
    queued = JSONQueue(stack.settings.plots_queue_name, connection=stack.redis()).count
    cases = [
        (job_id, {"feature": missing[0], "with": missing[1]}, f"{pairs[0][0]} & {pairs[0][1]}"),
        (analyses["regression"], {"feature": "Income", "with": "Age"}, "interactions analysis"),
        (job_id, {"feature": "Income", "with": "Income"}, "two different features"),
        (job_id, {"feature": "Income"}, "with"),
        (job_id, {"feature": "Income", "with": "Height"}, "Height"),
    ]
    for analysis_id, params, named in cases:
        status, answer, _ = get(stack, f"/job_status/{analysis_id}/plots/interaction", params)
        assert status == 400 and answer["code"] == "invalid_request" and named in answer["error"], answer
    status, answer, _ = get(stack, f"/job_status/{job_id}/plots/bar", {"with": "Age"})
    assert status == 400 and "with" in answer["error"]
    assert JSONQueue(stack.settings.plots_queue_name, connection=stack.redis()).count == queued


def test_a_plot_shows_labels_and_keeps_column_names_in_its_parameters(
        stack: Stack, interactions_job: tuple[str, list[list[str]]]) -> None:
    """A labelled dataset's plots name its features by their labels (SVG text); parameters take column names."""
    job_id, _ = interactions_job
    status, svg, _ = get(stack, f"/job_status/{job_id}/plots/bar", {"format": "svg", "wait": "30"})
    assert status == 200 and b"Household income" in svg and b"First noise" in svg
    status, svg, _ = get(stack, f"/job_status/{job_id}/plots/dependence",
                         {"feature": "Income", "color": "Noise1", "format": "svg", "wait": "30"})
    assert status == 200 and b"Household income" in svg and b"First noise" in svg


def test_a_render_whose_analysis_record_expired_finds_its_result_gone(stack: Stack) -> None:
    """The analysis job's record expiring while its plot waits is 'gone' (a 404), not a failed render."""
    assert render.result_fields(stack.redis(), "no-such-analysis") is None
