"""`@documented(...)`: a view's OpenAPI declaration, written on the view and only recorded there.

The decorator stores a Declaration on the function and returns the function itself: nothing wraps the
served view (no validation, no buffering of a response), and nothing here imports spectree or the answer
models. Models are named as the document names them (its component schemas: every model of the contract
has a unique class name); web/openapi.py resolves the names and builds the document on the first
GET /openapi.json, from the served app's routes and these declarations. The view's docstring is the
operation's summary (spectree's rule: its first paragraph), its name the operationId."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import TypeVar

View = TypeVar("View", bound=Callable[..., object])
_ATTRIBUTE = "__openapi_declaration__"


class Tag(StrEnum):
    """The document's groups of operations, in the order the document (and Swagger UI) lists them."""

    HEALTH = "health"
    ANALYSIS = "analysis"
    DATASETS = "datasets"
    OPERATIONS = "operations"
    CONTRACT = "contract"
    PAGE = "page"


@dataclass(frozen=True)
class Declaration:
    """What the document says of one view beyond its route and docstring. `answers`: each success status
    and the name of its model (None: no JSON model, e.g. an image or a page); `errors`: the error statuses
    it can give, each answered with ErrorBody; `query`/`body`: the names of the models of its query string
    and JSON body; `public`: served without the API key."""

    tag: Tag
    answers: Mapping[int, str | None]
    errors: tuple[int, ...] = ()
    query: str | None = None
    body: str | None = None
    public: bool = False


def documented(tag: Tag, answers: Mapping[int, str | None], *errors: int, query: str | None = None,
               body: str | None = None, public: bool = False) -> Callable[[View], View]:
    """Record the view's Declaration on it; the view is returned unchanged."""
    declaration = Declaration(tag, dict(answers), errors, query, body, public)

    def record(view: View) -> View:
        setattr(view, _ATTRIBUTE, declaration)
        return view

    return record


def declaration_of(view: Callable[..., object]) -> Declaration | None:
    """The Declaration @documented recorded on `view`; None for a view it did not decorate."""
    found = getattr(view, _ATTRIBUTE, None)
    return found if isinstance(found, Declaration) else None
