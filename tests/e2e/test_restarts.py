"""The stack restarts a part that crashes, as a platform would, and keeps the rest running;
documents survive a crash of its moto server and a restart of the whole stack."""

from __future__ import annotations

import json
import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from infra.local.processes import LOOPBACK, free_port, wait_until
from tests.e2e.support import (
    DOC_TIMEOUT,
    FAST_LLM,
    Stack,
    document,
    post,
    settled,
    start_stack,
    stop_stack,
)

pytestmark = [pytest.mark.e2e, pytest.mark.llm]

# Retries after 2, 4, 8, 16 s: room for the model host to come back before a document fails.
RETRIES = ["--retry-base-seconds", "2"]
RESTART_TIMEOUT = 120.0


def env() -> dict[str, str]:
    return {**FAST_LLM, "OLLAMA_HOST": f"http://{LOOPBACK}:{free_port()}"}


@pytest.fixture(scope="module")
def state_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("restarts")


@pytest.fixture(scope="module")
def restarting(state_dir: Path) -> Iterator[Stack]:
    running = start_stack(state_dir, env(), RETRIES)
    try:
        yield running
    finally:
        if running.child.alive():
            stop_stack(running)


class HealthWatch:
    """Polls the API's /health in the background: every answer that was not a 200."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.failures: list[str] = []
        self.polls = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with httpx.Client(timeout=5) as client:
            while not self._stop.wait(0.2):
                self.polls += 1
                try:
                    status = client.get(f"{self.url}/health").status_code
                except httpx.HTTPError as exc:
                    self.failures.append(type(exc).__name__)
                    continue
                if status != 200:
                    self.failures.append(str(status))

    def __enter__(self) -> HealthWatch:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def restarted(stack: Stack, part: str, old_pid: int) -> int | None:
    """The part's new pid once stack.json names one (the stack rewrites it after a restart)."""
    pid = int(stack.refresh()["processes"][part]["pid"])
    return pid if pid != old_pid else None


def test_a_killed_model_host_comes_back_and_the_api_never_goes_away(
    restarting: Stack,
) -> None:
    api_pid = restarting.info["processes"]["api"]["pid"]
    llm_pid = restarting.info["processes"]["llm"]["pid"]
    with HealthWatch(restarting.api_url) as health:
        doc_id = post(restarting, "A model host that crashes mid-run must not lose a document.")
        os.kill(llm_pid, signal.SIGKILL)  # as a crash or the OOM killer would
        new_pid = wait_until(
            "the model host restarted", lambda: restarted(restarting, "llm", llm_pid), 60
        )
        wait_until("the model host back", lambda: "llm is back" in restarting.console(), 120)
        done = wait_until("the summary", lambda: settled(restarting, doc_id), DOC_TIMEOUT)
    assert done["status"] == "done", done
    assert 0 < len(done["summary"]) <= 1500
    assert new_pid != llm_pid
    assert restarting.info["processes"]["api"]["pid"] == api_pid
    assert health.polls > 10
    assert health.failures == []
    assert "llm exited unexpectedly (code -9); restarting it" in restarting.console()


def saved_status(stack: Stack, doc_id: str) -> str | None:
    """The document's status in the stack's last save of what moto holds (every 5 s)."""
    saved = stack.state_dir / "state" / "items.json"
    items = json.loads(saved.read_text()) if saved.exists() else []
    found = (i for i in items if i.get("id", {}).get("S") == doc_id)
    return next((str(i["status"]["S"]) for i in found), None)


def test_documents_survive_a_moto_crash(restarting: Stack) -> None:
    doc_id = post(restarting, "What moto held in memory comes back after it crashes.")
    before = wait_until("the summary", lambda: settled(restarting, doc_id), DOC_TIMEOUT)
    moto_pid = restarting.info["processes"]["moto"]["pid"]
    wait_until("the summary saved", lambda: saved_status(restarting, doc_id) == "done", 30)
    os.kill(moto_pid, signal.SIGKILL)
    wait_until("moto restarted", lambda: restarted(restarting, "moto", moto_pid), RESTART_TIMEOUT)
    assert document(restarting, doc_id) == before
    # The pipeline works on the new moto: a new document goes through.
    later = post(restarting, "A document sent after moto came back is summarized too.")
    done = wait_until("the summary", lambda: settled(restarting, later), DOC_TIMEOUT)
    assert done["status"] == "done", done


def test_documents_survive_a_restart_of_the_stack(restarting: Stack, state_dir: Path) -> None:
    doc_id = post(restarting, "Stopping the stack with Ctrl-C keeps this document.")
    before = wait_until("the summary", lambda: settled(restarting, doc_id), DOC_TIMEOUT)
    stop_stack(restarting)
    again = start_stack(state_dir, env(), RETRIES)
    try:
        assert document(again, doc_id) == before
        assert "restored" in again.console()
    finally:
        stop_stack(again)
