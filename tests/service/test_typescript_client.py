"""The TypeScript client (clients/typescript) against a real stack: it is built (tsc) and its Node tests
(`node --test`) run with the service's URL and an admin and an analyst key in the environment, so `make test`'s
pytest run covers them; its schema test fails when the served /openapi.json and the committed generated types
(src/schema.ts) differ. `make test` installs its node_modules first (`make ts-client`: npm ci from the lock)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator

import pytest

from devtools.environment import REPO
from devtools.redis_server import RedisServer
from devtools.stack import Stack

CLIENT = REPO / "clients" / "typescript"
NODE_MAJOR = 20  # the oldest Node the client supports (package.json's engines), the machine image's
ADMIN_KEY, ANALYST_KEY = "ts-admin-key", "ts-analyst-key"


def _missing(message: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(message)  # CI must run the client's tests, never skip them
    pytest.skip(message)


@pytest.fixture(scope="module")
def node() -> str:
    found = shutil.which("node")
    if found is None:
        _missing(f"node is not installed: the TypeScript client needs Node >= {NODE_MAJOR}")
    version = subprocess.run([found, "--version"], capture_output=True, text=True, check=True).stdout.strip()
    major = int(re.match(r"v(\d+)", version).group(1))  # type: ignore[union-attr]
    if major < NODE_MAJOR:
        _missing(f"node {version} is too old: the TypeScript client needs Node >= {NODE_MAJOR}")
    if not (CLIENT / "node_modules" / ".bin" / "tsc").exists():
        _missing("clients/typescript/node_modules is missing: run `make ts-client` (npm ci from the lock file)")
    return found


@pytest.fixture(scope="module")
def roles_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    server = RedisServer(tmp_path_factory.mktemp("ts-client") / "redis").start()
    running = Stack(server, env={"API_KEY": ADMIN_KEY, "ANALYST_API_KEYS": ANALYST_KEY}).start_web().start_workers(1)
    yield running
    running.stop()
    server.stop()


def test_the_typescript_client_builds_and_passes_its_node_tests(node: str, roles_stack: Stack) -> None:
    built = subprocess.run(["npm", "run", "--silent", "build"], cwd=CLIENT, capture_output=True, text=True,
                           timeout=300)
    assert built.returncode == 0, built.stdout + built.stderr
    env = {**os.environ, "SHAP_URL": roles_stack.base, "SHAP_ADMIN_KEY": ADMIN_KEY, "SHAP_ANALYST_KEY": ANALYST_KEY}
    ran = subprocess.run([node, "--test", "--test-reporter=spec", "test/"], cwd=CLIENT, env=env,
                         capture_output=True, text=True, timeout=600)
    print(ran.stdout[-6000:])
    assert ran.returncode == 0, ran.stdout[-6000:] + ran.stderr[-3000:]
    skipped = re.findall(r"# SKIP (.*)", ran.stdout) + re.findall(r"﹣ .*?# (.*)", ran.stdout)
    assert all("rows" in reason for reason in skipped), skipped  # only rows may wait for its route
