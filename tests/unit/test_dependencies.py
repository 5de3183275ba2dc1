"""Dependencies point one way: tests and bench -> infra -> functions (and ollama-host)."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

from infra.local.processes import REPO_ROOT

# Each tree, and the top-level packages its code must never import.
FORBIDDEN = {
    "functions": {"infra", "bench", "tests"},
    "ollama-host": {"infra", "bench", "tests", "docsum"},
    "infra": {"bench", "tests"},
    "bench": {"tests"},
    "cli": {"infra", "bench", "tests", "docsum"},  # a client of the public API, nothing else
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


@pytest.mark.parametrize("module", ["infra.local.poller", "tests.faults.consumer"])
def test_a_poller_imports_no_function_code_of_its_own(module: str) -> None:
    """Its sandboxes (spawned: they re-import the main module) must load the handler and the
    core from the function's paths, as Lambda does, not a copy the poller imported first."""
    check = f"import sys, {module}; print(sorted(m for m in sys.modules if m == 'docsum'))"
    result = subprocess.run(
        [sys.executable, "-c", check],
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert result.stdout.strip() == "[]"
