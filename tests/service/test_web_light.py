"""The web process stays light: it never imports catboost, shap or matplotlib, whatever route it serves."""

from __future__ import annotations

import json
import subprocess
import sys

from devtools.environment import REPO
from devtools.redis_server import RedisServer

EXERCISE_EVERY_ROUTE = r"""
import json, sys
from common.settings import Settings
from web import create_app

app = create_app(Settings.from_env({"REDIS_URL": sys.argv[1]}))
client = app.test_client()
csv = "a,b,c\n" + "".join(f"{i},{i % 3},x{i % 2}\n" for i in range(30))
calls = [
    client.get("/ping"), client.get("/health"), client.get("/datasets"), client.get("/metadata"),
    client.put("/datasets/tiny?default_target=b", data=csv, content_type="text/csv"),
    client.post("/analyze", json={"target_variable": "Mortgage_Approvals", "demographic_filters": ["high Income"]}),
    client.post("/analyze", json={"dataset": "tiny", "data": [{"a": 1}]}),
    client.post("/analyze", data="{bad"),
    client.get("/worker-status"), client.get("/admin/redis_ping"), client.get("/admin/queue_status"),
    client.post("/admin/cleanup_jobs?dry_run=1"), client.post("/admin/cleanup_jobs"),
    client.get("/openapi.json"), client.get("/docs"), client.get("/docs/init.js"), client.get("/metrics"),
    client.get("/"), client.get("/page/app.js"), client.post("/filters/validate", json={"dataset": "tiny"}),
    client.get("/whoami"), client.get("/favicon.ico"),
    client.put("/datasets/semicolons", data=csv.replace(",", ";"), content_type="text/csv"),
]
job_id = calls[5].get_json()["job_id"]
calls.append(client.get(f"/job_status/{job_id}"))
calls.append(client.get(f"/job_status/{job_id}?wait=0.2"))
calls.append(client.get("/job_status/none"))
calls.append(client.get(f"/job_status/{job_id}/feature_values"))
calls.append(client.get(f"/job_status/{job_id}/rows?format=csv"))
calls.append(client.get(f"/job_status/{job_id}/plots/bar?wait=0.2"))
calls.append(client.get(f"/job_status/{job_id}/plots/pie"))
calls.append(client.get(f"/job_status/{job_id}/report?wait=0.2"))
calls.append(client.delete(f"/job_status/{job_id}"))
calls.append(client.put("/datasets/tiny/labels", json={"a": "The a column"}))
urls = {rule.rule for rule in app.url_map.iter_rules()} - {"/static/<path:filename>"}
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("catboost", "shap", "matplotlib"))
print(json.dumps({"statuses": [c.status_code for c in calls], "heavy": heavy, "rules": sorted(urls)}))
"""


def test_web_never_imports_catboost_shap_or_matplotlib(redis_server: RedisServer) -> None:
    """After every route has served a request, none of catboost, shap and matplotlib is in sys.modules."""
    done = subprocess.run([sys.executable, "-c", EXERCISE_EVERY_ROUTE, redis_server.url], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["heavy"] == []
    assert 500 not in report["statuses"], report["statuses"]
    assert set(report["rules"]) == {
        "/ping", "/health", "/analyze", "/job_status/<job_id>", "/metadata", "/datasets", "/datasets/<name>",
        "/worker-status", "/admin/redis_ping", "/admin/queue_status", "/admin/cleanup_jobs", "/openapi.json",
        "/docs", "/docs/<path:name>", "/metrics", "/datasets/<name>/labels", "/job_status/<job_id>/feature_values",
        "/job_status/<job_id>/plots/<kind>", "/job_status/<job_id>/rows",
        "/", "/page/<path:name>", "/filters/validate", "/whoami", "/favicon.ico", "/job_status/<job_id>/report",
    }
