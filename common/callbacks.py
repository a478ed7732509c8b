"""Completion callbacks: which URLs the service may call, the notification's body and its signature.

A callback_url is checked at the web before anything is enqueued: printable ASCII without spaces (what
a request line can carry, so a URL that could never be delivered is refused), http or https only, no user info,
and a host that CALLBACK_ALLOWED_HOSTS names, so a client cannot turn the service against addresses
the operator did not allow (internal ones, say). The receiver checks `X-Signature`: `sha256=` and the
hex HMAC-SHA256 of the exact body bytes under CALLBACK_SECRET."""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import urlsplit

import orjson

from common.errors import CallbackNotAllowed
from common.settings import Settings

SIGNATURE_HEADER = "X-Signature"
ENDED = ("finished", "failed")  # the states a callback reports (RQ starts it when the job ends either way)


def host_allowed(host: str, patterns: tuple[str, ...]) -> bool:
    """`host` equals a pattern, or a pattern `*.example.com` and host is a subdomain of example.com."""
    host = host.lower().rstrip(".")
    for pattern in patterns:
        if pattern.startswith("*."):
            if host.endswith(pattern[1:]) and len(host) > len(pattern) - 1:
                return True
        elif host == pattern:
            return True
    return False


def check_url(url: str, settings: Settings) -> str:
    """The URL if the service may call it; CallbackNotAllowed (400) saying what to change otherwise."""
    if settings.callback_secret is None or not settings.callback_allowed_hosts:
        raise CallbackNotAllowed("This service sends no callbacks (CALLBACK_SECRET and CALLBACK_ALLOWED_HOSTS "
                                 "are not both set); leave callback_url out and poll status_url.")
    deliverable = url.isascii() and url.isprintable() and " " not in url
    if not deliverable:
        raise CallbackNotAllowed("callback_url holds characters an HTTP request line cannot carry (spaces, line "
                                 "breaks or other control characters, or non-ASCII text), so it could never be "
                                 "called; percent-encode them (and write a non-ASCII host in its xn-- form).")
    try:
        parts = urlsplit(url)
        port = parts.port  # ValueError for a port that is not a number in range
    except ValueError as exc:
        raise CallbackNotAllowed(f"callback_url is not a valid URL: {exc}.") from None
    del port
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise CallbackNotAllowed("callback_url must be an http:// or https:// URL with a host.")
    if parts.username is not None or parts.password is not None:
        raise CallbackNotAllowed("callback_url must not carry a user name or password.")
    if not host_allowed(parts.hostname, settings.callback_allowed_hosts):
        raise CallbackNotAllowed(f"callback_url's host {parts.hostname!r} is not one this service may call; "
                                 f"allowed: {', '.join(settings.callback_allowed_hosts)} (CALLBACK_ALLOWED_HOSTS).",
                                 details={"host": parts.hostname})
    return url


def body(job_id: str, status: str, status_url: str) -> bytes:
    return orjson.dumps({"job_id": job_id, "status": status, "status_url": status_url})


def signature(secret: str, payload: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), payload, hashlib.sha256).hexdigest()


def retry_intervals(retries: int) -> list[int]:
    """Seconds before each further attempt: 1, 2, 4, ... at most 60."""
    return [min(2**attempt, 60) for attempt in range(retries)]


def notification_id(job_id: str) -> str:
    """The RQ job id of the callback of analysis `job_id` (found again when the analysis is cancelled)."""
    return f"callback-{job_id}"
