"""What a summary should look like: its length, format and language (`SummaryOptions`)."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class SummaryLength(StrEnum):
    SHORT = "short"
    MEDIUM = "medium"
    LONG = "long"


class SummaryFormat(StrEnum):
    PARAGRAPH = "paragraph"
    BULLETS = "bullets"


LENGTH_CHARS = {SummaryLength.SHORT: 400, SummaryLength.MEDIUM: 900, SummaryLength.LONG: 1500}
# Languages a summary can be asked for: the prompts name them, the guard knows their refusals
# and the detector (docsum.summary.language) knows them all. `auto`: the document's own language.
LANGUAGE_NAMES = {
    "en": "English",
    "de": "German",
    "fr": "French",
    "es": "Spanish",
    "it": "Italian",
    "pt": "Portuguese",
    "nl": "Dutch",
}
SummaryLanguage = Literal["auto", "en", "de", "fr", "es", "it", "pt", "nl"]


class SummaryOptions(BaseModel):
    """What a summary should look like. Part of a document's identity: the same text with
    other options is another document (with its own summary; the text is stored once)."""

    model_config = ConfigDict(frozen=True)

    length: SummaryLength = Field(
        default=SummaryLength.LONG,
        description="Budget of the summary: short ≤ 400, medium ≤ 900, long ≤ 1,500 characters",
    )
    format: SummaryFormat = Field(
        default=SummaryFormat.PARAGRAPH,
        description="paragraph: plain prose; bullets: 3-8 lines, each `- ` and a sentence",
    )
    language: SummaryLanguage = Field(
        default="auto",
        description="Language of the summary (ISO 639-1); auto: the document's own language",
    )

    @property
    def key(self) -> str:
        """Stable text form, part of the document id; empty for the defaults, so documents
        made before there were options keep their ids."""
        if self == SummaryOptions():
            return ""
        return f"{self.length.value}|{self.format.value}|{self.language}"

    def budget(self, max_chars: int) -> int:
        """Characters the stored summary may have: never above `SUMMARY_MAX_CHARS`."""
        return min(LENGTH_CHARS[self.length], max_chars)

    def options(self) -> SummaryOptions:
        """Just the options (of a request body that extends this model with more fields)."""
        return SummaryOptions(length=self.length, format=self.format, language=self.language)
