"""The cursor of an owner's listing: the position (created_at, id) of the last document a page
ended on. 14 hex digits of microseconds since the epoch, then the 32-hex id: every string the
pattern admits is a position, so the API can say exactly what a cursor looks like, and the
owner is never part of it (it is always the caller's own listing)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from docsum.domain.errors import InvalidCursor

CURSOR_PATTERN = r"^[0-9a-f]{46}$"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def encode_cursor(created_at: datetime, document_id: str) -> str:
    return f"{(created_at - _EPOCH) // _MICROSECOND:014x}{document_id}"


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    if not re.fullmatch(CURSOR_PATTERN, cursor):
        raise InvalidCursor("a cursor is 46 lowercase hex characters, as `next_cursor` gives")
    return _EPOCH + int(cursor[:14], 16) * _MICROSECOND, cursor[14:]
