"""Real stacks for the hostile-input tests: a private redis-server, the web on a real Waitress server
and real forking workers, each started with the settings one finding needs."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from devtools.redis_server import RedisServer
from devtools.stack import Stack


@pytest.fixture
def stack_with(tmp_path: Path) -> Iterator[Callable[..., Stack]]:
    """Start a stack with extra settings (`env`) and `workers` workers; everything is stopped at the end."""
    started: list[tuple[Stack, RedisServer]] = []

    def start(env: dict[str, str] | None = None, workers: int = 2) -> Stack:
        server = RedisServer(tmp_path / f"redis-{len(started)}").start()
        running = Stack(server, env=dict(env or {}))
        started.append((running, server))
        running.start_web()
        if workers:
            running.start_workers(workers)
        return running

    yield start
    for running, server in started:
        running.stop()
        server.stop()
