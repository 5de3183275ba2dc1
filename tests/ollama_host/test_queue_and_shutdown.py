"""Slots, the bounded queue (503 like Ollama), client disconnects and graceful shutdown."""

from __future__ import annotations

import concurrent.futures
import signal
import socket
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import Any

import httpx
import ollama
import pytest
from offline_ollama import OfflineOllama, start_in_subprocess

from infra.local.processes import wait_until

from .conftest import SMALLEST_MODEL, requires_smollm2

pytestmark = [pytest.mark.llm, requires_smollm2]

OLLAMA_503 = "server busy, please try again.  maximum pending requests exceeded"
PROMPT = [{"role": "user", "content": "Write a long story about a dragon."}]
# A generation that runs for a long time: a flat distribution practically never samples EOS.
ENDLESS: dict[str, Any] = {
    "num_predict": 4000,
    "num_ctx": 4096,
    "temperature": 2.0,
    "top_k": 0,
    "top_p": 1.0,
    "seed": 3,
}


def status(url: str) -> dict[str, Any]:
    body: dict[str, Any] = httpx.get(url + "/offline-ollama/status").json()
    return body


def port_is_free(url: str) -> bool:
    """True if a new server could listen on the port (as Ollama would: with SO_REUSEADDR,
    since the closed connections leave TIME_WAIT entries behind)."""
    host, port = url.removeprefix("http://").split(":")
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, int(port)))
            sock.listen()
        except OSError:
            return False
    return True


@pytest.fixture
def one_slot(tmp_path: Path) -> Iterator[OfflineOllama]:
    """slots=1, max_queue=1, a short shutdown grace."""
    handle = start_in_subprocess(
        model=SMALLEST_MODEL,
        slots=1,
        max_queue=1,
        extra_args=["--shutdown-grace", "1.5"],
        log_path=tmp_path / "host.log",
    )
    try:
        yield handle
    finally:
        handle.stop()


def test_queue_full_is_503_and_a_disconnect_frees_the_slot(one_slot: OfflineOllama) -> None:
    url = one_slot.url
    client = ollama.Client(host=url)
    running = client.chat(model=SMALLEST_MODEL, messages=PROMPT, options=ENDLESS, stream=True)
    first = next(running)  # the only slot is now generating
    assert first.done is False
    assert status(url)["models"][SMALLEST_MODEL]["busy"] == 1

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        queued = pool.submit(
            ollama.Client(host=url).chat,
            model=SMALLEST_MODEL,
            messages=PROMPT,
            options={"num_predict": 3, "temperature": 0},
        )
        wait_until("one request waiting", lambda: status(url)["waiting"] == 1, 30, 0.05)

        refused: list[Callable[[], object]] = [
            lambda: client.chat(model=SMALLEST_MODEL, messages=PROMPT),
            lambda: list(client.chat(model=SMALLEST_MODEL, messages=PROMPT, stream=True)),
            lambda: client.generate(model=SMALLEST_MODEL, prompt="hi"),
        ]
        for call in refused:
            with pytest.raises(ollama.ResponseError) as info:
                call()
            assert info.value.status_code == 503
            assert info.value.error == OLLAMA_503
        assert not queued.done()

        assert isinstance(running, Generator)
        running.close()  # the streaming client goes away; its generation must stop
        answer = queued.result(timeout=60)
    assert answer.done is True
    assert answer.eval_count == 3
    wait_until("no slot busy", lambda: status(url)["models"][SMALLEST_MODEL]["busy"] == 0, 30, 0.05)
    assert status(url)["waiting"] == 0


def test_sigterm_lets_in_flight_requests_finish(tmp_path: Path) -> None:
    handle = start_in_subprocess(
        model=SMALLEST_MODEL,
        slots=1,
        extra_args=["--shutdown-grace", "60"],
        log_path=tmp_path / "host.log",
    )
    try:
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            pending = pool.submit(
                ollama.Client(host=handle.url).chat,
                model=SMALLEST_MODEL,
                messages=PROMPT,
                options={**ENDLESS, "num_predict": 40},
            )
            wait_until(
                "a slot busy",
                lambda: status(handle.url)["models"][SMALLEST_MODEL]["busy"] == 1,
                30,
                0.05,
            )
            handle.proc.send_signal(signal.SIGTERM)
            answer = pending.result(timeout=60)
        assert answer.done is True
        assert answer.eval_count == 40
        assert handle.proc.wait(timeout=30) == 0
        assert "all requests finished" in handle.log()
        assert port_is_free(handle.url)
    finally:
        handle.stop()


