"""The `docsum` commands. Exit codes: 0 all done, 1 a document failed, 2 usage error, 3 API or
network error (including a `--wait` that ran out of time)."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from functools import wraps
from typing import Any

import click
from rich.console import Console
from rich.live import Live

from docsum_cli.api import TERMINAL, ApiError, DocsumApi
from docsum_cli.config import ConfigError, resolve
from docsum_cli.display import (
    Tracked,
    document_table,
    error,
    print_document,
    print_json,
    print_sources,
    progress_table,
)
from docsum_cli.sources import SourceError, collect

OK, DOCUMENT_FAILED, API_ERROR = 0, 1, 3  # 2, a usage error, is click's own exit code
POLL_SECONDS = 1.0


class Session:
    """What every command needs: the API, how to print, whether output is JSON."""

    def __init__(self, api_url: str | None, token: str | None, as_json: bool) -> None:
        self.as_json = as_json
        # soft_wrap: lines are never cut to a width (pipes get them whole; terminals wrap).
        self.out = Console(soft_wrap=True)
        self.err = Console(stderr=True, soft_wrap=True)
        try:
            self.config = resolve(api_url, token)
        except ConfigError as exc:
            raise click.UsageError(str(exc)) from None

    def api(self) -> DocsumApi:
        return DocsumApi(self.config, on_wait=self.note)

    def note(self, message: str) -> None:
        self.err.print(message, highlight=False, markup=False)

    @property
    def animated(self) -> bool:
        return not self.as_json and self.out.is_terminal

    def report(self, items: list[Tracked], sources: bool = False) -> int:
        """Print each document (JSON line or text), with `sources` each summary sentence's
        cited passages; the exit code they add up to."""
        for item in items:
            if item.error is not None:
                error(self.err, f"{item.name}: {item.error}")
                if self.as_json:
                    print_json({"source": item.name, "error": item.error})
            elif item.document is not None:
                if self.as_json:
                    print_json(item.document)
                else:
                    print_document(self.out, item.document)
                    if sources:
                        print_sources(self.out, item.document)
        return exit_code(items)


def exit_code(items: list[Tracked]) -> int:
    if any(item.error is not None for item in items):
        return API_ERROR
    if any(item.status == "failed" for item in items):
        return DOCUMENT_FAILED
    return OK


def common[**P](command: Callable[P, int]) -> Callable[..., None]:
    """--api-url, --token and --json on every command; the return value is the exit code."""

    @click.option("--api-url", help="Base URL of the API.")
    @click.option("--token", help="Bearer token.")
    @click.option("--json", "as_json", is_flag=True, help="One JSON object per document.")
    @wraps(command)
    def wrapper(api_url: str | None, token: str | None, as_json: bool, **kwargs: Any) -> None:
        session = Session(api_url, token, as_json)
        sys.exit(command(session, **kwargs))  # type: ignore[arg-type]

    return wrapper


def wait_for(session: Session, api: DocsumApi, items: list[Tracked], timeout: float) -> None:
    """Poll until every document is done or failed, showing progress (live on a terminal,
    a line per change otherwise)."""
    deadline = time.monotonic() + timeout
    shown: dict[str, str] = {}
    refused: set[str] = set()  # polls the API answered about the document itself (a 404)

    def pending() -> list[Tracked]:
        return [
            i
            for i in items
            if i.document is not None
            and i.document["status"] not in TERMINAL
            and i.name not in refused
        ]

    def refresh() -> None:
        for item in pending():
            try:
                item.document = api.get(item.document["id"])  # type: ignore[index]
                item.error = None  # a poll lost to the network or a 5xx is not the outcome
            except ApiError as exc:
                item.error = str(exc)
                if exc.status is not None and exc.status < 500:
                    refused.add(item.name)

    def print_changes() -> None:
        for item in items:
            if shown.get(item.name) != item.line():
                shown[item.name] = item.line()
                session.note(item.line())

    def timed_out() -> bool:
        if time.monotonic() < deadline:
            return False
        for item in pending():
            last = f"; last poll: {item.error}" if item.error else ""
            item.error = f"still {item.document['status']} after {timeout:.0f} s{last}"  # type: ignore[index]
        return True

    if session.animated:
        with Live(progress_table(items), console=session.out, auto_refresh=False) as live:
            while pending() and not timed_out():
                time.sleep(POLL_SECONDS)
                refresh()
                live.update(progress_table(items), refresh=True)
        return
    print_changes()
    while pending() and not timed_out():
        time.sleep(POLL_SECONDS)
        refresh()
        print_changes()


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="docsum", prog_name="docsum")
def cli() -> None:
    """Summarize documents with a docsum API.

    The API is --api-url, else DOCSUM_API_URL, else the running `make up`
    (.local-stack/stack.json here or in a parent directory); the token likewise
    (--token, DOCSUM_TOKEN, the stack's token).

    Exit codes: 0 all done, 1 a document failed, 2 usage error, 3 API or network error.
    """


wait_option = click.option("--wait", is_flag=True, help="Show progress until done or failed.")
timeout_option = click.option(
    "--timeout", default=900.0, show_default=True, help="Seconds --wait waits at most."
)


@cli.command()
@click.argument("paths", nargs=-1, required=True)
@click.option("--title", help="Title of the document (one document only).")
@click.option(
    "--length", type=click.Choice(["short", "medium", "long"]), help="Summary length [long]."
)
@click.option(
    "--format",
    "summary_format",
    type=click.Choice(["paragraph", "bullets"]),
    help="Summary format [paragraph].",
)
@click.option("--language", help="Summary language: auto or an ISO 639-1 code (en, de, …).")
@click.option(
    "--callback-url", help="https URL that gets a signed POST when each document is done or failed."
)
@wait_option
@timeout_option
@common
def submit(
    session: Session,
    paths: tuple[str, ...],
    title: str | None,
    length: str | None,
    summary_format: str | None,
    language: str | None,
    callback_url: str | None,
    wait: bool,
    timeout: float,
) -> int:
    """Submit files, directories (recursively), web pages (http:// or https:// URLs: the
    service fetches them) or - for standard input."""
    chosen = {
        "length": length,
        "format": summary_format,
        "language": language,
        "callback_url": callback_url,
    }
    options = {name: value for name, value in chosen.items() if value}
    try:
        sources, skipped = collect(list(paths), title)
    except SourceError as exc:
        raise click.UsageError(str(exc)) from None
    for note in skipped:
        session.note(note)
    items = [Tracked(source.name) for source in sources]
    with session.api() as api:
        for source, item in zip(sources, items, strict=True):
            try:
                if source.url is not None:
                    item.document, _ = api.submit_url(source.url, source.title, options)
                elif source.path is not None:
                    item.document, _ = api.submit_file(
                        source.path, source.media_type, source.title, options
                    )
                else:
                    item.document, _ = api.submit_text(source.text or "", source.title, options)
            except ApiError as exc:
                item.error = str(exc)
        if wait:
            wait_for(session, api, items, timeout)
    return session.report(items)


@cli.command()
@click.argument("document_ids", nargs=-1, required=True)
@click.option(
    "--sources", is_flag=True, help="Each summary sentence with the passage(s) it comes from."
)
@wait_option
@timeout_option
@common
def get(
    session: Session, document_ids: tuple[str, ...], sources: bool, wait: bool, timeout: float
) -> int:
    """Show documents: status, summary, error."""
    return _each_document(session, document_ids, "get", wait, timeout, sources)


@cli.command()
@click.argument("document_ids", nargs=-1, required=True)
@wait_option
@timeout_option
@common
def resummarize(session: Session, document_ids: tuple[str, ...], wait: bool, timeout: float) -> int:
    """Summarize documents again (the current summary stays readable meanwhile)."""
    return _each_document(session, document_ids, "resummarize", wait, timeout)


def _each_document(
    session: Session,
    document_ids: tuple[str, ...],
    call: str,
    wait: bool,
    timeout: float,
    sources: bool = False,
) -> int:
    """`api.<call>(id)` for each document, then (with --wait) until each has finished; with
    `sources`, the text of every passage the summary cites (`GET /documents/{id}/text`)."""
    items = [Tracked(document_id) for document_id in document_ids]
    with session.api() as api:
        for item in items:
            try:
                item.document = getattr(api, call)(item.name)
            except ApiError as exc:
                item.error = str(exc)
        if wait:
            wait_for(session, api, items, timeout)
        if sources:
            for item in items:
                _fill_sources(api, item)
    return session.report(items, sources)


def _fill_sources(api: DocsumApi, item: Tracked) -> None:
    """Each cited span of `item`'s summary gets its `text`, read through the public API."""
    document = item.document or {}
    try:
        for sentence in document.get("sentences") or []:
            for source in sentence.get("sources") or []:
                source["text"] = api.text(document["id"], source["start"], source["end"])
    except ApiError as exc:
        item.error = str(exc)


@cli.command(name="list")
@click.option(
    "--status",
    type=click.Choice(["uploading", "queued", "processing", "done", "failed"]),
    help="Only documents in this status.",
)
@click.option("--limit", default=20, show_default=True, type=click.IntRange(min=1))
@click.option("--all", "everything", is_flag=True, help="Every document (ignores --limit).")
@common
def list_documents(session: Session, status: str | None, limit: int, everything: bool) -> int:
    """Your documents, newest first."""
    found: list[dict[str, Any]] = []
    cursor: str | None = None
    with session.api() as api:
        try:
            while everything or len(found) < limit:
                page_size = 100 if everything else min(100, limit - len(found))
                items, cursor = api.list_page(page_size, cursor, status)
                found.extend(items)
                if not cursor:
                    break
        except ApiError as exc:
            error(session.err, str(exc))
            return API_ERROR
    if session.as_json:
        for document in found:
            print_json(document)
    else:
        session.out.print(document_table(found))
    if cursor and not everything:
        session.err.print("more documents: --limit N or --all", highlight=False)
    return OK


@cli.command()
@click.argument("document_ids", nargs=-1, required=True)
@common
def delete(session: Session, document_ids: tuple[str, ...]) -> int:
    """Delete documents: record, stored text, original file and summary."""
    code = OK
    with session.api() as api:
        for document_id in document_ids:
            try:
                api.delete(document_id)
            except ApiError as exc:
                error(session.err, f"{document_id}: {exc}")
                code = API_ERROR
                continue
            if session.as_json:
                print_json({"id": document_id, "deleted": True})
            else:
                session.out.print(f"deleted {document_id}", highlight=False)
    return code


def main() -> None:
    cli(prog_name="docsum")
