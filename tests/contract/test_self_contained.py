"""The repository stands on its own: nothing in it points at a contract outside it, and the harness and
benchmarks reach the code as installed packages, never by editing sys.path."""

from __future__ import annotations

import ast
import os
from collections.abc import Iterator
from pathlib import Path

from devtools.environment import REPO

SKIPPED_DIRS = {".git", ".venv", "__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache", ".import_linter_cache",
                "data", "site"}  # site: the documentation site `make docs` builds from docs/
# Spelled in pieces so that this file does not hold what it looks for.
OUTSIDE_REFERENCES = (".." + "/shared", "SPEC" + ".md", "SPEC" + " §")


def repository_text_files() -> Iterator[tuple[Path, str]]:
    """(path, text) of every text file of the checkout, generated and cached directories left out."""
    for root, dirs, files in os.walk(REPO):
        dirs[:] = [d for d in dirs if d not in SKIPPED_DIRS and not d.endswith(".egg-info")]
        for name in files:
            path = Path(root) / name
            try:
                yield path, path.read_text()
            except UnicodeDecodeError:
                continue


def test_no_file_refers_to_a_contract_outside_the_repository() -> None:
    """Code, comments, docs (README.md, docs/), tests and deployment files cite the repository's own documentation,
    not a file beside the repository."""
    found = [f"{path.relative_to(REPO)}: {needle!r}" for path, text in repository_text_files()
             for needle in OUTSIDE_REFERENCES if needle in text]
    assert not found, found


def test_the_harness_and_benchmarks_do_not_edit_sys_path() -> None:
    """devtools/, tests/ and bench/ import the installed packages; only the product check covers the rest."""
    edits = []
    for package in ("devtools", "tests", "bench"):
        for path in sorted((REPO / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text())):
                if (isinstance(node, ast.Attribute) and node.attr == "path" and isinstance(node.value, ast.Name)
                        and node.value.id == "sys"):
                    edits.append(f"{path.relative_to(REPO)}:{node.lineno}")
    assert not edits, edits