def test_sigterm_aborts_what_outlives_the_grace(one_slot: OfflineOllama) -> None:
    client = ollama.Client(host=one_slot.url)
    running = client.chat(model=SMALLEST_MODEL, messages=PROMPT, options=ENDLESS, stream=True)
    assert next(running).done is False
    one_slot.proc.send_signal(signal.SIGTERM)
    with pytest.raises(ollama.ResponseError) as info:
        for _ in running:
            pass
    assert info.value.error == "server shutting down"
    assert one_slot.proc.wait(timeout=30) == 0
    assert "in-flight requests aborted" in one_slot.log()
    assert port_is_free(one_slot.url)


def _abandoned(log: str, where: str) -> list[str]:
    return [line for line in log.splitlines() if "] 499 |" in line and where in line]


def test_a_client_that_gives_up_while_queued_leaves_the_queue(one_slot: OfflineOllama) -> None:
    """As the worker's client does at its timeout: the queued request is dropped before it
    starts, while the slot is still busy with another generation."""
    url = one_slot.url
    running = ollama.Client(host=url).chat(
        model=SMALLEST_MODEL, messages=PROMPT, options=ENDLESS, stream=True
    )
    assert next(running).done is False  # the only slot is generating
    impatient = ollama.Client(host=url, timeout=1.5)
    with pytest.raises(httpx.TimeoutException):
        impatient.chat(model=SMALLEST_MODEL, messages=PROMPT, options={"num_predict": 3})
    wait_until("the queue empty", lambda: status(url)["waiting"] == 0, 30, 0.05)
    # Still generating the first request: the queued one left on its own, never ran.
    assert status(url)["models"][SMALLEST_MODEL]["busy"] == 1
    wait_until("the 499 logged", lambda: _abandoned(one_slot.log(), "while queued"), 10, 0.05)
    assert "slot" not in _abandoned(one_slot.log(), "while queued")[0]

    assert isinstance(running, Generator)
    running.close()
    wait_until("no slot busy", lambda: status(url)["models"][SMALLEST_MODEL]["busy"] == 0, 30, 0.05)
    answer = ollama.Client(host=url).chat(
        model=SMALLEST_MODEL, messages=PROMPT, options={"num_predict": 3, "temperature": 0}
    )
    assert answer.eval_count == 3


def test_a_client_that_gives_up_while_generating_stops_it(one_slot: OfflineOllama) -> None:
    """A non-streaming call (the worker's kind) whose client times out mid-generation: the
    host notices without writing anything, stops at its next token and frees the slot."""
    url = one_slot.url
    impatient = ollama.Client(host=url, timeout=3)
    with pytest.raises(httpx.TimeoutException):
        impatient.chat(model=SMALLEST_MODEL, messages=PROMPT, options=ENDLESS)
    wait_until("no slot busy", lambda: status(url)["models"][SMALLEST_MODEL]["busy"] == 0, 30, 0.05)
    wait_until("the 499 logged", lambda: _abandoned(one_slot.log(), "while generating"), 10, 0.05)
    line = _abandoned(one_slot.log(), "while generating")[0]
    generated = int(line.split("| tokens ")[1].split()[0])
    assert 0 < generated < ENDLESS["num_predict"]  # stopped early, not run to its end

    answer = ollama.Client(host=url).chat(
        model=SMALLEST_MODEL, messages=PROMPT, options={"num_predict": 3, "temperature": 0}
    )
    assert answer.eval_count == 3


def test_a_slow_host_on_purpose_and_repeats_seen_in_the_log(tmp_path: Path) -> None:
    """--token-delay (for backlog benchmarks) holds the slot that much longer per token; the
    log's request digest shows the same request made twice."""
    with start_in_subprocess(
        model=SMALLEST_MODEL,
        slots=1,
        extra_args=["--token-delay", "0.3"],
        log_path=tmp_path / "host.log",
    ) as handle:
        client = ollama.Client(host=handle.url)
        options = {"num_predict": 4, "temperature": 0, "seed": 1}
        for text in ("one", "one", "two"):
            answer = client.chat(
                model=SMALLEST_MODEL, messages=[{"role": "user", "content": text}], options=options
            )
            assert answer.eval_count == 4
        lines = [line for line in handle.log().splitlines() if "POST /api/chat" in line]
    slots = [float(line.split("| slot ")[1].split("s |")[0]) for line in lines]
    digests = [line.split("| req ")[1] for line in lines]
    assert all(held >= 4 * 0.3 for held in slots), lines  # the delay is a floor, not a race
    assert digests[0] == digests[1] != digests[2]
