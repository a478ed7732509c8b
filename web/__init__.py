"""The Flask app, served by Waitress: `waitress-serve --call web:create_app`."""

from __future__ import annotations

import logging
import threading

from flask import Flask

from common import logs
from common.settings import Settings
from web import auth, cross_origin, error_handler, request_ids, telemetry
from web.services import Services


def create_app(settings: Settings | None = None) -> Flask:
    """Build the app; shared clients are created here, once, and stored on the app."""
    settings = settings or Settings.from_env()
    logs.configure(settings.log_level, settings.log_format, "web")
    logs.add_context(request_ids.current)
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_upload_bytes
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions["shap"] = Services.build(settings)
    if settings.api_key is None:
        logging.getLogger(__name__).warning("serving without API_KEY: every endpoint is open to whoever reaches "
                                            "%s:%d; set API_KEY before exposing it", settings.effective_host,
                                            settings.port)

    error_handler.register(app)
    cross_origin.install(app, settings)
    app.before_request(telemetry.start)
    app.before_request(request_ids.assign)  # before the key check: even a refused request has an id
    app.before_request(auth.require_api_key)
    app.after_request(request_ids.answer)
    app.after_request(telemetry.finish)

    from web import (
        contract_routes,
        dataset_routes,
        job_routes,
        operation_routes,
        page_routes,
        report_routes,
        submission_routes,
    )

    for module in (operation_routes, submission_routes, job_routes, report_routes, dataset_routes, contract_routes,
                   page_routes):
        app.register_blueprint(module.blueprint)
    threading.Thread(target=_import_data_modules, name="import-pandas", daemon=True).start()
    return app


def _import_data_modules() -> None:
    """pandas, the dataset code and the OpenAPI document's generator load after the socket is bound: /ping
    answers within 2 s of start. Plain import statements, so tools that read imports (import-linter, mypy)
    see these dependencies."""
    import analysis.selection  # noqa: F401
    import store.default_dataset  # noqa: F401
    import web.openapi  # noqa: F401
