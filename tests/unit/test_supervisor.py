"""The stack's supervisor with real (tiny) processes: a crashed part is restarted while the
others keep running; one that keeps crashing stops everything with a clear message."""

from __future__ import annotations

import io
import os
import signal
import sys
import threading
from pathlib import Path

import pytest

from infra.local.metrics import EmfCollector
from infra.local.processes import group_alive, wait_until
from infra.local.supervisor import Console, GaveUp, Part, Supervisor

SLEEPER = [sys.executable, "-c", "import time; print('up', flush=True); time.sleep(120)"]
CRASHER = [sys.executable, "-c", "import sys; print('crashing', flush=True); sys.exit(3)"]


def supervisor(tmp_path: Path, out: io.StringIO, max_crashes: int = 5) -> Supervisor:
    return Supervisor(
        tmp_path, Console(EmfCollector(), out), max_crashes=max_crashes, backoff_base=0.05
    )


def part(name: str, command: list[str], log: Path | None = None) -> Part:
    ready = (lambda: log.exists() and "up" in log.read_text()) if log else (lambda: True)
    return Part(name, command, dict(os.environ), ready=ready, ready_timeout=30, stop_grace=5)


def test_a_killed_part_is_restarted_and_the_others_keep_running(tmp_path: Path) -> None:
    out = io.StringIO()
    sup = supervisor(tmp_path, out)
    steady = sup.start(part("steady", SLEEPER, tmp_path / "steady.log"))
    victim = sup.start(part("victim", SLEEPER, tmp_path / "victim.log"))
    restarted: list[int] = []

    def crash_then_stop() -> None:
        os.kill(victim.pid, signal.SIGKILL)
        restarted.append(
            wait_until(
                "a new victim",
                lambda: (
                    sup.children()["victim"].pid != victim.pid
                    and "victim is back" in out.getvalue()
                    and sup.children()["victim"].pid
                ),
                30,
            )
        )
        sup.stopping.set()

    helper = threading.Thread(target=crash_then_stop)
    helper.start()
    sup.watch(interval=0.05)  # on this thread, as the stack does: it started the children
    helper.join()
    try:
        assert sup.children()["steady"] is steady
        assert steady.alive()
        assert sup.children()["victim"].alive()
        console = out.getvalue()
        assert "victim exited unexpectedly (code -9); restarting it in 0.05s" in console
        assert "the other parts keep running" in console
        # The log goes on across the restart: both runs' output is in it. (The first run's "up"
        # already made the new victim "ready": wait for its own line.)
        log = tmp_path / "victim.log"
        wait_until("the second run's output", lambda: log.read_text().count("up") == 2, 30)
    finally:
        assert sup.stop_all()
    assert not group_alive(restarted[0])
    assert not steady.alive()


def test_a_part_that_keeps_crashing_stops_the_stack(tmp_path: Path) -> None:
    out = io.StringIO()
    sup = supervisor(tmp_path, out, max_crashes=2)
    steady = sup.start(part("steady", SLEEPER, tmp_path / "steady.log"))
    sup.start(part("crasher", CRASHER), wait=False)
    with pytest.raises(GaveUp, match=r"crasher crashed 3 times within 300s .*exit code 3"):
        sup.watch(interval=0.05)
    assert steady.alive()  # giving up is the stack's decision, taken by stopping everything
    assert sup.stop_all()
    assert not steady.alive()
    assert out.getvalue().count("crasher exited unexpectedly (code 3)") == 2


def test_a_stop_signal_ends_watching_and_stops_in_reverse_order(tmp_path: Path) -> None:
    out = io.StringIO()
    sup = supervisor(tmp_path, out)
    for name in ("first", "second"):
        sup.start(part(name, SLEEPER, tmp_path / f"{name}.log"))
    sup.on_signal(signal.SIGINT, None)
    sup.watch(interval=0.05)  # returns at once
    assert sup.stop_all()
    lines = [line for line in out.getvalue().splitlines() if "stopping" in line]
    assert [line.split()[3] for line in lines] == ["second", "first"]


def test_two_parts_killed_together_both_come_back(tmp_path: Path) -> None:
    out = io.StringIO()
    sup = supervisor(tmp_path, out)
    first = sup.start(part("first", SLEEPER, tmp_path / "first.log"))
    second = sup.start(part("second", SLEEPER, tmp_path / "second.log"))

    def crash_both_then_stop() -> None:
        os.kill(first.pid, signal.SIGKILL)
        os.kill(second.pid, signal.SIGKILL)
        wait_until(
            "both back",
            lambda: "first is back" in out.getvalue() and "second is back" in out.getvalue(),
            30,
        )
        sup.stopping.set()

    helper = threading.Thread(target=crash_both_then_stop)
    helper.start()
    sup.watch(interval=0.05)
    helper.join()
    try:
        assert "restart failed" not in out.getvalue()
        assert all(child.alive() for child in sup.children().values())
    finally:
        assert sup.stop_all()
