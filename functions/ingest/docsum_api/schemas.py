"""What goes over the wire: request and response bodies of the HTTP API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from docsum.domain.document import CALLBACK_URL_MAX_CHARS, CallbackUrlField
from docsum.domain.files import MEDIA_TYPES
from docsum.domain.options import LANGUAGE_NAMES, SummaryFormat, SummaryLength, SummaryOptions
from docsum.domain.views import DocumentOut
from docsum.extract.decode import is_blank
from pydantic import BaseModel, ConfigDict, Field, StrictStr, field_validator, model_validator

__all__ = ["DocumentIn", "DocumentList", "DocumentOut", "Health", "Readiness"]

# A web page instead of text: checked by the service (the callbacks' address policy) and again,
# with every redirect, when the worker fetches it.
PageUrlField = Annotated[
    StrictStr | None,
    Field(
        default=None,
        min_length=1,
        max_length=CALLBACK_URL_MAX_CHARS,
        description=(
            "A web page to fetch and summarize instead of `text`: https, public addresses only "
            "(redirects too); HTML (its main text), PDF or any supported type; at most "
            "PAGE_MAX_BYTES within PAGE_TIMEOUT_SECONDS"
        ),
        examples=["https://example.org/article"],
    ),
]


class DocumentIn(SummaryOptions):
    """The text (or a web page's `url`), its title, and the summary options (`length`,
    `format`, `language`)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"text": "The quick brown fox jumps over the lazy dog.", "title": "Fox"},
                {"text": "…", "length": "short", "format": "bullets", "language": "de"},
                {"url": "https://example.org/article", "length": "medium"},
            ]
        }
    )

    text: StrictStr | None = Field(
        default=None,
        min_length=1,
        description=(
            "The document; whitespace or invisible characters only: 422. Send `text` or `url`"
        ),
    )
    url: PageUrlField = None
    # The length limit is the domain's (MAX_TITLE_CHARS), checked by the service.
    title: StrictStr | None = Field(default=None, description="At most MAX_TITLE_CHARS characters")
    callback_url: CallbackUrlField = None

    @field_validator("text")
    @classmethod
    def _not_blank(cls, value: str | None) -> str | None:
        if value is not None and is_blank(value):  # zero-width and other invisible characters too
            raise ValueError("text must contain visible characters")
        return value

    @model_validator(mode="after")
    def _text_or_url(self) -> DocumentIn:
        if (self.text is None) == (self.url is None):
            raise ValueError("send either `text` or `url`, not both and not neither")
        return self


# `multipart/form-data` of `POST /documents`, for the spec only (the route reads the form
# itself, see dependencies): a file or a text field (the file wins when both come), and the
# other fields the JSON body accepts. Multipart has no null: absent fields are not sent.
# Any other field is a 422 naming it.
DOCUMENT_FILE_FORM: dict[str, Any] = {
    "title": "DocumentFileForm",
    "type": "object",
    "properties": {
        "file": {
            "type": "string",
            "format": "binary",
            "description": "The file: PDF, DOCX, EPUB, PPTX, ODT, ODP, RTF, e-mail (.eml), "
            "HTML, Markdown or plain text (decided from its bytes); at most "
            "MAX_DIRECT_UPLOAD_BYTES, larger ones through /uploads",
        },
        "text": {
            "type": "string",
            "minLength": 1,
            "description": "Text instead of a file (ignored when a file is sent)",
        },
        "url": {
            "type": "string",
            "minLength": 1,
            "maxLength": CALLBACK_URL_MAX_CHARS,
            "description": "A web page instead of a file (a form with a file and a url is a 422)",
        },
        "title": {"type": "string", "description": "At most MAX_TITLE_CHARS characters"},
        "length": {"type": "string", "enum": [v.value for v in SummaryLength]},
        "format": {"type": "string", "enum": [v.value for v in SummaryFormat]},
        "language": {"type": "string", "enum": ["auto", *LANGUAGE_NAMES]},
        "callback_url": {
            "type": "string",
            "minLength": 1,
            "maxLength": CALLBACK_URL_MAX_CHARS,
            "description": DocumentIn.model_fields["callback_url"].description,
        },
    },
    # "A file or a text field" is the route's 422, not an `anyOf`: a fuzzer negating one branch
    # of an anyOf takes a form with a file but no text for invalid, and the route accepts it.
    "description": "A file part, or a text or url field: a form with none is a 422",
    "additionalProperties": False,  # other fields are refused (422), not ignored
}


class FileFields(SummaryOptions):
    """The form fields that come with a file (everything but the file itself)."""

    title: StrictStr | None = None
    callback_url: CallbackUrlField = None


class UploadIn(SummaryOptions):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"filename": "report.pdf", "content_type": "application/pdf", "size": 1}]
        }
    )

    filename: StrictStr = Field(min_length=1, max_length=255)
    # A string, not an enum, in the model: an unsupported type is answered 415 naming the
    # supported ones; the spec lists them.
    content_type: StrictStr = Field(
        min_length=1,
        max_length=255,
        description="The file's media type; the upload must match",
        json_schema_extra={"enum": list(MEDIA_TYPES.values())},
    )
    # JSON has one number type: 2048.0 is a valid integer there.
    size: int = Field(ge=1, description="Bytes; at most MAX_UPLOAD_BYTES")
    title: StrictStr | None = Field(default=None, description="At most MAX_TITLE_CHARS characters")
    callback_url: CallbackUrlField = None


class PresignedPostOut(BaseModel):
    url: str = Field(description="POST the file here as multipart/form-data")
    fields: dict[str, str] = Field(description="Form fields to send before the file part")


class UploadOut(BaseModel):
    id: str
    location: str = Field(description="Where the document's status can be read")
    upload: PresignedPostOut
    expires_at: datetime = Field(description="The upload must be sent before this time")


def request_body_schemas() -> dict[str, dict[str, Any]]:
    """Component schemas of the bodies `POST /documents` reads itself (JSON or a form)."""
    document_in = DocumentIn.model_json_schema(ref_template="#/components/schemas/{model}")
    nested = document_in.pop("$defs", {})  # the option enums: components of their own
    return {"DocumentIn": document_in, "DocumentFileForm": DOCUMENT_FILE_FORM, **nested}


class DocumentList(BaseModel):
    items: list[DocumentOut] = Field(description="The caller's documents, newest first")
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null on the last page"
    )


class Health(BaseModel):
    status: str = "ok"


class Readiness(BaseModel):
    status: str = Field(description="ok: every AWS dependency answers")
    checks: dict[str, str] = Field(description="Each dependency: ok, or what failed")
