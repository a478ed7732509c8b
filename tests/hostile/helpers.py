"""Shared checks of the hostile-input tests."""

from __future__ import annotations

from typing import Any

CANONICAL_KEYS = {"success", "error", "code", "details"}


def assert_refusal(status: int, body: Any, expected_status: int, code: str, *, max_chars: int = 4000) -> None:
    """`body` is the one error body with this status and code, and short (no echo of a large input)."""
    assert status == expected_status, (status, body)
    assert isinstance(body, dict) and set(body) <= CANONICAL_KEYS and body["success"] is False, body
    assert body["code"] == code, body
    assert isinstance(body["error"], str) and body["error"], body
    assert len(str(body)) < max_chars, f"an error body of {len(str(body))} characters"


def csv_bytes(rows: int = 30, **columns: Any) -> bytes:
    """A small CSV: each keyword is a column, its value a function of the row number (or a constant)."""
    names = list(columns)
    lines = [",".join(names)]
    for i in range(rows):
        lines.append(",".join(str(v(i) if callable(v) else v) for v in columns.values()))
    return ("\n".join(lines) + "\n").encode()


def multipart(filename: str, data: bytes, **fields: str) -> tuple[bytes, dict[str, str]]:
    """A multipart/form-data body with the file in field `file` (and text `fields`), and its header."""
    boundary = "hostile-boundary-7f3a"
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
             for name, value in fields.items()]
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
                 "Content-Type: application/octet-stream\r\n\r\n".encode() + data + b"\r\n")
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), {
        "Content-Type": f"multipart/form-data; boundary={boundary}"}
