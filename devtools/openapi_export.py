"""Write the service's OpenAPI document to a file, for the documentation site's API reference.

    python -m devtools.openapi_export docs/openapi.json

The document is the one GET /openapi.json serves: the app is built with `web.create_app` and asked through
Flask's test client, so the reference is generated from the same pydantic models and route declarations
and cannot drift from the service. No Redis is needed: the app's Redis clients connect lazily, and the
settings point them at a socket that does not exist. Only `create_app` and the route are used, nothing else of `web`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from common.settings import Settings

# Settings for an app that only answers /openapi.json: an API key so the app does not warn that it is
# open, errors only in the log, and a Redis that is never reached.
EXPORT_ENVIRONMENT = {
    "REDIS_URL": "unix:///nonexistent/shap-docs-build/redis.sock",
    "API_KEY": "docs-build",
    "LOG_LEVEL": "ERROR",
}


def openapi_document() -> dict:
    """The OpenAPI document exactly as GET /openapi.json answers it."""
    from web import create_app

    app = create_app(Settings.from_env(EXPORT_ENVIRONMENT))
    answer = app.test_client().get("/openapi.json")
    if answer.status_code != 200:
        raise RuntimeError(f"GET /openapi.json answered {answer.status_code}: {answer.get_data(as_text=True)[:500]}")
    return answer.get_json()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output", type=Path, help="where to write the document (JSON)")
    args = parser.parse_args(argv)
    document = openapi_document()
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    print(f"openapi_export: {len(document.get('paths', {}))} paths, OpenAPI {document.get('openapi')} -> "
          f"{args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
