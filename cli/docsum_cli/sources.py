"""What `docsum submit` sends: files (directories walked recursively) or standard input."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

# The API takes text today; each suffix here is read as text and sent as JSON.
TEXT_SUFFIXES = frozenset({".txt", ".text", ".md", ".markdown", ".rst"})


class SourceError(Exception):
    """A path that cannot be submitted (a usage error: nothing was sent)."""


@dataclass(frozen=True)
class Source:
    name: str  # what the user calls it: the path, or "-"
    text: str
    title: str | None


def supported() -> str:
    return ", ".join(sorted(TEXT_SUFFIXES))


def collect(paths: list[str], title: str | None) -> tuple[list[Source], list[str]]:
    """The sources to submit and notes about files skipped inside directories."""
    files: list[Path | None] = []  # None: standard input
    skipped: list[str] = []
    for name in paths:
        if name == "-":
            files.append(None)
            continue
        path = Path(name)
        if path.is_dir():
            for found in sorted(p for p in path.rglob("*") if p.is_file()):
                hidden = any(part.startswith(".") for part in found.relative_to(path).parts)
                if hidden:
                    continue
                if found.suffix.lower() in TEXT_SUFFIXES:
                    files.append(found)
                else:
                    skipped.append(f"skipped {found}: not a supported type ({supported()})")
        elif path.is_file():
            if path.suffix.lower() not in TEXT_SUFFIXES:
                raise SourceError(f"{path}: file type not supported (supported: {supported()})")
            files.append(path)
        else:
            raise SourceError(f"{path}: no such file or directory")
    if not files:
        raise SourceError("nothing to submit: no supported files found")
    if title and len(files) > 1:
        raise SourceError("--title names one document; several were given")
    return [_read(path, title) for path in files], skipped


def _read(path: Path | None, title: str | None) -> Source:
    if path is None:
        data = sys.stdin.buffer.read()
        name = "<stdin>"
    else:
        data = path.read_bytes()
        name = str(path)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise SourceError(f"{name}: not UTF-8 text") from None
    if not text.strip():
        raise SourceError(f"{name}: empty (nothing to summarize)")
    default_title = None if path is None else path.name
    return Source(name=name, text=text, title=title or default_title)
