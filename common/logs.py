"""Logging for every process: one line per record, as text or as one JSON object (LOG_FORMAT), with the
context of what the process is doing (`job_id` and `request_id` while a job runs, `request_id` while the
web serves a request) added to every line.

Context comes from providers the process registers (the web's reads its request, a worker's reads the job
it runs): common/ knows neither Flask nor RQ."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from datetime import UTC, datetime

import orjson

from common.escape import TABLE, one_line

ContextProvider = Callable[[], dict[str, str]]
_providers: list[ContextProvider] = []
_bound: dict[str, str] = {}
CONTEXT_FIELDS = ("job_id", "request_id")
REQUEST_ID_MAX = 128
CONTINUATION = "  | "  # starts each line of a traceback in the text format
JSON_TABLE = {code: f"\\u{code:04x}" for code in TABLE if code >= 0x7F}  # what JSON itself leaves raw


def add_context(provider: ContextProvider) -> None:
    """Register a function whose fields (e.g. request_id) are added to every record while it returns them."""
    _providers.append(provider)


def bind(**fields: str | None) -> None:
    """Fields added to every record of this process until `unbind` (a worker binds the job it runs; the
    work horse it forks inherits them)."""
    _bound.update({k: v for k, v in fields.items() if v})


def unbind(*names: str) -> None:
    for name in names:
        _bound.pop(name, None)


def valid_request_id(value: str | None) -> bool:
    """A client's X-Request-ID is kept when it is 1-128 characters of letters, digits and - _ . :"""
    return bool(value) and len(value or "") <= REQUEST_ID_MAX and all(
        c.isascii() and (c.isalnum() or c in "-_.:") for c in value or "")


class ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        context = dict(_bound)
        for provider in _providers:
            context.update(provider())
        for name in CONTEXT_FIELDS:
            setattr(record, name, context.get(name))
        return True


class JSONFormatter(logging.Formatter):
    """One JSON object per line: ts, level, process, logger, message, job_id/request_id when known, exc.
    JSON escapes line feeds and the C0 controls; the characters a line splitter also breaks on that JSON
    allows raw (NEL U+0085, U+2028, U+2029) and the bidi and other format characters are escaped too, so
    the object stays on one line for every reader."""

    def __init__(self, process: str) -> None:
        super().__init__()
        self.process = process

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname, "process": self.process, "pid": record.process, "logger": record.name,
            "message": record.getMessage(),
        }
        for name in CONTEXT_FIELDS:
            value = getattr(record, name, None)
            if value:
                line[name] = value
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(line, default=str).decode().translate(JSON_TABLE)


class TextFormatter(logging.Formatter):
    """`<time> <process> <LEVEL> <logger>: <message> [job_id=...] [request_id=...]`, one line per record.

    The message is escaped here, whoever logged it (the service, RQ announcing a job with its description
    and arguments, Waitress, Flask): no line break, carriage return, NEL, line separator or bidi control of
    client origin reaches the log raw (common.escape), so no client text can start a line. A traceback
    follows on lines that each start with CONTINUATION (its text escaped the same way), never with a time."""

    def __init__(self, process: str) -> None:
        super().__init__()
        self.process = process

    def format(self, record: logging.LogRecord) -> str:
        context = "".join(f" [{name}={one_line(str(getattr(record, name)))}]" for name in CONTEXT_FIELDS
                          if getattr(record, name, None))
        message = one_line(record.getMessage(), keep_tabs=True)
        line = f"{self.formatTime(record)} {self.process} {record.levelname} {record.name}: {message}{context}"
        extra = []
        if record.exc_info:
            extra.append(self.formatException(record.exc_info))
        if record.stack_info:
            extra.append(self.formatStack(record.stack_info))
        for block in extra:
            line += "".join(f"\n{CONTINUATION}{one_line(part, keep_tabs=True)}" for part in block.split("\n"))
        return line


class _ServiceHandler(logging.StreamHandler):
    """The handler `configure` installs (so a second call replaces it instead of adding another)."""


def configure(level: str, log_format: str, process: str) -> None:
    """The root handler of this process (RQ's loggers use it too: RQ adds its own only when none exists).
    Like logging.basicConfig, it leaves a root logger that someone else has configured alone (the web app
    created inside a test run, whose runner captures the logs)."""
    root = logging.getLogger()
    if any(not isinstance(old, _ServiceHandler) for old in root.handlers):
        return
    for old in list(root.handlers):
        root.removeHandler(old)
    handler = _ServiceHandler(sys.stderr)
    handler.setFormatter(JSONFormatter(process) if log_format == "json" else TextFormatter(process))
    handler.addFilter(ContextFilter())
    root.addHandler(handler)
    root.setLevel(level)
