"""What a front end on another origin meets: the analyst and admin roles (403 forbidden naming the role,
GET /whoami, the document's x-role), CORS_ORIGINS (flask-cors: preflights without a key, exposed headers,
Vary: Origin, nothing for an origin not listed) and the start-up refusals of settings that would open too much."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator

import pytest

from common.settings import Settings, SettingsError
from devtools.http import http
from devtools.redis_server import RedisServer
from devtools.stack import Stack

ADMIN_KEY = "admin-key-0123456789"
ANALYST_KEY = "analyst-key-9876543210"
FRONT_END = "http://front.example:5173"


@pytest.fixture
def roles(redis_server: RedisServer) -> Iterator[Stack]:
    running = Stack(redis_server, env={"API_KEY": ADMIN_KEY, "ANALYST_API_KEYS": f"other-analyst, {ANALYST_KEY}",
                                       "CORS_ORIGINS": FRONT_END}).start_web()
    yield running
    running.stop()


def as_analyst(stack: Stack, method: str, path: str, **kwargs) -> tuple:
    return http(method, stack.base + path, headers={"X-API-KEY": ANALYST_KEY, **kwargs.pop("headers", {})}, **kwargs)


ADMIN_ONLY = [("PUT", "/datasets/mine"), ("PUT", "/datasets/default/labels"), ("DELETE", "/datasets/default"),
              ("GET", "/admin/redis_ping"), ("GET", "/admin/queue_status"), ("POST", "/admin/cleanup_jobs"),
              ("GET", "/metrics"), ("GET", "/worker-status")]


@pytest.mark.parametrize(("method", "path"), ADMIN_ONLY)
def test_an_analyst_key_is_refused_what_only_the_admin_may_do(roles: Stack, method: str, path: str) -> None:
    """403 forbidden naming the role needed, before anything is read or changed."""
    status, answer, _ = as_analyst(roles, method, path, raw=b"a,b\n1,2\n", headers={"Content-Type": "text/csv"})
    assert status == 403, answer
    assert answer["code"] == "forbidden" and "admin" in answer["error"]
    assert answer["details"] == {"role": "analyst", "needed": "admin"}
    assert roles.get("/datasets")[1]["datasets"][0]["name"] == "default"  # the dataset is still there


def test_an_analyst_key_reads_and_the_admin_key_does_everything(roles: Stack) -> None:
    """The analyst lists datasets, reads metadata and checks filters; the admin reads the operations routes;
    an unknown or missing key stays 401."""
    for path in ("/datasets", "/metadata?dataset=default"):
        assert as_analyst(roles, "GET", path)[0] == 200
    body = {"target_variable": "Mortgage_Approvals", "demographic_filters": ["Income > 50000"]}
    assert as_analyst(roles, "POST", "/filters/validate", body=body)[0] == 200
    assert http("GET", roles.base + "/admin/queue_status", headers={"X-API-KEY": ADMIN_KEY})[0] == 200
    assert http("GET", roles.base + "/datasets", headers={"X-API-KEY": "other-analyst"})[0] == 200
    assert http("GET", roles.base + "/datasets", headers={"X-API-KEY": "unknown"})[1]["code"] == "unauthorized"
    assert http("GET", roles.base + "/metrics")[0] == 401


def test_whoami_names_the_role_of_the_key(roles: Stack, web_only: Stack) -> None:
    assert as_analyst(roles, "GET", "/whoami")[1] == {"role": "analyst", "key_required": True}
    assert http("GET", roles.base + "/whoami", headers={"X-API-KEY": ADMIN_KEY})[1]["role"] == "admin"
    assert http("GET", roles.base + "/whoami")[0] == 401
    assert web_only.get("/whoami")[1] == {"role": "admin", "key_required": False}  # no key: everything is open


def test_the_document_marks_each_operations_role_and_declares_its_403(roles: Stack) -> None:
    """x-role on every operation; admin ones declare 403 and are refused to an analyst key: the document and the
    enforcement come from the same declaration, so they cannot disagree."""
    document = roles.get("/openapi.json")[1]
    assert document["components"]["securitySchemes"]["ApiKey"]["name"] == "X-API-KEY"
    admin = []
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            assert operation["x-role"] in ("public", "analyst", "admin"), (path, method)
            if operation["x-role"] == "admin":
                assert "403" in operation["responses"], (path, method)
                admin.append((method.upper(), re.sub(r"\{[^}]+\}", "default", path)))
            elif operation["x-role"] == "public":
                assert operation.get("security") == [], (path, method)
    assert sorted(admin) == sorted((m, p.replace("/mine", "/default")) for m, p in ADMIN_ONLY)
    for method, path in admin:
        assert as_analyst(roles, method, path, raw=b"")[0] == 403, (method, path)


def test_a_listed_origin_is_granted_cors_and_its_preflight_needs_no_key(roles: Stack) -> None:
    preflight = {"Origin": FRONT_END, "Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "x-api-key, content-type, x-request-id"}
    status, _, headers = http("OPTIONS", roles.base + "/analyze", headers=preflight)
    assert status == 200
    assert headers["Access-Control-Allow-Origin"] == FRONT_END
    assert {"x-api-key", "content-type", "x-request-id"} <= {
        h.strip().lower() for h in headers["Access-Control-Allow-Headers"].split(",")}
    assert "Access-Control-Allow-Credentials" not in headers
    status, _, headers = as_analyst(roles, "GET", "/datasets", headers={"Origin": FRONT_END})
    assert status == 200 and headers["Access-Control-Allow-Origin"] == FRONT_END
    assert "Origin" in headers["Vary"]
    assert {"retry-after", "x-request-id", "content-disposition"} <= {
        h.strip().lower() for h in headers["Access-Control-Expose-Headers"].split(",")}
    status, _, headers = http("GET", roles.base + "/datasets", headers={"Origin": FRONT_END})
    assert status == 401 and headers["Access-Control-Allow-Origin"] == FRONT_END  # the page can read why


def test_an_origin_not_listed_gets_no_grant(roles: Stack, web_only: Stack) -> None:
    other = {"Origin": "http://evil.example", "Access-Control-Request-Method": "GET"}
    for stack in (roles, web_only):  # web_only: CORS_ORIGINS empty, the default
        _, _, headers = http("OPTIONS", stack.base + "/datasets", headers=other)
        assert "Access-Control-Allow-Origin" not in headers
        _, _, headers = http("GET", stack.base + "/datasets", headers={**other, "X-API-KEY": ANALYST_KEY})
        assert "Access-Control-Allow-Origin" not in headers


def test_keys_are_never_logged(roles: Stack, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG):
        as_analyst(roles, "GET", "/datasets", headers={"Origin": FRONT_END})
        as_analyst(roles, "GET", "/metrics")
        http("GET", roles.base + "/datasets", headers={"X-API-KEY": ADMIN_KEY + "x"})
    assert caplog.records
    assert not [r for r in caplog.records if ANALYST_KEY in r.getMessage() or ADMIN_KEY in r.getMessage()]
    assert ANALYST_KEY not in repr(roles.settings) and ADMIN_KEY not in repr(roles.settings)


@pytest.mark.parametrize(("environ", "words"), [
    ({"CORS_ORIGINS": "*"}, "CORS_ORIGINS=* needs API_KEY"),
    ({"ANALYST_API_KEYS": "a,b"}, "ANALYST_API_KEYS needs API_KEY"),
    ({"API_KEY": "k", "ANALYST_API_KEYS": "a,k"}, "must not hold API_KEY"),
    ({"CORS_ORIGINS": "https://app.example/path"}, "is not an origin"),
    ({"CORS_ORIGINS": "https://*.example"}, "is not an origin"),
    ({"API_KEY": "k", "CORS_ORIGINS": "*,https://app.example"}, "stands alone"),
])
def test_settings_that_would_open_too_much_are_refused_at_start(environ: dict[str, str], words: str) -> None:
    with pytest.raises(SettingsError, match=re.escape(words)):
        Settings.from_env(environ)


def test_star_is_allowed_with_a_key_and_origins_are_read_exactly() -> None:
    assert Settings.from_env({"API_KEY": "k", "CORS_ORIGINS": "*"}).cors_origins == ("*",)
    read = Settings.from_env({"CORS_ORIGINS": " https://a.example , http://localhost:5173 "})
    assert read.cors_origins == ("https://a.example", "http://localhost:5173")
