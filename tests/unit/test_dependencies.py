"""Dependencies point one way: tests and bench -> infra -> functions (and ollama-host)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from infra.local.processes import REPO_ROOT

# Each tree, and the top-level packages its code must never import.
FORBIDDEN = {
    "functions": {"infra", "bench", "tests"},
    "ollama-host": {"infra", "bench", "tests", "docsum"},
    "infra": {"bench", "tests"},
    "bench": {"tests"},
}


def imported_packages(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("tree", sorted(FORBIDDEN))
def test_no_import_points_backwards(tree: str) -> None:
    files = sorted((REPO_ROOT / tree).rglob("*.py"))
    assert files, tree
    wrong = {
        str(f.relative_to(REPO_ROOT)): sorted(imported_packages(f) & FORBIDDEN[tree]) for f in files
    }
    assert {f: names for f, names in wrong.items() if names} == {}
