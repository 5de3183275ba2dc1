"""Where the API is and which token to send: flags, else environment, else a running `make up`."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

STACK_FILE = Path(".local-stack") / "stack.json"


class ConfigError(Exception):
    """The client cannot tell which API to call (a usage error)."""


@dataclass(frozen=True)
class Config:
    api_url: str
    token: str | None
    source: str  # where the URL came from, for messages


def find_stack_file(start: Path) -> Path | None:
    """The `.local-stack/stack.json` of a `make up` in this directory or a parent (like git)."""
    for directory in (start, *start.parents):
        candidate = directory / STACK_FILE
        if candidate.is_file():
            return candidate
    return None


def resolve(
    api_url: str | None,
    token: str | None,
    environ: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> Config:
    env = os.environ if environ is None else environ
    token = token or env.get("DOCSUM_TOKEN") or None
    if api_url:
        return Config(api_url.rstrip("/"), token, "--api-url")
    if env.get("DOCSUM_API_URL"):
        return Config(env["DOCSUM_API_URL"].rstrip("/"), token, "DOCSUM_API_URL")
    stack_file = find_stack_file(cwd or Path.cwd())
    if stack_file is None:
        raise ConfigError(
            "no API to call: pass --api-url, set DOCSUM_API_URL, or start one with `make up`"
        )
    try:
        info: dict[str, Any] = json.loads(stack_file.read_text())
        url = str(info["api_url"])
    except (OSError, ValueError, KeyError) as exc:
        raise ConfigError(f"cannot read {stack_file}: {exc}") from exc
    # The stack's own token only goes to the stack's own API.
    return Config(url.rstrip("/"), token or info.get("api_token") or None, str(stack_file))
