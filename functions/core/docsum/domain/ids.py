"""A document's identity and where its objects live: content digests, keyed ids, S3 keys."""

from __future__ import annotations

import hashlib
import hmac


def normalize_whitespace(text: str) -> str:
    return " ".join(text.split())


def content_digest(text: str) -> str:
    """SHA-256 of the text with whitespace normalised: the same text, whitespace aside, is the
    same content."""
    return hashlib.sha256(normalize_whitespace(text).encode("utf-8")).hexdigest()


def document_id(secret: bytes, owner: str, digest: str, options_key: str = "") -> str:
    """A keyed hash of (owner, content, options): the same client submitting the same content
    with the same options gets the same id, yet nobody without the secret can derive an id
    from a text. Newlines separate the parts; none of them can contain one."""
    message = "\n".join((owner, digest, options_key)).encode("utf-8")
    return hmac.new(secret, message, hashlib.sha256).hexdigest()[:32]


def text_key(owner: str, digest: str) -> str:
    """Where an owner's text lives in S3: once per (owner, content), whatever the options."""
    return f"documents/{owner}/{digest}.txt"


def url_digest(url: str) -> str:
    """A web page's identity: its URL as given (a page's content changes; its address is what
    the client names). Prefixed so no text or file can share its digest."""
    return hashlib.sha256(f"url\n{url}".encode()).hexdigest()


def bytes_digest(data: bytes) -> str:
    """A file's content digest: the SHA-256 of its bytes exactly as submitted."""
    return hashlib.sha256(data).hexdigest()


def original_key(owner: str, digest: str) -> str:
    """Where a file sent with the request is kept as it came: once per (owner, content)."""
    return f"originals/{owner}/{digest}"


PAGES_PREFIX = "pages/"


def page_key(token: str) -> str:
    """Where the fetch function leaves a page for the worker to read (once, then deleted; the
    bucket's lifecycle removes what a crash left within a day). Only this prefix is the fetch
    function's to write."""
    return f"{PAGES_PREFIX}{token}"
