"""The result's one definition (analysis.result.Result) and the places that describe it to clients: the
OpenAPI document's AnalysisResult (web.api_models) and the Python client's reading of the JSON."""

from __future__ import annotations

import ast

from analysis.result import FIELDS
from devtools.environment import REPO


def test_the_openapi_result_names_every_field_of_the_result_and_no_other() -> None:
    """AnalysisResult (and its ?fields= form) describe exactly the fields the worker writes: `success`, then
    analysis.result.FIELDS; a field added to the Result and not to the document (or the reverse) fails here."""
    from web.api_models import AnalysisResult, AnalysisResultFields

    assert set(AnalysisResult.model_fields) == {"success", *FIELDS}
    assert set(AnalysisResultFields.model_fields) == {"success", *FIELDS}


def _keys_read(path: str) -> set[str]:
    """The string keys the client reads from the result's JSON (`result.get("…")`, `result["…"]`)."""
    keys = set()
    for node in ast.walk(ast.parse((REPO / path).read_text())):
        target = key = None
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get":
            target, key = node.func.value, node.args[0] if node.args else None
        elif isinstance(node, ast.Subscript):
            target, key = node.value, node.slice
        if (isinstance(target, ast.Name) and target.id == "result" and isinstance(key, ast.Constant)
                and isinstance(key.value, str)):
            keys.add(key.value)
    return keys


def test_the_python_client_reads_only_fields_the_result_has() -> None:
    """Every field the client's AnalysisResult and its parts read from the JSON is one the Result writes."""
    read = _keys_read("client/shap_client/result.py") | _keys_read("client/shap_client/questions.py")
    assert read, "the client reads the result"
    assert read <= {"success", *FIELDS}, read - {"success", *FIELDS}


def test_the_comparison_can_fail() -> None:
    """A field name the Result does not have is seen."""
    assert "shap_value" not in {"success", *FIELDS}
    assert _keys_read("tests/unit/analysis/test_result_contract.py") == set()
