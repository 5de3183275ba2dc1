"""Files on the embedded stack with the real offline LLM: a PDF sent directly, a larger one
through a presigned S3 upload (S3 event → queue → worker), the same file twice."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from infra.local.processes import wait_until
from tests import files
from tests.e2e.support import DOC_TIMEOUT, Stack, count_llm_calls

pytestmark = [pytest.mark.e2e, pytest.mark.llm]

TEXT = "Queues decouple slow work from the request path. Workers summarize documents."


def settled(api: httpx.Client, location: str) -> dict[str, Any] | None:
    document: dict[str, Any] = api.get(location).json()
    return document if document["status"] in ("done", "failed") else None


def test_a_pdf_sent_directly_is_summarized_once(stack: Stack) -> None:
    data = files.pdf([TEXT, "A second page about retries."], title="Direct PDF")
    sent = {"file": ("direct.pdf", data, "application/pdf")}
    with stack.api() as api:
        response = api.post("/documents", files=sent)
        assert response.status_code == 202, response.text
        location = response.headers["Location"]
        document = wait_until("the PDF's summary", lambda: settled(api, location), DOC_TIMEOUT)
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

        posted = httpx.post(
            upload["upload"]["url"],
            data=upload["upload"]["fields"],
            files={"file": ("large.pdf", data, "application/pdf")},
            timeout=60,
        )
        assert posted.status_code in (200, 204), posted.text
        document = wait_until(
            "the upload's summary", lambda: settled(api, upload["location"]), DOC_TIMEOUT
        )
    assert document["status"] == "done", document
    assert document["source"] == {
        "kind": "pdf",
        "filename": "large.pdf",
        "bytes": len(data),
        "pages": 2,
        "content_type": "application/pdf",
    }
    assert document["title"] == "large.pdf"
