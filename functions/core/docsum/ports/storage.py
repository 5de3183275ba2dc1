"""Object storage: the texts and original files (S3), and the presigned uploads."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


class TextStore(Protocol):
    def put_text(self, key: str, text: str) -> None: ...

    def get_text(self, key: str) -> str:
        """Raises `TextMissing` when the object does not exist."""
        ...

    def delete(self, key: str) -> None:
        """Remove the object, every stored version of it included; absent is fine."""
        ...

    def put_bytes(self, key: str, data: bytes, content_type: str) -> None: ...

    def get_bytes(self, key: str, max_bytes: int, version: str | None = None) -> bytes:
        """The object (that `version` of it, when given). Raises `TextMissing` when it does
        not exist and `FileTooLarge` (before reading it) when it has more than `max_bytes`."""
        ...

    def delete_version(self, key: str, version: str) -> None:
        """Remove one version of the object (a later post to a single-use upload)."""
        ...


@dataclass(frozen=True)
class PresignedPost:
    """A browser-style S3 POST: send `fields` and then the file as form data to `url`."""

    url: str
    fields: dict[str, str]


class UploadSigner(Protocol):
    def presign_post(
        self, key: str, content_type: str, max_bytes: int, expires_in: int
    ) -> PresignedPost:
        """An upload of exactly this key whose policy admits 1..`max_bytes` bytes of
        `content_type`, valid for `expires_in` seconds."""
        ...
