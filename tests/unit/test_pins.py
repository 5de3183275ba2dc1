"""The functions' requirements files pin exactly what pyproject.toml pins."""

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).parents[2]


def pins(lines: list[str]) -> dict[str, str]:
    found = {}
    for line in lines:
        match = re.match(r"^\s*([A-Za-z0-9_.-]+)(?:\[[^\]]*\])?==([^\s;#]+)", line)
        if match:
            found[match.group(1).lower()] = match.group(2)
    return found


def test_function_requirements_match_the_project_pins() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = pins(project["dependencies"])
    assert all("==" in d for d in project["dependencies"]), "runtime dependencies are pinned"
    for requirements in ROOT.glob("functions/*/requirements.txt"):
        for name, version in pins(requirements.read_text().splitlines()).items():
            assert declared.get(name) == version, f"{requirements}: {name}=={version}"
