"""POST /filters/validate (what the page calls as a filter is typed) and the page's public files."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from devtools.http import http
from devtools.redis_server import RedisServer
from devtools.stack import Stack

KEY = "validate-test-key"
TARGET = "Mortgage_Approvals"


@pytest.fixture(scope="module")
def keyed_web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The web app alone (no worker: nothing may be enqueued) with API_KEY set, on a private redis-server."""
    server = RedisServer(tmp_path_factory.mktemp("validate") / "redis").start()
    running = Stack(server, env={"API_KEY": KEY}).start_web()
    yield running
    running.stop()
    server.stop()


def test_a_valid_request_reports_the_rows_it_selects_and_enqueues_nothing(keyed_web: Stack) -> None:
    """200 with the selected and explained row counts; no job is queued."""
    status, meta, _ = keyed_web.get("/metadata")
    assert status == 200
    status, whole, _ = keyed_web.post("/filters/validate", {"dataset": "default"})
    assert status == 200 and whole["selected_rows"] == whole["explained_rows"] == meta["row_count"]
    assert whole["target_variable"] == meta["default_target"] and whole["dataset_version"] == meta["version"]
    status, some, _ = keyed_web.post("/filters/validate", {"demographic_filters": "Income > 50000", "sample_size": 10})
    assert status == 200 and 10 < some["selected_rows"] < meta["row_count"]
    assert some["explained_rows"] == 10 and some["filters"] == ["Income > 50000"] and len(some["warnings"]) == 1
    assert keyed_web.get("/admin/queue_status")[1]["queued_jobs"] == 0
    assert keyed_web.redis().keys("rq:job:*") == []


def test_a_comparison_reports_the_rows_of_its_cohorts(keyed_web: Stack) -> None:
    """A comparison explains the union of its cohorts, and its overlap warning comes with it."""
    def rows(*filters: str) -> int:
        status, answer, _ = keyed_web.post("/filters/validate", {"demographic_filters": list(filters)})
        assert status == 200, answer
        return int(answer["selected_rows"])

    rich, old, both = rows("Income > 80000"), rows("Age > 50"), rows("Income > 80000", "Age > 50")
    body = {"analysis_type": "comparison", "cohorts": {"rich": ["Income > 80000"], "old": ["Age > 50"]}}
    status, answer, _ = keyed_web.post("/filters/validate", body)
    assert status == 200, answer
    assert answer["selected_rows"] == answer["explained_rows"] == rich + old - both
    assert both > 0 and any("overlap" in warning for warning in answer["warnings"]), answer["warnings"]


def test_an_interactions_analysis_reports_its_row_cap(tmp_path) -> None:
    """Interactions explain at most INTERACTION_MAX_ROWS rows: the count and the warning say so."""
    server = RedisServer(tmp_path / "redis").start()
    web = Stack(server, env={"INTERACTION_MAX_ROWS": "100"}).start_web()
    try:
        status, answer, _ = web.post("/filters/validate", {"analysis_type": "interactions"})
        assert status == 200, answer
        assert answer["explained_rows"] == 100 < answer["selected_rows"]
        assert any("INTERACTION_MAX_ROWS" in warning for warning in answer["warnings"]), answer["warnings"]
    finally:
        web.stop()
        server.stop()


@pytest.mark.parametrize("body", [
    {"demographic_filters": ["Income > plenty"]},
    {"demographic_filters": ["Incme > 5"]},
    {"demographic_filters": ["Income >> 5"]},
    {"demographic_filters": ["Income > 99999999"]},
    {"target_variable": "Nope"},
    {"dataset": "no-such-set"},
    {"dataset": "bad name!"},
    {"sample_size": "5"},
    {"analysis_type": "other"},
    ["not", "an", "object"],
])
def test_each_refusal_is_the_body_post_analyze_answers(keyed_web: Stack, body: object) -> None:
    """The same status and the same JSON body as POST /analyze, from the same checks."""
    validated = keyed_web.post("/filters/validate", body)
    analyzed = keyed_web.post("/analyze", body)
    assert validated[0] == analyzed[0] == 400
    assert validated[1] == analyzed[1]


def test_a_body_that_is_not_json_is_refused_like_analyze_refuses_it(keyed_web: Stack) -> None:
    """415 for a form body, as POST /analyze answers."""
    answers = [keyed_web.request("POST", path, raw=b"a=1", headers={"Content-Type": "text/plain"})
               for path in ("/filters/validate", "/analyze")]
    assert answers[0][0] == answers[1][0] == 415 and answers[0][1] == answers[1][1]


def test_the_page_and_its_files_are_public_and_all_come_from_the_service(keyed_web: Stack) -> None:
    """/ and every file it loads answer without the key, from /page/; the validation needs the key."""
    status, page, headers = http("GET", keyed_web.base + "/")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assets = re.findall(r'(?:src|href)="([^"]+)"', page)
    # from /page/, and the icon from where every browser asks for it
    assert assets and all(asset.startswith("/page/") or asset == "/favicon.ico" for asset in assets), assets
    for asset in [*assets, "/page/api.js", "/page/charts.js"]:
        assert http("GET", keyed_web.base + asset)[0] == 200, asset
    assert http("GET", keyed_web.base + "/page/nothing.js")[0] == 404
    status, refused, _ = http("POST", keyed_web.base + "/filters/validate", {"dataset": "default"})
    assert status == 401 and refused["code"] == "unauthorized"
