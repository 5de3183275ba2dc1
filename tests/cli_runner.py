"""Runs the `docsum` command line as a person does: its own process, stdout and stderr apart."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

CLI_PATH = Path(__file__).resolve().parents[1] / "cli"


def cli_environment() -> dict[str, str]:
    """Ours without DOCSUM_* settings, the package importable from the source tree too (before
    `pip install -e .` ran)."""
    child_env = {k: v for k, v in os.environ.items() if not k.startswith("DOCSUM_")}
    child_env["PYTHONPATH"] = os.pathsep.join([str(CLI_PATH), child_env.get("PYTHONPATH", "")])
    return child_env


def docsum(
    *args: str, stdin: str | None = None, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "docsum_cli", *args],
        input=stdin or "",
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**cli_environment(), **(env or {})},
        timeout=600,
        check=False,
    )
