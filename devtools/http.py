"""Plain HTTP on loopback: a free port to listen on and one request with a JSON (or text) answer."""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request
from typing import Any

Answer = tuple[int, Any, dict[str, str]]  # (status, parsed JSON body or text, headers)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def http(method: str, url: str, body: Any = None, headers: dict[str, str] | None = None,
         raw: bytes | None = None, timeout: float = 40) -> Answer:
    """One HTTP request; returns (status, parsed JSON body or text, headers)."""
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})  # noqa: S310
    if data is not None and raw is None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            status, payload, hdrs = response.status, response.read(), dict(response.headers)
    except urllib.error.HTTPError as error:
        status, payload, hdrs = error.code, error.read(), dict(error.headers)
    try:
        return status, json.loads(payload), hdrs
    except ValueError:
        return status, payload.decode(errors="replace"), hdrs
