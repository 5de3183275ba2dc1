"""How documents are shown: plain text, JSON lines, and the live progress of `--wait`."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

STATUS_STYLE = {
    "done": "green",
    "failed": "red",
    "processing": "cyan",
    "queued": "yellow",
    "uploading": "yellow",
}


@dataclass
class Tracked:
    """One document the command works on: what the API last said, or why it could not."""

    name: str
    document: dict[str, Any] | None = None
    error: str | None = None

    @property
    def status(self) -> str:
        if self.error is not None:
            return "error"
        return str(self.document["status"]) if self.document else "sending"

    def progress_text(self) -> str:
        progress = (self.document or {}).get("progress")
        if self.status == "processing" and progress and progress.get("chunks_total"):
            return f"chunks {progress['chunks_done']}/{progress['chunks_total']}"
        return ""

    def line(self) -> str:
        """One plain line: name, status, progress, reason."""
        parts = [f"{self.name}: {self.status}"]
        if self.progress_text():
            parts.append(self.progress_text())
        reason = self.error or (self.document or {}).get("error")
        if reason:
            parts.append(f"({reason})")
        return " ".join(parts)


def progress_table(tracked: list[Tracked]) -> Table:
    table = Table(box=None, show_header=True, header_style="bold")
    for column in ("document", "status", "progress", ""):
        table.add_column(column)
    for item in tracked:
        progress = (item.document or {}).get("progress") or {}
        bar: ProgressBar | Text = Text("")
        if item.status == "processing" and progress.get("chunks_total"):
            bar = ProgressBar(
                total=progress["chunks_total"], completed=progress["chunks_done"], width=20
            )
        reason = item.error or (item.document or {}).get("error") or ""
        table.add_row(
            Text(item.name),  # Text, not markup: names and reasons are shown as they are
            Text(item.status, style=STATUS_STYLE.get(item.status, "")),
            bar,
            Text(item.progress_text() + ("  " if item.progress_text() else "") + reason),
        )
    return table


def document_table(documents: list[dict[str, Any]]) -> Table:
    table = Table(box=None, show_header=True, header_style="bold")
    for column in ("id", "status", "created", "title"):
        table.add_column(column, no_wrap=column != "title")
    for document in documents:
        status = str(document["status"])
        table.add_row(
            document["id"],
            Text(status, style=STATUS_STYLE.get(status, "")),
            str(document["created_at"])[:19].replace("T", " "),
            Text(document.get("title") or ""),
        )
    return table


def print_json(value: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(value, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def print_document(console: Console, document: dict[str, Any]) -> None:
    title = document.get("title") or "(untitled)"
    status = str(document["status"])
    heading = Text.assemble(
        (str(title), "bold"), f"  {document['id']}  ", (status, STATUS_STYLE.get(status, ""))
    )
    console.print(heading, highlight=False)
    if document.get("error"):
        console.print(Text(f"  {document['error']}"), highlight=False)
    if document.get("method") == "extractive":
        console.print(
            Text("  extractive: the document's own sentences (no model answer was usable)"),
            style="dim",
            highlight=False,
        )
    if document.get("note"):
        console.print(Text(f"  {document['note']}"), style="dim", highlight=False)
    if document.get("summary"):
        console.print(Text(document["summary"]), highlight=False)
    console.print()


def print_sources(console: Console, document: dict[str, Any]) -> None:
    """Each sentence of the summary, then the passages it cites (`text` filled in by the
    caller), with their page where the document has pages."""
    grounding = document.get("grounding") or {}
    if grounding:
        console.print(
            Text(
                f"  {grounding.get('supported')}/{grounding.get('total')} sentences supported, "
                f"lowest support {grounding.get('min_support')}"
            ),
            style="dim",
            highlight=False,
        )
    for number, sentence in enumerate(document.get("sentences") or [], 1):
        console.print(
            Text.assemble((f"[{number}] ", "bold"), sentence["text"], f"  ({sentence['support']})"),
            highlight=False,
        )
        for source in sentence.get("sources") or []:
            where = f"chars {source['start']}-{source['end']}"
            if source.get("page"):
                where = f"p. {source['page']}, {where}"
            passage = " ".join(str(source.get("text", "")).split())
            console.print(Text(f"    {where}: “{passage}”", style="cyan"), highlight=False)
    console.print()


def error(console: Console, message: str) -> None:
    console.print(f"[red]error:[/] {escape(message)}", highlight=False)
