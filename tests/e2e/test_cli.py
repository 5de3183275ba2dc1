"""The `docsum` command line against the embedded stack (`make up`), real worker, real LLM."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from docsum_cli.api import DIRECT_UPLOAD_BYTES

from infra.local.environment import aws_client
from infra.local.processes import LOOPBACK, free_port
from tests.cli_runner import docsum
from tests.e2e.support import Stack

pytestmark = [pytest.mark.e2e, pytest.mark.llm]

TEXT = (
    "Lighthouses guided ships along dangerous coasts for centuries. Keepers trimmed the wicks, "
    "wound the clockwork that turned the lens and logged the weather every night. Electric "
    "lamps and automation made the keepers unnecessary, and most lights now run unattended."
)


def env_for(stack: Stack, token: str | None = None) -> dict[str, str]:
    return {"DOCSUM_API_URL": stack.api_url, "DOCSUM_TOKEN": token or stack.info["api_token"]}


def documents(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def test_submit_wait_json_through_the_stack_json_of_make_up(stack: Stack, tmp_path: Path) -> None:
    """No flags, no environment: the CLI finds the running stack as `make up` left it."""
    (tmp_path / ".local-stack").symlink_to(stack.state_dir)
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "lighthouses.txt").write_text(TEXT)
    result = docsum("submit", "notes", "--wait", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    [document] = documents(result.stdout)
    assert (document["title"], document["status"]) == ("lighthouses.txt", "done")
    assert 0 < len(document["summary"]) <= 1500
    assert "notes/lighthouses.txt: done" in result.stderr  # progress lines, not animation
    # The same document again is the same id, already done.
    again = docsum("get", document["id"], "--json", env=env_for(stack))
    assert documents(again.stdout)[0]["summary"] == document["summary"]


def test_a_document_that_fails_is_exit_1_with_the_reason(stack: Stack) -> None:
    """A summarized document whose stored text is then lost fails when summarized again."""
    text = TEXT.replace("centuries", "four hundred years")
    done = docsum("submit", "-", "--wait", "--json", stdin=text, env=env_for(stack))
    assert done.returncode == 0, done.stderr
    s3 = aws_client("s3", stack.info["aws_endpoint_url"])
    bucket = stack.info["resources"]["DOCUMENTS_BUCKET"]
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    [key] = [k for k in keys if s3.get_object(Bucket=bucket, Key=k)["Body"].read() == text.encode()]
    s3.delete_object(Bucket=bucket, Key=key)

    [document] = documents(done.stdout)
    result = docsum("resummarize", document["id"], "--wait", "--json", env=env_for(stack))
    assert result.returncode == 1, result.stderr
    [failed] = documents(result.stdout)
    assert failed["status"] == "failed"
    assert failed["error"]
    plain = docsum("get", document["id"], env=env_for(stack))
    assert plain.returncode == 1
    assert failed["error"] in plain.stdout


def test_a_bad_token_is_exit_3_with_a_clear_message(stack: Stack) -> None:
    result = docsum("submit", "-", stdin=TEXT, env=env_for(stack, token="not-the-token"))
    assert result.returncode == 3
    assert "the API rejected the token" in result.stderr


def test_a_stopped_api_is_exit_3_and_asks_whether_make_up_runs() -> None:
    url = f"http://{LOOPBACK}:{free_port()}"
    result = docsum("get", "0" * 32, "--api-url", url, "--token", "t")
    assert result.returncode == 3
    assert "is `make up` running?" in result.stderr


def test_a_pdf_directly_and_a_large_pdf_through_uploads(stack: Stack, tmp_path: Path) -> None:
    from tests.files import pdf, pdf_with_a_photo

    small, large = tmp_path / "lighthouses.pdf", tmp_path / "large.pdf"
    small.write_bytes(pdf([TEXT], title="Lighthouses"))
    large.write_bytes(pdf_with_a_photo(TEXT.replace("Lighthouses", "Beacons"), side_pixels=1200))
    assert large.stat().st_size > DIRECT_UPLOAD_BYTES  # too large for the request itself
    api_log = Path(stack.info["processes"]["api"]["log"])
    uploads_before = api_log.read_text().count('"path":"/uploads"')

    result = docsum("submit", str(small), str(large), "--wait", "--json", env=env_for(stack))
    assert result.returncode == 0, result.stderr
    by_name = {d["source"]["filename"]: d for d in documents(result.stdout)}
    assert set(by_name) == {"lighthouses.pdf", "large.pdf"}
    assert all(d["status"] == "done" and d["summary"] for d in by_name.values())
    assert by_name["lighthouses.pdf"]["title"] == "Lighthouses"  # the PDF's own title
    assert by_name["large.pdf"]["source"]["bytes"] == large.stat().st_size
    assert api_log.read_text().count('"path":"/uploads"') == uploads_before + 1
