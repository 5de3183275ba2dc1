"""The `docsum` command line against the real API app served over HTTP, with the in-memory
fakes and the real worker use case (a scripted model) behind it."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from docsum.domain.errors import LLMError
from docsum_cli.api import DIRECT_UPLOAD_BYTES
from docsum_cli.config import Config, resolve

from infra.local.processes import LOOPBACK, free_port
from tests.cli_runner import cli_environment, docsum
from tests.conftest import Fakes
from tests.fakes import InMemoryRateLimiter
from tests.served_api import TOKEN, ServedApi, serving

MAX_UPLOAD_BYTES = DIRECT_UPLOAD_BYTES + 100_000  # just above what one request carries


@pytest.fixture
def served(fakes: Fakes) -> Iterator[ServedApi]:
    with serving(fakes, max_upload_bytes=MAX_UPLOAD_BYTES) as api:
        yield api


def json_lines(output: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in output.splitlines() if line.strip()]


# Configuration


def test_flags_win_over_the_environment_and_the_environment_over_the_stack(
    tmp_path: Path,
) -> None:
    (tmp_path / ".local-stack").mkdir()
    (tmp_path / ".local-stack" / "stack.json").write_text(
        json.dumps({"api_url": "http://127.0.0.1:8000", "api_token": "stack-token"})
    )
    env = {"DOCSUM_API_URL": "https://api.example/v1/", "DOCSUM_TOKEN": "env-token"}
    assert resolve("http://flag:1", "flag-token", env, tmp_path) == Config(
        "http://flag:1", "flag-token", "--api-url"
    )
    assert resolve(None, None, env, tmp_path) == Config(
        "https://api.example/v1", "env-token", "DOCSUM_API_URL"
    )
    nested = tmp_path / "some" / "where"
    nested.mkdir(parents=True)
    found = resolve(None, None, {}, nested)
    assert (found.api_url, found.token) == ("http://127.0.0.1:8000", "stack-token")
    # The stack's token is never sent to an API the user named.
    assert resolve("http://elsewhere:1", None, {}, nested).token is None


def test_no_api_anywhere_is_a_usage_error(tmp_path: Path) -> None:
    result = docsum("get", "0" * 32, cwd=tmp_path)
    assert result.returncode == 2
    assert "make up" in result.stderr


def test_a_stopped_api_is_exit_3_and_asks_whether_make_up_runs() -> None:
    url = f"http://{LOOPBACK}:{free_port()}"  # nothing listens there
    result = docsum("submit", "-", "--api-url", url, stdin="Some text.")
    assert result.returncode == 3
    assert f"no API answers at {url}: is `make up` running?" in result.stderr


# Submitting


def test_submit_json_output_and_the_same_text_again(served: ServedApi) -> None:
    first = served.run("submit", "-", "--title", "Stdin", "--json", stdin="Cats sleep a lot.")
    assert first.returncode == 0, first.stderr
    [document] = json_lines(first.stdout)
    assert (document["title"], len(document["id"])) == ("Stdin", 32)
    again = served.run("submit", "-", "--json", stdin="Cats  sleep a lot.")
    assert json_lines(again.stdout)[0]["id"] == document["id"]


def test_submit_wait_prints_progress_then_the_summary(served: ServedApi, tmp_path: Path) -> None:
    served.fakes.llm.script = ["Cats sleep most of the day."]
    path = tmp_path / "cats.txt"
    path.write_text("Cats sleep for most of the day and hunt at night.")
    result = served.run("submit", str(path), "--wait")
    assert result.returncode == 0, result.stderr
    assert f"{path}: done" in result.stderr  # a line per change: stdout is not a terminal
    assert "cats.txt" in result.stdout
    assert "Cats sleep most of the day." in result.stdout
    assert "\x1b[" not in result.stdout + result.stderr  # no animation, no colour codes


def test_a_directory_is_walked_recursively_and_unsupported_files_are_skipped(
    served: ServedApi, tmp_path: Path
) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "a.md").write_text("# A\n\nAlpha text here.")
    (tmp_path / "sub" / "b.txt").write_text("Beta text here.")
    (tmp_path / "sub" / "clip.mp4").write_bytes(b"not text")
    (tmp_path / ".hidden").mkdir()
    (tmp_path / ".hidden" / "c.txt").write_text("Never sent.")
    result = served.run("submit", str(tmp_path), "--json", "--wait")
    assert result.returncode == 0, result.stderr
    assert sorted(d["title"] for d in json_lines(result.stdout)) == ["a.md", "b.txt"]
    assert all(d["status"] == "done" for d in json_lines(result.stdout))
    assert "skipped" in result.stderr
    assert "clip.mp4" in result.stderr


def test_an_unsupported_file_is_a_usage_error_and_nothing_is_sent(
    served: ServedApi, tmp_path: Path
) -> None:
    (tmp_path / "ok.txt").write_text("Fine.")
    (tmp_path / "drawing.gif").write_bytes(b"GIF89a")
    result = served.run("submit", str(tmp_path / "ok.txt"), str(tmp_path / "drawing.gif"))
    assert result.returncode == 2
    assert "drawing.gif: file type not supported" in result.stderr
    assert served.fakes.queue.sent == []


def test_a_failed_document_is_exit_1_with_its_reason(served: ServedApi) -> None:
    served.fakes.llm.script = [LLMError("rejected", "the model refused it", transient=False)]
    result = served.run("submit", "-", "--wait", "--json", stdin="Doomed text.")
    assert result.returncode == 1, result.stderr
    [document] = json_lines(result.stdout)
    assert document["status"] == "failed"
    assert "rejected" in document["error"]  # the worker's stable reason
    got = served.run("get", document["id"])
    assert got.returncode == 1
    assert document["error"] in got.stdout


def test_a_rejected_token_is_exit_3_with_a_clear_message(served: ServedApi) -> None:
    result = served.run("submit", "-", token="wrong", stdin="Text.")
    assert result.returncode == 3
    assert "the API rejected the token" in result.stderr
    assert "DOCSUM_TOKEN" in result.stderr


def test_a_url_is_submitted_as_a_web_page(served: ServedApi) -> None:
    """The CLI sends a URL as `{"url"}` (not as a path): this API runs without `make up`'s
    loopback allowance, so its answer is the URL policy's 422, with the same URL as sent."""
    url = f"{served.url}/some/page.html?x=1"
    result = served.run("submit", url, "--json")
    assert result.returncode == 3
    assert "address not allowed" in result.stderr
    assert "no such file" not in result.stderr


