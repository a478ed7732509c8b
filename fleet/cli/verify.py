#!/usr/bin/env python3
"""Verify a running service end to end over HTTP: Redis answers through the service
(GET /admin/redis_ping), GET /health is 200 with Redis connected, and one small analysis goes from
POST /analyze to a finished result.

Exit status: 0 only if every check passes; 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from pydantic import BaseModel, ConfigDict

from analysis.dataset_meta import ColumnStats
from common import jobstates
from fleet.operator import operator_settings

PROGRAM = "shap-verify"
SMALL_ANALYSIS = {"sample_size": 25, "reuse": False}  # a real job every time, never a stored answer


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=PROGRAM, description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    settings = operator_settings(PROGRAM)  # PORT and API_KEY as the service reads them (defaults included)
    parser.add_argument("--service-url", default=f"http://127.0.0.1:{settings.port}",
                        help="base URL of the service (default: http://127.0.0.1:$PORT)")
    parser.add_argument("--api-key", default=settings.api_key,
                        help="value of the X-API-KEY header (default: $API_KEY)")
    parser.add_argument("--timeout", type=float, default=120.0,
                        help="seconds to wait for the analysis to finish (default: 120)")
    return parser.parse_args(argv)


class Client:
    def __init__(self, base: str, api_key: str | None) -> None:
        if urllib.parse.urlsplit(base).scheme not in ("http", "https"):
            raise SystemExit(f"{PROGRAM}: --service-url must be an http(s) URL, not {base!r}")
        self.base = base.rstrip("/")
        self.headers = {"X-API-KEY": api_key} if api_key else {}

    def call(self, method: str, path: str, body: Any = None, timeout: float = 40) -> tuple[int, Any]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base + path, data=data, method=method,  # noqa: S310 (http(s) only)
                                         headers=dict(self.headers))
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (http(s) only)
                status, payload = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, payload = error.code, error.read()
        try:
            return status, json.loads(payload)
        except ValueError:
            return status, payload.decode(errors="replace")


def check_redis_ping(client: Client) -> str:
    status, body = client.call("GET", "/admin/redis_ping")
    if status != 200 or not isinstance(body, dict) or body.get("ping") is not True:
        raise CheckFailed(f"GET /admin/redis_ping answered {status}: {body}")
    return f"Redis answered the service in {body.get('response_time_ms')} ms"


def check_health(client: Client) -> str:
    status, body = client.call("GET", "/health")
    if status != 200 or not isinstance(body, dict) or body.get("redis_connected") is not True:
        raise CheckFailed(f"GET /health answered {status}: {body}")
    return f"status {body.get('status')}, workers {body.get('workers')}, queue {body.get('queue')}"



class MetadataAnswer(BaseModel):
    """The part of GET /metadata this check reads, typed as the service stores it (analysis.dataset_meta)."""

    model_config = ConfigDict(extra="ignore")

    default_target: str | None = None
    columns: list[ColumnStats] = []

def small_analysis(client: Client) -> dict[str, Any]:
    """SMALL_ANALYSIS of the `default` dataset, naming a target when the dataset has no default one (an
    operator's DEFAULT_DATASET_PATH, or a client's upload): its last column that is no id, as the page
    chooses."""
    status, body = client.call("GET", "/metadata")
    if status != 200 or not isinstance(body, dict):
        raise CheckFailed(f"GET /metadata answered {status}: {body}")
    answer = MetadataAnswer.model_validate(body)
    if answer.default_target:
        return SMALL_ANALYSIS
    targets = [column.name for column in answer.columns if column.type != "id"]
    if not targets:
        raise CheckFailed("the default dataset has no column to explain")
    return {**SMALL_ANALYSIS, "target_variable": targets[-1]}


def check_analysis(client: Client, timeout: float) -> str:
    started = time.monotonic()
    status, body = client.call("POST", "/analyze", small_analysis(client))
    if status != 202 or not isinstance(body, dict) or "job_id" not in body:
        raise CheckFailed(f"POST /analyze answered {status}: {body}")
    job_id = body["job_id"]
    answer: Any = None
    while time.monotonic() - started < timeout:
        wait = max(1, min(10, int(timeout - (time.monotonic() - started))))
        status, answer = client.call("GET", f"/job_status/{job_id}?wait={wait}", timeout=wait + 30)
        if status != 200:
            raise CheckFailed(f"GET /job_status/{job_id} answered {status}: {answer}")
        if answer["status"] == jobstates.FINISHED:
            drivers = [f["feature"] for f in answer["result"]["feature_importance"][:3]]
            return f"job {job_id} finished in {time.monotonic() - started:.1f}s; top drivers {drivers}"
        if answer["status"] in jobstates.TERMINAL:
            raise CheckFailed(f"job {job_id} ended {answer['status']}: {answer.get('error')}")
    raise CheckFailed(f"job {job_id} did not finish within {timeout:.0f}s (last status: "
                      f"{answer.get('status') if isinstance(answer, dict) else answer})")


class CheckFailed(Exception):
    """One verification failed; the message says what the service answered."""


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    client = Client(args.service_url, args.api_key)
    checks = [("redis ping via the service", lambda: check_redis_ping(client)),
              ("health", lambda: check_health(client)),
              ("small analysis end to end", lambda: check_analysis(client, args.timeout))]
    failures = 0
    for title, check in checks:
        try:
            print(f"PASS {title}: {check()}", flush=True)
        except CheckFailed as exc:
            failures += 1
            print(f"FAIL {title}: {exc}", flush=True)
        except (urllib.error.URLError, OSError) as exc:
            failures += 1
            print(f"FAIL {title}: cannot reach {args.service_url}: {exc}", flush=True)
    print("all checks passed" if not failures else f"{failures} of {len(checks)} checks failed")
    return 0 if not failures else 1

