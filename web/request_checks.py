"""What the routes that take a body share: the JSON body (POST /analyze, POST /filters/validate,
PUT /datasets/<name>/labels), and an analysis request checked completely against its dataset (POST /analyze
enqueues only what passes; POST /filters/validate reports what it would select)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson
from flask import request

from analysis.dataset_meta import DatasetMeta
from analysis.request import AnalyzeRequest
from common import callbacks
from common.errors import InvalidRequest, TooManyRows, UnsupportedMediaType, shown
from store import reuse
from web.services import Services

if TYPE_CHECKING:
    from analysis.plan import AnalysisPlan
    from analysis.selection import Selection  # pandas: imported on first use (see web.create_app)


def json_bytes() -> bytes:
    """The body, sent as application/json, which a page on another site cannot post without a CORS
    preflight (text/plain and form bodies are refused, so a browser cannot be made to submit analyses)."""
    if request.mimetype != "application/json":
        raise UnsupportedMediaType(f"Content-Type {shown(request.mimetype or 'none')} is not accepted; send the "
                                   "body as JSON with Content-Type: application/json.")
    return request.get_data(cache=False)


def json_body() -> Any:
    """The JSON body (json_bytes), parsed."""
    raw = json_bytes()
    if not raw.strip():
        raise InvalidRequest("The request body is empty; send a JSON object.")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(f"The request body is not valid JSON: {exc}.") from None


@dataclass(frozen=True)
class CheckedRequest:
    """An analysis request that passed every check made before enqueueing: its `plan` (analysis.plan: the
    request with its target resolved, the task, features and rows decided once), the `meta` of the dataset
    it was checked against, and the rows it would explain (the cohorts' union for a comparison,
    INTERACTION_MAX_ROWS applied to interactions), which POST /filters/validate reports."""

    plan: AnalysisPlan
    meta: DatasetMeta
    explained: Selection

    @property
    def analysis(self) -> AnalyzeRequest:
        """The request as the client sent it, its target_variable resolved."""
        return self.plan.request

    @property
    def dataset_key(self) -> str:
        """The dataset's version with the labels the summary will use (store.reuse.dataset_key)."""
        return reuse.dataset_key(self.meta)


def checked_request(svc: Services, body: Any) -> CheckedRequest:
    """Everything that can be checked before enqueueing is checked here, so nothing bad is enqueued."""
    from analysis import datasets, plan  # pandas on first use: create_app
    from store import default_dataset

    if not isinstance(body, dict):
        raise InvalidRequest("The request body must be a JSON object.")
    parsed = AnalyzeRequest.model_validate(body)
    settings = svc.settings
    if parsed.sample_size is not None and parsed.sample_size > settings.max_rows:
        raise TooManyRows(f"sample_size {parsed.sample_size} is above the maximum of {settings.max_rows} (MAX_ROWS).")
    meta, frame = default_dataset.frame(svc.redis, svc.frames, datasets.check_name(parsed.dataset), settings)
    if parsed.callback_url is not None:
        callbacks.check_url(parsed.callback_url, settings)
    made, explained = plan.make_plan(frame, meta, parsed, plan.PlanLimits.of(settings))
    return CheckedRequest(made, meta, explained)