def test_too_large_is_exit_3_and_says_so(served: ServedApi) -> None:
    result = served.run("submit", "-", stdin="x" * 3000)  # the app's limit is 2,000
    assert result.returncode == 3
    assert "too large" in result.stderr


def test_a_rate_limited_client_waits_out_retry_after_and_gets_every_summary(
    fakes: Fakes, tmp_path: Path
) -> None:
    for name in ("a", "b", "c"):
        (tmp_path / f"{name}.txt").write_text(f"File {name}: cats sleep for most of the day.")
    # 2 requests in 2 s: three submissions and their polls (three a second) cannot fit.
    with serving(fakes, InMemoryRateLimiter(requests=2, window_seconds=2)) as served:
        result = served.run("submit", str(tmp_path), "--wait", "--json")
    assert result.returncode == 0, result.stderr
    assert [d["status"] for d in json_lines(result.stdout)] == ["done"] * 3
    assert "rate limit of client default reached" in result.stderr
    assert "waiting 1 s" in result.stderr or "waiting 2 s" in result.stderr


def test_a_folder_larger_than_the_clients_share_is_sent_in_full(
    fakes: Fakes, tmp_path: Path
) -> None:
    for name in ("a", "b", "c"):
        (tmp_path / f"{name}.txt").write_text(f"File {name}: dogs bark at the post.")
    with serving(fakes, max_active_documents_per_client=1, busy_retry_after_seconds=1) as served:
        result = served.run("submit", str(tmp_path), "--json")
    assert result.returncode == 0, result.stderr
    assert len({d["id"] for d in json_lines(result.stdout)}) == 3
    # b and c each waited (at least once) for the one before.
    assert result.stderr.count("1 documents are uploading, queued or in progress") >= 2
    assert "MAX_ACTIVE_DOCUMENTS_PER_CLIENT is 1: retry once some are done (waiting 1 s)" in (
        result.stderr
    )


