"""The baseline of bench/poll_serving.py: a bare Flask app that returns stored bytes, nothing else.

Served by bench/poll_serving.py with the `web` program's own Waitress command line (supervisord.conf),
so the service and this app differ only in what the service does per request.
BARE_APP_DIR holds one file per answer: <name>.json (and <name>.json.gz, sent when the client accepts gzip).
"""

from __future__ import annotations

import os
from pathlib import Path

from flask import Flask, Response, request


def create_app() -> Flask:
    directory = Path(os.environ["BARE_APP_DIR"])
    answers = {path.name: path.read_bytes() for path in directory.iterdir()}
    app = Flask(__name__)

    @app.get("/bare/<name>")
    def bare(name: str) -> Response:
        gzipped = answers.get(f"{name}.json.gz")
        if gzipped is not None and "gzip" in request.headers.get("Accept-Encoding", ""):
            response = Response(gzipped, mimetype="application/json")
            response.headers["Content-Encoding"] = "gzip"
            return response
        return Response(answers[f"{name}.json"], mimetype="application/json")

    return app
