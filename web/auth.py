"""X-API-KEY authentication and roles: every key compared in constant time and never logged; /ping, /health,
the API document and the page stay public; a preflight (OPTIONS) needs no key (it carries none, and flask-cors
answers it); API_KEY has the admin role, ANALYST_API_KEYS the analyst role, and a view declared `admin`
(web.api_docs) answers an analyst key with 403."""

from __future__ import annotations

import hmac

from flask import current_app, g, request

from common.errors import Forbidden, Unauthorized
from common.settings import Settings
from web.api_docs import Role, declaration_of
from web.services import services

PUBLIC_PATHS = frozenset({"/ping", "/health", "/openapi.json", "/docs", "/", "/favicon.ico"})
# the docs page's vendored assets (the contract itself is public) and the page's files (it holds no data: it
# asks the analyst for the key and sends it with each call)
PUBLIC_PREFIXES = ("/docs/", "/page/")


def require_api_key() -> None:
    settings = services().settings
    g.role = Role.ADMIN  # without API_KEY every route is open to every caller
    if settings.api_key is None:
        return
    g.role = Role.PUBLIC
    if request.method == "OPTIONS" or request.path in PUBLIC_PATHS or request.path.startswith(PUBLIC_PREFIXES):
        return
    given = request.headers.get("X-API-KEY")
    if given is None:
        raise Unauthorized("Missing X-API-KEY header; send the service's API key.")
    role = role_of(given, settings)
    if role is None:
        raise Unauthorized("Wrong X-API-KEY; send the service's API key or an analyst key.")
    g.role = role
    if needed_role() is Role.ADMIN and role is not Role.ADMIN:
        raise Forbidden(f"{request.method} {request.path} needs the admin role (the service's API_KEY); this key "
                        "has the analyst role, which may read datasets and run and read analyses.",
                        details={"role": role.value, "needed": Role.ADMIN.value})


def role_of(given: str, settings: Settings) -> Role | None:
    """The role of the key `given`, or None for an unknown key. Every configured key is compared, each in
    constant time, so the answer's timing tells nothing of which key (or how much of one) matched."""
    presented = given.encode()
    admin = settings.api_key is not None and hmac.compare_digest(presented, settings.api_key.encode())
    analyst = False
    for key in settings.analyst_api_keys:
        analyst = hmac.compare_digest(presented, key.encode()) or analyst
    return Role.ADMIN if admin else Role.ANALYST if analyst else None


def needed_role() -> Role:
    """The role the matched view is declared with; a view without a declaration is admin-only (closed by
    default), an unknown path (404) needs any key."""
    if request.endpoint is None:
        return Role.ANALYST
    declaration = declaration_of(current_app.view_functions[request.endpoint])
    return Role.ADMIN if declaration is None else declaration.role


def current_role() -> Role:
    """The role of this request's caller, as require_api_key found it."""
    found = g.get("role")
    return found if isinstance(found, Role) else Role.PUBLIC