def test_resummarize_waits_for_the_new_summary(served: ServedApi) -> None:
    # Answers shorter than the text and drawn from it, so the output guard accepts each.
    text = "Cats sleep most of the day. Dogs bark at the mailman every single morning."
    served.fakes.llm.script = ["Cats sleep all day.", "Dogs bark every morning."]
    first = json_lines(served.run("submit", "-", "--wait", "--json", stdin=text).stdout)
    again = served.run("resummarize", first[0]["id"], "--wait", "--json")
    assert again.returncode == 0, again.stderr
    [document] = json_lines(again.stdout)
    assert (document["summary"], document["generation"]) == ("Dogs bark every morning.", 2)


def test_wait_that_runs_out_of_time_is_exit_3(served: ServedApi) -> None:
    served.worker_paused.set()
    result = served.run("submit", "-", "--wait", "--timeout", "1", stdin="Slow text.")
    assert result.returncode == 3
    assert "still queued after 1 s" in result.stderr


def test_a_document_deleted_during_a_wait_ends_the_wait_with_exit_3(served: ServedApi) -> None:
    served.worker_paused.set()  # it stays queued
    submitted = served.run("submit", "-", "--json", stdin="Owls hunt at night.")
    doc_id = json_lines(submitted.stdout)[0]["id"]
    args = ["get", doc_id, "--wait", "--timeout", "120", "--api-url", served.url, "--token", TOKEN]
    waiting = subprocess.Popen(
        [sys.executable, "-m", "docsum_cli", *args],
        stderr=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=cli_environment(),
    )
    time.sleep(2)  # a poll or two: still queued
    assert served.run("delete", doc_id).returncode == 0
    _, stderr = waiting.communicate(timeout=30)  # not the 120 s of --timeout
    assert waiting.returncode == 3, stderr
    assert f"{doc_id}: 404" in stderr


def test_unknown_id_is_exit_3(served: ServedApi) -> None:
    result = served.run("get", "f" * 32)
    assert result.returncode == 3
    assert "404" in result.stderr


def test_on_a_terminal_wait_draws_a_live_progress_table(served: ServedApi) -> None:
    """stdout on a pseudo-terminal: rich's live display (cursor movement), then the summary."""
    served.fakes.llm.script = ["A terminal shows text."]  # shorter than the text: it passes
    controller, terminal = pty.openpty()
    env = {**cli_environment(), "TERM": "xterm-256color", "COLUMNS": "100"}
    args = ["submit", "-", "--wait", "--api-url", served.url, "--token", TOKEN]
    proc = subprocess.Popen(
        [sys.executable, "-m", "docsum_cli", *args],
        stdin=subprocess.PIPE,
        stdout=terminal,
        stderr=subprocess.PIPE,
        env=env,
    )
    os.close(terminal)
    _, stderr = proc.communicate(
        b"Text for a terminal, which shows the text as it comes.", timeout=60
    )
    screen = b""
    while True:
        try:
            chunk = os.read(controller, 65536)
        except OSError:  # the terminal closed with the process
            break
        if not chunk:
            break
        screen += chunk
    os.close(controller)
    assert proc.returncode == 0, stderr
    text = screen.decode(errors="replace")
    assert "\x1b[" in text  # drawn and redrawn in place
    assert "status" in text  # the progress table's header
    assert "A terminal shows text." in text
    assert stderr == b""  # no progress lines: the table replaces them


def test_list_pages_through_the_documents_and_delete_removes_one(served: ServedApi) -> None:
    ids = [
        json_lines(served.run("submit", "-", "--json", stdin=f"Text number {n}.").stdout)[0]["id"]
        for n in range(3)
    ]
    first_two = served.run("list", "--limit", "2", "--json")
    assert first_two.returncode == 0, first_two.stderr
    assert len(json_lines(first_two.stdout)) == 2
    assert "more documents" in first_two.stderr
    everything = served.run("list", "--all", "--json")
    assert {d["id"] for d in json_lines(everything.stdout)} == set(ids)

    deleted = served.run("delete", ids[0])
    assert deleted.returncode == 0, deleted.stderr
    assert f"deleted {ids[0]}" in deleted.stdout
    assert served.run("get", ids[0]).returncode == 3
    assert ids[0] not in served.run("list", "--all", "--json").stdout
    assert served.run("delete", ids[0]).returncode == 3  # already gone: 404


