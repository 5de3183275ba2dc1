"""``make test`` turns every skip into a failure (tests/no_skips.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from infra.local.processes import REPO_ROOT
from tests.no_skips import NO_SKIPS

SKIPPING = """
import pytest

pytest.importorskip("no_such_module_here")
"""

SKIPPING_AT_RUN_TIME = """
import pytest

@pytest.fixture
def extras():
    pytest.skip("the local extras are not installed")

def test_needs_extras(extras):
    pass

@pytest.mark.skipif(True, reason="not on this machine")
def test_marked():
    pass

def test_runs():
    pass
"""


def run_pytest(directory: Path, no_skips: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO_ROOT), NO_SKIPS: no_skips}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "tests.no_skips", "-q", "-p", "no:cacheprovider"],
        cwd=directory,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def suite(directory: Path, source: str) -> Path:
    (directory / "test_suite.py").write_text(source)
    return directory


def test_skips_are_failures_under_make_test(tmp_path: Path) -> None:
    result = run_pytest(suite(tmp_path, SKIPPING_AT_RUN_TIME), "1")
    assert result.returncode == 1, result.stdout
    assert "1 passed, 2 errors" in result.stdout  # the fixture's skip and the skipif mark
    assert "the local extras are not installed" in result.stdout
    assert "not on this machine" in result.stdout


def test_a_module_skipped_at_import_fails_under_make_test(tmp_path: Path) -> None:
    result = run_pytest(suite(tmp_path, SKIPPING), "1")
    assert result.returncode != 0, result.stdout
    assert "module skipped, but DOCSUM_NO_SKIPS=1" in result.stdout
    assert "no_such_module_here" in result.stdout


def test_skips_stay_skips_when_run_by_hand(tmp_path: Path) -> None:
    result = run_pytest(suite(tmp_path, SKIPPING_AT_RUN_TIME), "")
    assert result.returncode == 0, result.stdout
    assert "1 passed, 2 skipped" in result.stdout
