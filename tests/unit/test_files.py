"""Files end to end on the in-memory fakes: direct upload, presigned upload and its S3 event,
extraction in the worker and every way a file ends `failed` (never stuck, never retried)."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from docsum.domain.document import Status
from docsum.domain.errors import FileTooLarge
from docsum.domain.files import MEDIA_TYPES, FileKind
from docsum.domain.views import DocumentOut
from docsum.extract.kinds import UnsupportedFileType
from docsum.intake.submission import Submission
from docsum.platform.delivery import Delivery
from docsum.platform.settings import Settings
from docsum.worker.outcomes import Outcome

from tests import files
from tests.conftest import Fakes


def deliver_last(fakes: Fakes) -> Outcome:
    body = fakes.queue.sent[-1].model_dump_json()
    return fakes.worker.process(Delivery(body, 1, "rh-1"), lease_seconds=60)


def s3_event(key: str, size: int, version: str | None = None) -> str:
    """The body S3 sends to SQS for an arrived object (keys URL-encoded)."""
    stored: dict[str, object] = {"key": key, "size": size}
    if version is not None:
        stored["versionId"] = version
    record = {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "eventName": "ObjectCreated:Post",
        "s3": {"bucket": {"name": "docs"}, "object": stored},
    }
    return json.dumps({"Records": [record]})


def arrive(fakes: Fakes, key: str, data: bytes) -> Outcome:
    fakes.store.files[key] = data
    return fakes.consumer.consume(Delivery(s3_event(key, len(data)), 1, "rh-s3"), lease_seconds=60)


def post(fakes: Fakes, key: str, data: bytes) -> Outcome:
    """A file posted to an upload form: a new S3 version, and its event."""
    event = s3_event(key, len(data), fakes.store.post(key, data))
    return fakes.consumer.consume(Delivery(event, 1, "rh-s3"), lease_seconds=60)


def test_direct_pdf_is_stored_as_it_came_and_extracted_by_the_worker(fakes: Fakes) -> None:
    data = files.pdf(["Page one about the Moon.", "Page two about tides."], title="Lunar notes")
    submission = fakes.service.submit_file(data, "moon.pdf", "application/pdf", Submission("req-1"))

    doc = submission.document
    assert submission.created
    assert doc.status is Status.QUEUED
    assert doc.source is not None
    assert (doc.source.kind, doc.source.filename, doc.source.bytes) == (
        "pdf",
        "moon.pdf",
        len(data),
    )
    assert doc.original_key is not None
    assert fakes.store.files[doc.original_key] == data
    assert deliver_last(fakes) is Outcome.DONE

    done = fakes.repository.items[doc.id]
    assert done.status is Status.DONE
    assert done.title == "Lunar notes"  # the file's own title
    assert done.source is not None
    assert done.source.pages == 2
    assert "Page two about tides." in fakes.store.objects[done.text_key]
    assert done.text_chars == len(fakes.store.objects[done.text_key])
    assert "Page one about the Moon." in fakes.llm.calls[0].user


def test_a_pdf_records_its_page_map_and_how_its_text_was_obtained(fakes: Fakes) -> None:
    data = files.scanned_pdf([("Page one about the Moon.", False), ("Page two on tides.", True)])
    doc = fakes.service.submit_file(data, "mixed.pdf", None, Submission("r")).document
    assert deliver_last(fakes) is Outcome.DONE
    done = fakes.repository.items[doc.id]
    text = fakes.store.objects[done.text_key]
    assert done.source is not None
    assert done.source.page_starts is not None
    assert [text[start:].split("\n")[0] for start in done.source.page_starts] == [
        "Page one about the Moon.",
        "Page two on tides.",
    ]
    shown = DocumentOut.of(done).model_dump()
    assert shown["extraction"]["method"] == "mixed"
    assert (shown["extraction"]["pages"], shown["extraction"]["ocr_pages"]) == (2, 1)
    assert 0.5 < shown["extraction"]["confidence"] <= 1
    assert "extraction" not in shown["source"]  # shown once, beside the source
    assert "page_starts" not in shown["source"]  # internal: the summary's citations name pages


def test_a_photo_uploaded_through_s3_is_read_by_ocr(fakes: Fakes) -> None:
    doc = fakes.service.create_upload("page.png", "image/png", 900_000, Submission("r")).document
    photo = files.image_file([files.PARAGRAPH], "png")
    assert arrive(fakes, f"uploads/{doc.id}", photo) is Outcome.DONE
    done = fakes.repository.items[doc.id]
    assert done.source is not None
    assert (done.source.kind, done.source.pages) == ("png", 1)
    assert done.source.extraction is not None
    assert (done.source.extraction.method, done.source.extraction.ocr_pages) == ("ocr", 1)
    assert "natural satellite" in fakes.llm.calls[0].user


def test_same_bytes_again_is_the_same_document_and_no_new_llm_call(fakes: Fakes) -> None:
    data = files.docx(["A paragraph worth summarizing."])
    first = fakes.service.submit_file(data, "a.docx", None, Submission("r1")).document
    deliver_last(fakes)
    again = fakes.service.submit_file(data, "renamed.docx", None, Submission("r2", title="Other"))

    assert not again.created
    assert again.document.id == first.id
    assert len(fakes.queue.sent) == 1
    assert len(fakes.llm.calls) == 1


def test_title_falls_back_to_the_file_name_and_a_given_title_wins(fakes: Fakes) -> None:
    plain = fakes.service.submit_file(b"Notes about tides.", "tides.txt", None, Submission("r"))
    deliver_last(fakes)
    titled = fakes.service.submit_file(
        files.pdf(title="Meta"), "m.pdf", None, Submission("r", title="Mine")
    )
    deliver_last(fakes)
    assert fakes.repository.items[plain.document.id].title == "tides.txt"
    assert fakes.repository.items[titled.document.id].title == "Mine"


def test_unsupported_direct_upload_is_refused_before_anything_is_stored(fakes: Fakes) -> None:
    with pytest.raises(UnsupportedFileType, match="image/gif"):
        fakes.service.submit_file(files.png("GIF"), "scan.pdf", "application/pdf", Submission("r"))
    assert not fakes.store.files
    assert not fakes.repository.items


def test_direct_upload_over_the_api_limit_names_the_setting(
    fakes: Fakes, settings: Settings
) -> None:
    data = b"x" * (settings.max_direct_upload_bytes + 1)
    with pytest.raises(FileTooLarge, match="MAX_DIRECT_UPLOAD_BYTES"):
        fakes.service.submit_file(data, "big.txt", None, Submission("r"))


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (files.pdf(image_only=True), "no text found in the document"),
        (files.png(), "no text found in the document"),
        (files.pdf(user_password="pw"), "password-protected"),
        (files.pdf([files.PARAGRAPH] * 3)[:900], "damaged or truncated"),
    ],
)
def test_unreadable_files_end_failed_with_the_reason_and_no_retry(
    fakes: Fakes, data: bytes, reason: str
) -> None:
    doc = fakes.service.submit_file(data, "f.pdf", None, Submission("r")).document
    assert deliver_last(fakes) is Outcome.FAILED
    failed = fakes.repository.items[doc.id]
    assert failed.status is Status.FAILED
    assert reason in (failed.error or "")
    assert not fakes.queue.retries
    assert not fakes.llm.calls


def test_text_longer_than_the_limit_fails_naming_it(fakes: Fakes, settings: Settings) -> None:
    data = ("word " * (settings.max_document_chars // 4)).encode()
    doc = fakes.service.submit_file(data, "long.txt", None, Submission("r")).document
    assert deliver_last(fakes) is Outcome.FAILED
    assert "MAX_DOCUMENT_CHARS" in (fakes.repository.items[doc.id].error or "")


def test_presigned_upload_then_its_s3_event_runs_the_document_to_done(fakes: Fakes) -> None:
    upload = fakes.service.create_upload("big.pdf", "application/pdf", 90_000, Submission("req-u"))

    doc = upload.document
    assert doc.status is Status.UPLOADING
    assert doc.original_key == f"uploads/{doc.id}"
    [(key, content_type, max_bytes, _)] = fakes.store.presigned
    assert (key, content_type, max_bytes) == (doc.original_key, "application/pdf", 90_000)
    assert not fakes.queue.sent  # nothing happens until the file arrives

    assert arrive(fakes, doc.original_key, files.pdf(["Uploaded."] * 3)) is Outcome.DONE
    done = fakes.repository.items[doc.id]
    assert (done.status, done.expires_at) == (Status.DONE, None)
    assert done.source is not None
    assert done.source.pages == 3
    assert done.title == "big.pdf"

    # S3 may deliver the event twice: the second is consumed without an LLM call.
    assert arrive(fakes, doc.original_key, files.pdf(["Uploaded."] * 3)) is Outcome.DUPLICATE
    assert len(fakes.llm.calls) == 1


def test_an_upload_form_counts_once(fakes: Fakes) -> None:
    """A presigned POST can be replayed until it expires: only the first file is read, a
    later one is deleted, and one posted after DELETE is deleted too (no orphan)."""
    upload = fakes.service.create_upload("a.pdf", "application/pdf", 90_000, Submission("r"))
    doc = upload.document
    key = doc.original_key
    assert key is not None
    assert post(fakes, key, files.pdf(["The first file about tides."])) is Outcome.DONE
    first = fakes.store.files[key]
    assert post(fakes, key, files.pdf(["A second file, replayed."])) is Outcome.IGNORED
    assert fakes.store.files[key] == first  # the later version is gone
    assert len(fakes.store.file_versions) == 1
    assert len(fakes.llm.calls) == 1

    fakes.service.delete(doc.id)
    assert key not in fakes.store.files
    assert post(fakes, key, files.pdf(["Posted after the delete."])) is Outcome.IGNORED
    assert key not in fakes.store.files


def test_the_first_file_is_read_even_when_a_later_one_landed_before_the_worker(
    fakes: Fakes,
) -> None:
    upload = fakes.service.create_upload("a.pdf", "application/pdf", 90_000, Submission("r"))
    doc = upload.document
    key = doc.original_key
    assert key is not None
    first = fakes.store.post(key, files.pdf(["The first file about tides."]))
    fakes.store.post(key, files.pdf(["The replayed file about volcanoes."]))  # now current
    event = s3_event(key, 100, first)
    assert fakes.consumer.consume(Delivery(event, 1, "rh"), 60) is Outcome.DONE
    assert "tides" in fakes.store.objects[doc.text_key]


def test_s3_test_event_and_unknown_uploads_are_consumed(fakes: Fakes) -> None:
    test_event = json.dumps({"Service": "Amazon S3", "Event": "s3:TestEvent"})
    assert fakes.consumer.consume(Delivery(test_event, 1, "rh"), 60) is Outcome.IGNORED
    assert arrive(fakes, "uploads/" + "0" * 32, b"text") is Outcome.IGNORED
    assert arrive(fakes, "elsewhere/x", b"text") is Outcome.IGNORED
    assert not fakes.queue.dead_letters


def test_an_upload_that_is_not_what_was_declared_fails_saying_so(fakes: Fakes) -> None:
    doc = fakes.service.create_upload(
        "a.docx", MEDIA_TYPES[FileKind.DOCX], 5000, Submission("r")
    ).document
    assert arrive(fakes, f"uploads/{doc.id}", files.pdf()) is Outcome.FAILED
    assert "is pdf, not the declared docx" in (fakes.repository.items[doc.id].error or "")


def test_an_upload_over_the_limit_fails_without_being_read(
    fakes: Fakes, settings: Settings
) -> None:
    doc = fakes.service.create_upload("a.txt", "text/plain", 10, Submission("r")).document
    data = b"a" * (settings.max_upload_bytes + 1)
    assert arrive(fakes, f"uploads/{doc.id}", data) is Outcome.FAILED
    assert "MAX_UPLOAD_BYTES" in (fakes.repository.items[doc.id].error or "")


def test_upload_requests_are_checked(fakes: Fakes, settings: Settings) -> None:
    with pytest.raises(UnsupportedFileType, match="image/gif"):
        fakes.service.create_upload("a.gif", "image/gif", 10, Submission("r"))
    with pytest.raises(FileTooLarge):
        fakes.service.create_upload(
            "a.pdf", "application/pdf", settings.max_upload_bytes + 1, Submission("r")
        )
    assert not fakes.repository.items


def test_an_upload_that_never_arrives_reads_failed_then_expires(
    fakes: Fakes, settings: Settings
) -> None:
    upload = fakes.service.create_upload("a.pdf", "application/pdf", 10, Submission("r"))
    assert fakes.service.get(upload.document.id).status is Status.UPLOADING
    fakes.clock.advance(seconds=settings.upload_url_seconds + 1)

    shown = fakes.service.get(upload.document.id)
    assert shown.status is Status.FAILED
    assert "did not arrive" in (shown.error or "")
    # The record carries the table's TTL: DynamoDB deletes it after the grace period.
    expires_at = upload.document.expires_at
    assert expires_at is not None
    assert expires_at > upload.expires_at.timestamp()
    assert expires_at - upload.expires_at.timestamp() <= timedelta(hours=1).total_seconds()


def test_files_belong_to_their_client_and_a_delete_removes_the_file(fakes: Fakes) -> None:
    data = files.pdf(["Owned pages."])
    mine = fakes.service.submit_file(data, "a.pdf", None, Submission("r", owner="alice")).document
    theirs = fakes.service.submit_file(data, "a.pdf", None, Submission("r", owner="bob")).document
    assert mine.id != theirs.id  # the same bytes from another client: another document
    assert mine.original_key != theirs.original_key
    deliver_last(fakes)

    fakes.service.delete(mine.id, owner="alice")
    assert mine.original_key not in fakes.store.files
    assert mine.text_key not in fakes.store.objects
    assert theirs.original_key in fakes.store.files
