"""Fixtures: private redis-servers and whole-service instances, always torn down."""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from devtools.redis_server import RedisServer
from devtools.service import Service


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis").start()
    yield server
    server.stop()


@pytest.fixture
def service_factory(tmp_path: Path) -> Iterator:
    """Start whole services (scripts/entrypoint.py -> supervisord) in temp DATA_DIRs; all killed at the end."""
    started: list[Service] = []

    def start(name: str = "svc", env: dict[str, str] | None = None, wait_for_workers: int | None = 2,
              data_dir: Path | None = None) -> Service:
        service = Service(data_dir or tmp_path / name, env=dict(env or {}))
        started.append(service)
        return service.start(wait_for_workers=wait_for_workers)

    yield start
    for service in started:
        if service.alive():
            with contextlib.suppress(subprocess.TimeoutExpired):  # stop() kills it on time-out
                service.stop(timeout=60)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator:
    """One private redis-server, the web app on a real Waitress server and two real forking workers."""
    from devtools.stack import Stack

    server = RedisServer(tmp_path_factory.mktemp("stack") / "redis").start()
    running = Stack(server).start_web().start_workers(2)
    yield running
    running.stop()
    server.stop()


@pytest.fixture
def web_only(redis_server: RedisServer) -> Iterator:
    """The web app on a real Waitress server with a private redis-server and no workers."""
    from devtools.stack import Stack

    running = Stack(redis_server).start_web()
    yield running
    running.stop()
