"""Running ``python -m infra.local`` (the embedded stack) from tests: what the e2e tests add to
the harness (:mod:`infra.local.harness`) - their timeouts, and what a clean stop must leave."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx

from infra.local import harness
from infra.local.harness import STACK_STOP_TIMEOUT, Stack
from infra.local.processes import group_alive, is_listening

__all__ = ["Stack", "start_stack"]

DOC_TIMEOUT = 240.0  # one small-model summary, on a busy machine
LLM_CALL_LINE = re.compile(r"\|\s*POST /api/chat(?:\s*\||$)", re.MULTILINE)
# Small answers keep each summary to seconds on two cores (a real setting: LLM_NUM_PREDICT).
FAST_LLM = {"LLM_NUM_PREDICT": "96"}
# Failed attempts come back after 1, 2, 4, 8 s instead of 10, 20, 40, 80 s.
FAST_RETRIES = ["--retry-base-seconds", "1"]
# A stop waits out each queue poller's pending long poll: 2 s instead of Lambda's 20 s keeps
# every stop (and restart) of a stack short; a message is received as soon as it arrives either
# way.
QUICK_STOP = ["--long-poll-seconds", "2"]


def start_stack(state_dir: Path, env: Mapping[str, str], args: list[str] | None = None) -> Stack:
    """:func:`infra.local.harness.start_stack` with the e2e tests' quick stop."""
    return harness.start_stack(state_dir, env, [*QUICK_STOP, *(args or [])])


def count_llm_calls(*logs: Path) -> int:
    """Chat requests an offline host has answered, from its request log (one line each)."""
    return sum(
        len(LLM_CALL_LINE.findall(log.read_text(errors="replace"))) for log in logs if log.exists()
    )


def post(stack: Stack, text: str) -> str:
    with stack.api() as api:
        response = api.post("/documents", json={"text": text})
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


def document(stack: Stack, doc_id: str) -> dict[str, Any]:
    with stack.api() as api:
        response = api.get(f"/documents/{doc_id}")
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


def settled_at(api: httpx.Client, location: str) -> dict[str, Any] | None:
    """The document at ``location`` once it is done or failed; None while it is not."""
    found: dict[str, Any] = api.get(location).json()
    return found if found["status"] in ("done", "failed") else None


def settled(stack: Stack, doc_id: str) -> dict[str, Any] | None:
    with stack.api() as api:
        return settled_at(api, f"/documents/{doc_id}")


def listening_ports(stack: Stack) -> list[int]:
    """Every port the stack serves on: its parts' and the API's and metrics' URLs."""
    ports = [p["port"] for p in stack.info.get("processes", {}).values() if p["port"]]
    urls = (stack.api_url, stack.info["metrics_url"])
    return ports + [int(u.rsplit(":", 1)[1].split("/")[0]) for u in urls]


def stop_stack(stack: Stack) -> None:
    """Ctrl-C, as a person would; then nothing of the stack may be running or listening."""
    processes = stack.info.get("processes", {})
    ports = listening_ports(stack)
    code = stack.stop(STACK_STOP_TIMEOUT)
    assert code is not None, f"stack did not stop in {STACK_STOP_TIMEOUT:.0f}s:\n{stack.console()}"
    assert code == 0, f"stack exited with {code}:\n{stack.console()[-5000:]}"
    assert [p for p in ports if is_listening(p)] == []
    # Each part ran in its own process group (the poller's execution environments in its).
    assert [name for name, p in processes.items() if group_alive(p["pid"])] == []
    assert not (stack.state_dir / "stack.json").exists()
