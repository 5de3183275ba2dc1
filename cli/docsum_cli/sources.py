"""What `docsum submit` sends: files (directories walked recursively), web pages by URL (the
service fetches them) or standard input."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

# The types the API reads (it decides from the bytes; the suffix gives the declared type).
MEDIA_TYPES = {
    ".pdf": "application/pdf",
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ".epub": "application/epub+zip",
    ".html": "text/html",
    ".htm": "text/html",
    ".xhtml": "text/html",
    ".md": "text/markdown",
    ".markdown": "text/markdown",
    ".txt": "text/plain",
    ".text": "text/plain",
    ".pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    ".odt": "application/vnd.oasis.opendocument.text",
    ".odp": "application/vnd.oasis.opendocument.presentation",
    ".rtf": "application/rtf",
    ".eml": "message/rfc822",
    # Photos and scans: the API reads them by OCR.
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".tif": "image/tiff",
    ".tiff": "image/tiff",
    ".webp": "image/webp",
}


class SourceError(Exception):
    """A path that cannot be submitted (a usage error: nothing was sent)."""


@dataclass(frozen=True)
class Source:
    """A file (sent as it is; the API extracts its text) or standard input (sent as text)."""

    name: str  # what the user calls it: the path, or <stdin>
    title: str | None
    text: str | None = None
    path: Path | None = None
    url: str | None = None  # a web page: the service fetches it

    @property
    def media_type(self) -> str:
        assert self.path is not None
        return MEDIA_TYPES[self.path.suffix.lower()]


def supported() -> str:
    return ", ".join(MEDIA_TYPES)


def collect(paths: list[str], title: str | None) -> tuple[list[Source], list[str]]:
    """The sources to submit and notes about files skipped inside directories."""
    sources: list[Source] = []
    skipped: list[str] = []
    for name in paths:
        if name == "-":
            sources.append(_stdin(title))
            continue
        if name.lower().startswith(("http://", "https://")):
            sources.append(Source(name, title, url=name))
            continue
        path = Path(name)
        if path.is_dir():
            for found in sorted(p for p in path.rglob("*") if p.is_file()):
                if any(part.startswith(".") for part in found.relative_to(path).parts):
                    continue  # hidden files and folders (.git, .DS_Store, …)
                if found.suffix.lower() in MEDIA_TYPES:
                    sources.append(Source(str(found), title, path=found))
                else:
                    skipped.append(f"skipped {found}: not a supported type ({supported()})")
        elif path.is_file():
            if path.suffix.lower() not in MEDIA_TYPES:
                raise SourceError(f"{path}: file type not supported (supported: {supported()})")
            if path.stat().st_size == 0:
                raise SourceError(f"{path}: empty (nothing to summarize)")
            sources.append(Source(str(path), title, path=path))
        else:
            raise SourceError(f"{path}: no such file or directory")
    if not sources:
        raise SourceError("nothing to submit: no supported files found")
    if title and len(sources) > 1:
        raise SourceError("--title names one document; several were given")
    return sources, skipped


def _stdin(title: str | None) -> Source:
    try:
        text = sys.stdin.buffer.read().decode("utf-8-sig")
    except UnicodeDecodeError:
        raise SourceError("<stdin>: not UTF-8 text") from None
    if not text.strip():
        raise SourceError("<stdin>: empty (nothing to summarize)")
    return Source("<stdin>", title, text=text)
