"""Files on the embedded stack with the real offline LLM: a PDF sent directly, a larger one
through a presigned S3 upload (S3 event → queue → worker), the same file twice; a slide deck,
an OpenDocument text, an RTF and an e-mail; a web page by URL served on this machine, and a
metadata-service URL refused; scans and photos read by OCR."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from docsum.summary.grounding import stems

from infra.local.processes import wait_until
from tests import files
from tests.e2e.support import DOC_TIMEOUT, Stack, count_llm_calls, settled_at
from tests.http_servers import serving_pages

pytestmark = [pytest.mark.e2e, pytest.mark.llm]

TEXT = "Queues decouple slow work from the request path. Workers summarize documents."
GERMAN_PAGE = (
    "Der Ausschuss prüfte die Quartalszahlen und genehmigte den Haushalt für das kommende "
    "Jahr. Die Ausgaben für Straßen und Brücken steigen, während die Reisekosten sinken."
)


def summarized_from(api: httpx.Client, location: str, document: dict[str, Any], page: str) -> None:
    """The document's text is the page as OCR read it, and its summary is made of that text:
    every stored sentence cites passages of it, and the summary has the page's content words
    (compared as grounding compares them, by stem: a model may inflect). Grounding stores no
    sentence its document does not support, so a summary of any other text, or of none, fails
    here."""
    text = api.get(f"{location}/text", params={"start": 0, "end": document["text_chars"]})
    assert text.status_code == 200, text.text
    read = text.json()["text"]
    # OCR misreads a letter now and then (a 150-dpi scan's ü as ú): most words, not all.
    content = set(stems(page))
    assert len(content & set(stems(read))) >= 0.8 * len(content), read
    assert document["sentences"], document
    for sentence in document["sentences"]:
        assert sentence["sources"], sentence
        for source in sentence["sources"]:
            assert read[source["start"] : source["end"]].strip(), (sentence, read)
    assert set(stems(document["summary"])) & content, (document["summary"], page)


def send_to_s3(upload: dict[str, Any], filename: str, data: bytes, content_type: str) -> None:
    """The file to the presigned POST of a `POST /uploads` answer, as a client sends it."""
    presigned = upload["upload"]
    posted = httpx.post(
        presigned["url"],
        data=presigned["fields"],
        files={"file": (filename, data, content_type)},
        timeout=60,
    )
    assert posted.status_code in (200, 204), posted.text


def test_a_pdf_sent_directly_is_summarized_once(stack: Stack) -> None:
    data = files.pdf([TEXT, "A second page about retries."], title="Direct PDF")
    sent = {"file": ("direct.pdf", data, "application/pdf")}
    with stack.api() as api:
        response = api.post("/documents", files=sent)
        assert response.status_code == 202, response.text
        location = response.headers["Location"]
        document = wait_until("the PDF's summary", lambda: settled_at(api, location), DOC_TIMEOUT)
        assert document["status"] == "done", document
        assert (document["title"], document["source"]["pages"]) == ("Direct PDF", 2)
        calls = count_llm_calls(stack.state_dir / "llm.log")

        again = api.post("/documents", files=sent)
    assert again.status_code == 200
    assert again.json()["id"] == document["id"]
    assert count_llm_calls(stack.state_dir / "llm.log") == calls


def test_a_larger_pdf_through_a_presigned_upload(stack: Stack) -> None:
    data = files.pdf_with_a_photo(TEXT + " This one came through S3.")
    assert len(data) > 1_000_000
    request = {"filename": "large.pdf", "content_type": "application/pdf", "size": len(data)}
    with stack.api() as api:
        response = api.post("/uploads", json=request)
        assert response.status_code == 201, response.text
        upload = response.json()
        assert api.get(upload["location"]).json()["status"] == "uploading"

        send_to_s3(upload, "large.pdf", data, "application/pdf")
        document = wait_until(
            "the upload's summary", lambda: settled_at(api, upload["location"]), DOC_TIMEOUT
        )
    assert document["status"] == "done", document
    assert document["source"] == {
        "kind": "pdf",
        "filename": "large.pdf",
        "bytes": len(data),
        "pages": 2,
        "content_type": "application/pdf",
        "url": None,
        "fetched_generation": None,
    }
    # The photo page has no text layer: it is OCR'd (and holds no words); the text page is not.
    assert document["extraction"]["method"] == "mixed"
    assert (document["extraction"]["pages"], document["extraction"]["ocr_pages"]) == (2, 1)
    assert document["title"] == "large.pdf"


def test_scans_and_photos_are_read_by_ocr_and_a_textless_image_fails(stack: Stack) -> None:
    """A scanned PDF (multipart) and a PNG photo of a page (presigned upload) are summarized
    from the words on their pages; an image without text ends failed, saying so. The words
    reach the model (the document's language is detected from the OCR'd text, German for the
    scan, and its length is the page's) and the summary: the stand-in model's own answer can
    be about anything (one run called the English page a copyright notice), but the guard
    stores only sentences the OCR'd text supports, else the page's own sentences."""
    scanned = files.scanned_pdf([(GERMAN_PAGE, True)])
    photo = files.image_file([files.PARAGRAPH], "png")
    with stack.api() as api:
        response = api.post("/documents", files={"file": ("scan.pdf", scanned, "application/pdf")})
        assert response.status_code == 202, response.text
        scan_location = response.headers["Location"]
        blank = api.post("/documents", files={"file": ("red.png", files.png(), "image/png")})
        assert blank.status_code == 202, blank.text
        request = {"filename": "photo.png", "content_type": "image/png", "size": len(photo)}
        upload = api.post("/uploads", json=request)
        assert upload.status_code == 201, upload.text
        send_to_s3(upload.json(), "photo.png", photo, "image/png")
        locations = [scan_location, upload.json()["location"], blank.headers["Location"]]
        scan, image, textless = (
            wait_until("OCR'd documents", lambda loc=loc: settled_at(api, loc), DOC_TIMEOUT)
            for loc in locations
        )
        read = (
            (scan, scan_location, GERMAN_PAGE, "de"),
            (image, locations[1], files.PARAGRAPH, "en"),
        )
        for document, location, page, language in read:
            assert document["status"] == "done", document
            assert document["language"] == language
            assert abs(document["text_chars"] - len(page)) <= len(page) // 20  # lines, not words
            summarized_from(api, location, document, page)
    assert (scan["extraction"]["method"], scan["source"]["kind"]) == ("ocr", "pdf")
    assert (scan["extraction"]["pages"], scan["extraction"]["ocr_pages"]) == (1, 1)
    assert 0.5 < scan["extraction"]["confidence"] <= 1
    assert (image["extraction"]["method"], image["source"]["kind"]) == ("ocr", "png")
    assert (textless["status"], textless["error"]) == ("failed", "no text found in the document")


def test_a_deck_an_odt_an_rtf_and_an_email_each_reach_done(stack: Stack) -> None:
    sent = {
        "deck.pptx": files.pptx([("Queues", TEXT, "Mention retries."), ("Workers", TEXT, None)]),
        "notes.odt": files.odt([TEXT], title="ODT notes"),
        "notes.rtf": files.rtf([TEXT], title="RTF notes"),
        "mail.eml": files.eml(subject="Queue mail", plain=TEXT),
    }
    with stack.api() as api:
        locations = {}
        for name, data in sent.items():
            response = api.post("/documents", files={"file": (name, data, "application/x-any")})
            assert response.status_code == 202, (name, response.text)
            locations[name] = response.headers["Location"]
        done = {
            name: wait_until(name, lambda at=at: settled_at(api, at), DOC_TIMEOUT)
            for name, at in locations.items()
        }
    for name, document in done.items():
        assert document["status"] == "done", (name, document)
        assert document["summary"], name
    kinds = {name: document["source"]["kind"] for name, document in done.items()}
    assert kinds == {"deck.pptx": "pptx", "notes.odt": "odt", "notes.rtf": "rtf", "mail.eml": "eml"}
    titles = [done[name]["title"] for name in ("deck.pptx", "notes.odt", "notes.rtf", "mail.eml")]
    assert titles == ["Queues", "ODT notes", "RTF notes", "Queue mail"]


def test_a_web_page_served_here_is_summarized_and_a_metadata_url_refused(stack: Stack) -> None:
    page = f"<html><head><title>Queue page</title></head><body><nav>Menu</nav><p>{TEXT}</p>"
    served = {"/article.html": (200, "text/html; charset=utf-8", page.encode())}
    with serving_pages(served) as base, stack.api() as api:
        refused = api.post("/documents", json={"url": "http://169.254.169.254/latest/meta-data/"})
        assert refused.status_code == 422, refused.text
        assert "address not allowed" in refused.json()["detail"]

        response = api.post("/documents", json={"url": f"{base}/article.html"})
        assert response.status_code == 202, response.text
        location = response.headers["Location"]
        document = wait_until("the page's summary", lambda: settled_at(api, location), DOC_TIMEOUT)
        again = api.post("/documents", json={"url": f"{base}/article.html"})
    assert document["status"] == "done", document
    assert document["title"] == "Queue page"
    assert (document["source"]["kind"], document["source"]["url"]) == (
        "html",
        f"{base}/article.html",
    )
    assert (again.status_code, again.json()["id"]) == (200, document["id"])
