"""E-mail (.eml, RFC 5322 / MIME) → text with the standard library's `email` package.

The subject is the title; the body is the plain-text part, else the HTML part through the HTML
main-text path; then each attachment of a supported type is appended under an
`Attachment: NAME` heading, extracted by its own format's path within the same limits (the
deadline and text length are shared with the body). An attachment that is unsupported or
unreadable is left out (the body alone still makes a summary); attached e-mails
(message/rfc822) are not opened, so a mail in a mail cannot nest the work. `.msg` (Outlook) is
not read: its one maintained reader, extract-msg, brings an RTF decompiler, a grammar engine
and an OLE reader into the function for a format Outlook also exports as .eml.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import TYPE_CHECKING

from docsum.domain.errors import DocsumError
from docsum.domain.files import FileKind
from docsum.extract.decode import decode_text
from docsum.extract.html import html_text
from docsum.extract.limits import (
    Extracted,
    ExtractionDeadline,
    ExtractionFailed,
    ExtractionLimits,
    collect,
)

if TYPE_CHECKING:  # `email.message` costs ~0.1-0.4 s to import: only with an e-mail
    from email.message import EmailMessage, MIMEPart

MAX_ATTACHMENTS = 20
MAX_PARTS = 500  # MIME parts walked in one message
_HEADER_LINE = re.compile(rb"^([!-9;-~]+):[ \t]?", re.M)
# Headers nearly every message has and plain text almost never starts with.
_MAIL_HEADERS = frozenset(
    {b"from", b"to", b"subject", b"date", b"message-id", b"mime-version", b"received",
     b"return-path", b"reply-to", b"cc", b"content-type", b"delivered-to", b"x-mailer"}
)  # fmt: skip


def is_email(data: bytes) -> bool:
    """The bytes open with a header block (every line `Name: value` or a folded continuation,
    up to the blank line) that has a From and at least two other mail headers."""
    head = data[:16384].replace(b"\r\n", b"\n")
    block, blank, _ = head.partition(b"\n\n")
    if not blank:
        return False
    names: set[bytes] = set()
    for line in block.split(b"\n"):
        if line[:1] in (b" ", b"\t") and names:
            continue  # a folded header's continuation
        match = _HEADER_LINE.match(line)
        if match is None:
            return False
        names.add(match.group(1).lower())
    return b"from" in names and len(names & _MAIL_HEADERS) >= 3


# Reads one attachment by its own format (the dispatch gives it, so this module needs neither
# the dispatch nor the detection: they import this one). Raises a DocsumError for a file it
# leaves out (an unsupported type, an image, an e-mail, a file that yields no text).
AttachmentReader = Callable[[bytes, str | None, str, ExtractionLimits], Extracted]


def read_eml(
    data: bytes,
    limits: ExtractionLimits,
    deadline: ExtractionDeadline,
    *,
    read_attachment: AttachmentReader,
) -> Extracted:
    import email
    from email import policy
    from email.message import EmailMessage

    message = email.message_from_bytes(data, policy=policy.default)
    deadline.check("e-mail")
    if not isinstance(message, EmailMessage):  # what policy.default always builds
        raise ExtractionFailed("the e-mail could not be parsed")
    parts = sum(1 for _ in message.walk())
    if parts > MAX_PARTS:
        raise ExtractionFailed(f"the e-mail has {parts} MIME parts; at most {MAX_PARTS}")
    subject = str(message.get("subject", "") or "").strip() or None

    def blocks() -> Iterator[str]:
        body = _body(message, limits)
        if body:
            yield body
        for name, text in _attachments(message, limits, deadline, read_attachment):
            yield f"Attachment: {name}\n\n{text}"

    text = collect(blocks(), limits, deadline, "e-mail")
    if not text.strip():
        raise ExtractionFailed("the e-mail has no text: no readable body or attachment")
    return Extracted(text=text, kind=FileKind.EML, title=subject)


def _body(message: EmailMessage, limits: ExtractionLimits) -> str:
    part = message.get_body(preferencelist=("plain", "html"))
    if part is None:
        return ""
    content = _content(part)
    if part.get_content_subtype() != "html":
        return content
    return html_text(content, limits, "e-mail's HTML body")[0]


def _content(part: MIMEPart) -> str:
    """The part's text in its declared charset; an unknown or wrong charset is detected instead."""
    try:
        content = part.get_content()
        if isinstance(content, str):
            return content
    except (LookupError, UnicodeError, ValueError, KeyError):
        pass
    payload = part.get_payload(decode=True)
    return decode_text(payload) if isinstance(payload, bytes) and payload else ""


def _attachments(
    message: EmailMessage,
    limits: ExtractionLimits,
    deadline: ExtractionDeadline,
    read_attachment: AttachmentReader,
) -> Iterator[tuple[str, str]]:
    from docsum.platform.observability import logger

    read = 0
    for part in message.iter_attachments():
        if read >= MAX_ATTACHMENTS:
            logger.info("e-mail attachments past the limit left out", extra={"limit": read})
            return
        if part.get_content_maintype() in ("multipart", "message"):
            continue
        data = part.get_payload(decode=True)
        if not isinstance(data, bytes) or not data:
            continue
        name = part.get_filename() or f"attachment {read + 1}"
        deadline.check("e-mail attachments")
        remaining = replace(limits, deadline_seconds=max(deadline.remaining(), 0.0))
        try:
            extracted = read_attachment(
                data, part.get_filename(), part.get_content_type(), remaining
            )
        except DocsumError as exc:
            logger.info(
                "e-mail attachment left out", extra={"attachment": name, "reason": str(exc)}
            )
            continue
        read += 1
        yield name, extracted.text
