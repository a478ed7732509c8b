"""GET /openapi.json and /docs: every served route documented, the error cases declared, answers conform."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from devtools.http import http
from devtools.redis_server import RedisServer
from devtools.stack import Stack
from web import api_models

IGNORED_METHODS = {"HEAD", "OPTIONS"}
PUBLIC = {"/ping", "/health", "/openapi.json", "/docs", "/docs/{name}", "/", "/page/{name}", "/favicon.ico"}


def openapi_path(rule: str) -> str:
    """Flask's /job_status/<job_id> and /docs/<path:name> as OpenAPI's /job_status/{job_id}, /docs/{name}."""
    return re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule)


@pytest.fixture
def keyed_web(redis_server: RedisServer) -> Iterator[Stack]:
    running = Stack(redis_server, env={"API_KEY": "doc-test-key"}).start_web()
    yield running
    running.stop()


def document(stack: Stack) -> dict:
    status, body, headers = http("GET", stack.base + "/openapi.json")
    assert status == 200 and headers["Content-Type"] == "application/json"
    return body


def test_every_served_route_and_method_is_documented_and_nothing_else(keyed_web: Stack):
    """The served app's routes and methods are exactly the document's operations."""
    served = {(openapi_path(rule.rule), method) for rule in keyed_web.app.url_map.iter_rules()
              if not rule.rule.startswith("/static/") for method in rule.methods - IGNORED_METHODS}
    paths = document(keyed_web)["paths"]
    documented = {(path, method.upper()) for path, operations in paths.items() for method in operations}
    assert served - documented == set(), "routes without documentation"
    assert documented - served == set(), "documented operations the service does not serve"


def test_the_served_views_carry_their_declarations_unwrapped_and_the_document_is_built_once(keyed_web: Stack):
    """@documented only records: every served view is the plain function (nothing validates or buffers its
    answer); the document is generated on the first GET /openapi.json and kept on the app."""
    from web import openapi
    from web.api_docs import declaration_of

    for endpoint, view in keyed_web.app.view_functions.items():
        if endpoint != "static":
            assert declaration_of(view) is not None and not hasattr(view, "__wrapped__"), endpoint
    assert openapi.EXTENSION not in keyed_web.app.extensions
    assert document(keyed_web) == keyed_web.app.extensions[openapi.EXTENSION]
    kept = keyed_web.app.extensions[openapi.EXTENSION]
    document(keyed_web)
    assert keyed_web.app.extensions[openapi.EXTENSION] is kept


def test_every_operation_declares_its_errors_with_the_one_error_body(keyed_web: Stack):
    """Each protected operation has 401, each has 400; 503 carries Retry-After; errors use ErrorBody."""
    spec = document(keyed_web)
    assert spec["openapi"] == "3.1.0"
    assert spec["components"]["securitySchemes"]["ApiKey"] == {
        "type": "apiKey", "name": "X-API-KEY", "in": "header",
        "description": "The service's API_KEY (admin role) or one of its ANALYST_API_KEYS (analyst role); needed "
                       "when API_KEY is set. The operation's x-role names the role it needs."}
    statuses: set[str] = set()
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            answers = operation["responses"]
            statuses |= set(answers)
            assert operation["summary"], (path, method)
            if path not in PUBLIC:
                assert "401" in answers and operation.get("security", spec["security"]) == [{"ApiKey": []}]
            else:
                assert operation["security"] == []
            for status, answer in answers.items():
                if status.startswith(("4", "5")) and path not in ("/health",):
                    assert answer["content"]["application/json"]["schema"] == {
                        "$ref": "#/components/schemas/ErrorBody"}, (path, method, status)
                if status == "503":
                    assert "Retry-After" in answer["headers"]
    assert {"400", "401", "404", "409", "413", "503"} <= statuses
    for name in ("ErrorBody", "AnalyzeRequest", "JobStatus", "Accepted"):
        assert spec["components"]["schemas"][name]["examples"], name
    assert "callback_url" in spec["components"]["schemas"]["AnalyzeRequest"]["properties"]


def test_the_docs_page_and_document_are_public_and_load_nothing_from_elsewhere(keyed_web: Stack):
    """/docs and its assets answer without the key, every asset is local; other routes still need it."""
    status, page, headers = http("GET", keyed_web.base + "/docs")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assets = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert assets and all(a.startswith("/docs/") for a in assets), assets
    declared = document(keyed_web)["paths"]["/docs/{name}"]["get"]["responses"]["200"]["content"]
    for asset in [*assets, "/docs/LICENSE"]:
        status, _, headers = http("GET", keyed_web.base + asset)
        assert status == 200 and headers["Content-Type"].split(";")[0] in declared, (asset, headers)
    status, init, _ = http("GET", keyed_web.base + "/docs/init.js")
    assert status == 200 and "validatorUrl: null" in init  # else the page loads a badge from validator.swagger.io
    assert http("GET", keyed_web.base + "/docs/no-such-file.js")[0] == 404
    assert http("GET", keyed_web.base + "/datasets")[0] == 401


def test_real_answers_conform_to_the_documented_models(stack: Stack):
    """A finished job, a failed submission and an unknown job validate against their documented models."""
    job_id = stack.analyze({"target_variable": "Mortgage_Approvals", "sample_size": 50})
    finished = api_models.JobStatus.model_validate(stack.wait_job(job_id))
    assert isinstance(finished.result, api_models.AnalysisResult)
    status, body, _ = stack.request("POST", "/analyze", {"target_variable": 3})
    assert status == 400 and api_models.ErrorBody.model_validate(body).code
    status, body, _ = stack.request("GET", "/job_status/nope")
    assert status == 404 and api_models.ErrorBody.model_validate(body).code == "not_found"
    api_models.Accepted.model_validate(stack.request("POST", "/analyze", {"sample_size": 5})[1])
    api_models.Datasets.model_validate(stack.request("GET", "/datasets")[1])
    api_models.Metadata.model_validate(stack.request("GET", "/metadata")[1])
    api_models.WorkerStatus.model_validate(stack.request("GET", "/worker-status")[1])
    api_models.QueueStatus.model_validate(stack.request("GET", "/admin/queue_status")[1])
    api_models.Health.model_validate(stack.request("GET", "/health")[1])