def test_a_file_whose_bytes_are_no_supported_type_is_exit_3_naming_the_types(
    served: ServedApi, tmp_path: Path
) -> None:
    disguised = tmp_path / "report.pdf"
    disguised.write_bytes(bytes(range(256)) * 8)  # binary, but no PDF
    result = served.run("submit", str(disguised))
    assert result.returncode == 3
    assert "file type not supported" in result.stderr
    assert "application/pdf" in result.stderr  # the API names what it takes


def test_a_file_too_large_even_for_uploads_is_exit_3_saying_so(
    served: ServedApi, tmp_path: Path
) -> None:
    huge = tmp_path / "huge.txt"
    huge.write_text("word " * ((MAX_UPLOAD_BYTES + 1000) // 5))
    result = served.run("submit", str(huge))
    assert result.returncode == 3
    assert "too large even for /uploads" in result.stderr
    assert served.fakes.store.presigned == []  # refused before any upload was signed


def test_summary_options_travel_with_the_submission(served: ServedApi) -> None:
    result = served.run(
        "submit",
        "-",
        "--length",
        "short",
        "--format",
        "bullets",
        "--language",
        "de",
        "--json",
        stdin="Some text to summarize in German.",
    )
    assert result.returncode == 0, result.stderr
    [document] = json_lines(result.stdout)
    assert document["options"] == {"length": "short", "format": "bullets", "language": "de"}
    wrong = served.run("submit", "-", "--length", "huge", stdin="Text.")
    assert wrong.returncode == 2  # refused by the CLI, nothing sent


def test_a_callback_url_travels_with_text_and_files(served: ServedApi, tmp_path: Path) -> None:
    hook = "https://93.184.216.34/docsum"  # a public address: no DNS needed
    note = tmp_path / "note.md"
    note.write_text("# Note\n\nA file with a callback.")
    result = served.run(
        "submit", "-", str(note), "--callback-url", hook, "--json", stdin="Text with a callback."
    )
    assert result.returncode == 0, result.stderr
    documents = json_lines(result.stdout)
    assert [d["callback_url"] for d in documents] == [hook, hook]
    assert [d["source"] for d in documents][1]["kind"] == "markdown"  # sent as a form
    assert {d.callback_url for d in served.fakes.repository.items.values()} == {hook}

    refused = served.run("submit", "-", "--callback-url", "https://10.0.0.1/", stdin="Other.")
    assert refused.returncode == 3
    assert "not a public address" in refused.stderr


# Citations


def test_get_sources_prints_each_sentence_and_the_passage_it_cites(served: ServedApi) -> None:
    text = "Cats sleep most of the day. Dogs bark at the mailman every single morning."
    served.fakes.llm.script = ["Dogs bark at the mailman."]
    [posted] = json_lines(served.run("submit", "-", "--wait", "--json", stdin=text).stdout)
    result = served.run("get", posted["id"], "--sources")
    assert result.returncode == 0, result.stderr
    assert "[1] Dogs bark at the mailman." in result.stdout
    assert "chars 28-74: “Dogs bark at the mailman every single morning.”" in result.stdout
    assert "1/1 sentences supported" in result.stdout
    [shown] = json_lines(served.run("get", posted["id"], "--sources", "--json").stdout)
    [source] = shown["sentences"][0]["sources"]
    assert source["text"] == "Dogs bark at the mailman every single morning."


def test_an_extractive_summary_is_marked(served: ServedApi) -> None:
    text = "Cats sleep most of the day. Dogs bark at the mailman every single morning. " * 20
    served.fakes.llm.default_reply = "Bark bark bark bark. " * 20  # a loop, twice
    result = served.run("submit", "-", "--wait", stdin=text)
    assert result.returncode == 0, result.stderr
    assert "extractive: the document's own sentences" in result.stdout
    assert "Cats sleep most of the day." in result.stdout
