"""The product code keeps the house style the architecture relies on: short functions, no sys.path edits,
no request fields read by string, no hand-built RQ keys."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from devtools.environment import REPO

SERVICE = ("common", "analysis", "store", "explain", "fleet", "web", "worker", "scripts")
PRODUCT = (*SERVICE, "client/shap_client")
MAX_FUNCTION_LINES = 40


def product_files() -> Iterator[Path]:
    for package in PRODUCT:
        yield from sorted((REPO / package).rglob("*.py"))


def test_no_product_function_is_longer_than_40_lines() -> None:
    """Every function and method of the product packages is at most MAX_FUNCTION_LINES lines long."""
    long = []
    for path in product_files():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = (node.end_lineno or node.lineno) - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long.append(f"{path.relative_to(REPO)}:{node.lineno} {node.name} ({lines} lines)")
    assert not long, long


def test_nothing_edits_sys_path() -> None:
    """The package is installed (pip install), so no module reaches the code through sys.path edits."""
    edits = []
    for path in product_files():
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Attribute) and node.attr == "path" and isinstance(node.value, ast.Name)
                    and node.value.id == "sys"):
                edits.append(f"{path.relative_to(REPO)}:{node.lineno}")
    assert not edits, edits


def _is_request_lookup(node: ast.AST | None) -> bool:
    """`x.get("request")` or `x["request"]`: the enqueued request as a dict, about to be read by key."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get":
        return bool(node.args) and isinstance(node.args[0], ast.Constant) and node.args[0].value == "request"
    return isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant) and node.slice.value == "request"


def test_the_analysis_request_is_never_read_by_key() -> None:
    """No `request.get("…")`, `request["…"]` nor `kwargs.get("request").get("…")`: the analysis request is the
    typed AnalyzeRequest."""
    reads = []
    for path in product_files():
        for node in ast.walk(ast.parse(path.read_text())):
            target = node.value if isinstance(node, ast.Subscript) else None
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get":
                target = node.func.value
            if isinstance(target, ast.BoolOp):  # (kwargs.get("request") or {}).get("dataset")
                target = target.values[0]
            if (isinstance(target, ast.Name) and target.id == "request") or _is_request_lookup(target):
                reads.append(f"{path.relative_to(REPO)}:{node.lineno}")
    assert not reads, reads


def test_rq_keys_come_from_rq_itself() -> None:
    """No hand-built `rq:...` key: RQ's own helpers (Queue.key, Job.key_for, registries) name them."""
    built = []
    for path in product_files():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.startswith("rq:"):
                built.append(f"{path.relative_to(REPO)}:{node.lineno} {node.value!r}")
    assert not built, built


def test_the_parts_of_an_analysis_do_not_import_the_analysis() -> None:
    """explain.question_answers uses the result's containers (analysis.explained), not explain.run, so explain.run
    imports it at the top, with no cycle to dodge (analysis.encoding and analysis.feature_values sit a layer below
    explain, which the import contracts hold)."""
    tree = ast.parse((REPO / "explain" / "question_answers.py").read_text())
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert "explain.run" not in imported
    run = ast.parse((REPO / "explain" / "run.py").read_text())
    local = [node for function in ast.walk(run) if isinstance(function, ast.FunctionDef)
             for node in ast.walk(function) if isinstance(node, ast.ImportFrom) and node.module == "explain"]
    assert not local, "explain.run imports a part inside a function"


def test_no_two_product_modules_share_a_file_name() -> None:
    """One concept, one place: a module's file name says which concept it holds, so no two modules of the
    service's packages share one (`__init__.py` and `__main__.py` aside)."""
    seen: dict[str, list[str]] = {}
    for path in (path for package in SERVICE for path in (REPO / package).rglob("*.py")):
        if path.name not in ("__init__.py", "__main__.py"):
            seen.setdefault(path.name, []).append(str(path.relative_to(REPO)))
    assert not {name: paths for name, paths in seen.items() if len(paths) > 1}


METADATA_NAMES = {"meta", "model_meta", "result"}  # what metadata and results are called in the service


def _metadata_read(node: ast.AST) -> bool:
    """`meta["…"]`, `meta.get("…")`, `x.meta["…"]`, `result["…"]`: metadata or a result read by a string key."""
    target = key = None
    if isinstance(node, ast.Subscript):
        target, key = node.value, node.slice
    elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get":
        target, key = node.func.value, node.args[0] if node.args else None
    if not (isinstance(key, ast.Constant) and isinstance(key.value, str)):
        return False
    return ((isinstance(target, ast.Name) and target.id in METADATA_NAMES)
            or (isinstance(target, ast.Attribute) and target.attr == "meta"))


def service_reads(source: str) -> list[int]:
    return [node.lineno for node in ast.walk(ast.parse(source)) if _metadata_read(node)]


def test_metadata_and_results_are_never_read_by_key() -> None:
    """Dataset metadata (DatasetMeta), model metadata (ModelMeta), job meta (JobMeta) and the result (Result)
    are typed: no `meta["…"]`, `trained.meta.get("…")`, `job.meta["…"]` or `result["…"]` in the service."""
    reads = [f"{path.relative_to(REPO)}:{line}" for package in SERVICE for path in (REPO / package).rglob("*.py")
             for line in service_reads(path.read_text())]
    assert not reads, reads


def test_the_metadata_guard_can_fail() -> None:
    assert service_reads('meta["version"]\ntrained.meta.get("task")\njob.meta["progress"]\nresult["x"]') == [1, 2, 3, 4]
    assert service_reads('meta.version\nrow["version"]') == []
