"""Findings 10 and 13 (HOST): the whole service (`make run`: entrypoint -> supervisord) keeps DATA_DIR
to its user and, without API_KEY, listens on 127.0.0.1 only and says so."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from common.settings import Settings
from devtools.waiting import wait_until


def _listening_addresses(port: int) -> set[str]:
    """Local addresses of the IPv4 sockets listening on `port` (from /proc/net/tcp)."""
    found = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        address, hex_port = local.split(":")
        if state == "0A" and int(hex_port, 16) == port:
            found.add(".".join(str(int(address[i:i + 2], 16)) for i in (6, 4, 2, 0)))
    return found


@pytest.mark.slow
def test_data_dir_is_private_and_a_keyless_service_listens_on_loopback(service_factory) -> None:
    """DATA_DIR is 0700, Redis's files 0600; no API_KEY: bound to 127.0.0.1, with a warning."""
    service = service_factory("files", env={"CLEANUP_INTERVAL": "3600"}, wait_for_workers=1)
    redis_dir = service.data_dir / "redis"
    wait_until(lambda: any(p.is_file() for p in redis_dir.rglob("*")), 30, message="Redis's files")
    assert stat.S_IMODE(service.data_dir.stat().st_mode) == 0o700
    for path in redis_dir.rglob("*"):
        if path.is_file():
            assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, f"{path} is {oct(path.stat().st_mode)}"
    assert _listening_addresses(service.port) == {"127.0.0.1"}
    assert "WARNING: no API_KEY is set" in service.output()


def test_the_listening_address_follows_api_key_and_host() -> None:
    """Unset HOST: 127.0.0.1 without a key, all interfaces with one; HOST always wins."""
    assert Settings.from_env({}).effective_host == "127.0.0.1"
    assert Settings.from_env({"API_KEY": "k"}).effective_host == "0.0.0.0"
    assert Settings.from_env({"HOST": "0.0.0.0"}).effective_host == "0.0.0.0"
    assert Settings.from_env({"HOST": "127.0.0.1", "API_KEY": "k"}).effective_host == "127.0.0.1"
