"""A cold start's import makes no client: importing a handler loads neither boto3 (whose first
client loads botocore's endpoint and service data) nor the `ollama` client nor the X-Ray SDK.
Each is made on first use (`docsum.platform.lazy`); the time this saves is `make bench`'s to
measure, this only fails when someone brings an eager import back."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import weakref
from typing import Any

import pytest
from docsum.platform import lazy
from docsum.platform.lazy import make_all_now, on_first_use

from infra.local.environment import DUMMY_AWS_ENV
from infra.local.processes import REPO_ROOT
from infra.template import load_template

# Packages a handler's import must not load: what making a client or a trace needs.
DEFERRED = ("boto3", "s3transfer", "botocore.session", "ollama", "httpx", "aws_xray_sdk")

LOADED_AFTER_IMPORT = r"""
import importlib, json, sys
module_name, _, function_name = sys.argv[1].rpartition(".")
assert callable(getattr(importlib.import_module(module_name), function_name))
print(json.dumps(sorted(name for name in sys.modules if name.startswith(tuple(sys.argv[2:])))))
"""


def _clean_environment(logical_id: str) -> dict[str, str]:
    """The function's template environment (resource names made up: nothing is called) and
    nothing of this process's."""
    function = load_template().function(logical_id)
    env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", **DUMMY_AWS_ENV}
    env |= {
        k: v if isinstance(v, str) else f"x-{k.lower()}" for k, v in function.environment.items()
    }
    env |= {
        "OLLAMA_HOST": "http://127.0.0.1:9",
        "API_TOKEN": "cold-start-test",
        "API_TOKEN_PARAMETER": "",
        "PYTHONPATH": os.pathsep.join(str(path) for path in function.import_paths),
    }
    return env


@pytest.mark.parametrize("logical_id", load_template().logical_ids("AWS::Serverless::Function"))
def test_importing_a_handler_makes_no_client(logical_id: str) -> None:
    handler = load_template().function(logical_id).handler
    result = subprocess.run(
        [sys.executable, "-c", LOADED_AFTER_IMPORT, handler, *DEFERRED],
        env=_clean_environment(logical_id),
        cwd=REPO_ROOT / "tests",  # not the repository root: only PYTHONPATH provides code
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []


def test_a_stand_in_is_made_on_first_use_once_and_passes_everything_on() -> None:
    made: list[dict[str, Any]] = []

    def make() -> Any:
        made.append({})
        return type("Client", (), {"region": "us-east-1", "send": lambda self, x: x * 2})()

    client = on_first_use(make)
    assert made == []
    assert client.send(21) == 42
    assert client.region == "us-east-1"
    client.region = "eu-west-1"  # a test swapping an attribute reaches the real object
    assert client.region == "eu-west-1"
    assert len(made) == 1


def test_a_failed_making_is_tried_again_on_the_next_use() -> None:
    attempts: list[int] = []

    def make() -> Any:
        attempts.append(1)
        if len(attempts) == 1:
            raise ConnectionError("no credentials yet")
        return type("Client", (), {"ok": True})()

    client = on_first_use(make)
    with pytest.raises(ConnectionError):
        _ = client.ok
    assert client.ok is True
    assert len(attempts) == 2


def test_concurrent_first_uses_make_one_object() -> None:
    made: list[int] = []

    def make() -> Any:
        made.append(1)
        time.sleep(0.05)  # both threads arrive while the first is still making it
        return type("Client", (), {"ok": True})()

    client = on_first_use(make)
    threads = [threading.Thread(target=lambda: client.ok) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert made == [1]


def test_make_all_now_makes_what_is_still_waiting(monkeypatch: pytest.MonkeyPatch) -> None:
    # Only this test's stand-ins: others alive in this process may need an environment gone now.
    monkeypatch.setattr(lazy._OnFirstUse, "_instances", weakref.WeakSet())
    made: list[str] = []
    first = on_first_use(lambda: made.append("first") or "first")
    second = on_first_use(lambda: made.append("second") or "second")
    _ = first.upper  # already made: not made again
    assert make_all_now() == 1
    assert sorted(made) == ["first", "second"]
    assert second.upper() == "SECOND"
