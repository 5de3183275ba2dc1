"""Post-deploy smoke test: is the deployed API up, guarded, and does a document get summarized?

    make smoke API_URL=https://abc123.execute-api.eu-west-1.amazonaws.com/v1 TOKEN=...
    python -m infra.smoke --api-url http://127.0.0.1:8000 --token ...   # against `make up`

Checks, in order (stops at the first failure, exit status 1):

1. ``GET /health`` answers 200 without a token;
2. a request without a token is refused: 401, ``WWW-Authenticate: Bearer``, problem+json;
3. an invalid document is refused with 422 problem+json naming the field;
4. a real document (unique text per run) is accepted (202) and reaches ``done`` with a summary
   of at most ``--max-summary-chars`` characters, within ``--timeout`` seconds (a model host
   scaled to zero needs minutes to start).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx

PROBLEM_JSON = "application/problem+json"
DOCUMENT = (
    "The Moon is Earth's only natural satellite. It orbits at an average distance of 384,400 "
    "kilometres and always shows the same face to Earth, because its rotation is tidally "
    "locked to its orbit. Its gravity drives the ocean tides. The Moon was probably formed "
    "about 4.5 billion years ago from debris of a collision between the young Earth and a "
    "Mars-sized body. Twelve astronauts walked on its surface between 1969 and 1972 during "
    "the Apollo programme."
)


class SmokeFailure(AssertionError):
    """A check failed; the message says which and what came back."""


def _expect(condition: bool, what: str, response: httpx.Response | None = None) -> None:
    if not condition:
        detail = f" (HTTP {response.status_code}: {response.text[:300]})" if response else ""
        raise SmokeFailure(what + detail)


def _expect_problem(response: httpx.Response, status: int, what: str) -> dict[str, Any]:
    _expect(response.status_code == status, f"{what}: expected {status}", response)
    media_type = response.headers.get("content-type", "").split(";")[0].strip()
    _expect(media_type == PROBLEM_JSON, f"{what}: expected {PROBLEM_JSON}", response)
    body: dict[str, Any] = response.json()
    _expect(
        body.get("status") == status and bool(body.get("title")) and "type" in body,
        f"{what}: a problem has type, title and status",
        response,
    )
    return body


def check_health(client: httpx.Client) -> str:
    response = client.get("/health")
    _expect(response.status_code == 200, "GET /health", response)
    return "GET /health: 200"


def check_auth(client: httpx.Client) -> str:
    response = client.post("/documents", json={"text": "x"}, headers={"Authorization": ""})
    _expect_problem(response, 401, "POST /documents without a token")
    challenge = response.headers.get("www-authenticate", "")
    _expect(challenge.lower().startswith("bearer"), "401 carries WWW-Authenticate: Bearer")
    return "no token: 401 problem+json with WWW-Authenticate: Bearer"


def check_validation(client: httpx.Client) -> str:
    response = client.post("/documents", json={"text": "   "})
    body = _expect_problem(response, 422, "POST /documents with a blank text")
    _expect("text" in str(body.get("errors", "")), "the 422 names the field", response)
    return "blank text: 422 problem+json naming `text`"


def check_summary(
    client: httpx.Client,
    *,
    timeout: float,
    max_summary_chars: int,
    say: Callable[[str], None],
) -> str:
    text = f"{DOCUMENT} (Smoke test {uuid.uuid4()}.)"  # new text: a new document, a new job
    response = client.post("/documents", json={"title": "Smoke test", "text": text})
    _expect(response.status_code == 202, "POST /documents: expected 202", response)
    document_id = response.json()["id"]
    _expect(
        response.headers.get("location", "").endswith(f"/documents/{document_id}"),
        "202 carries the document's Location",
        response,
    )
    say(f"submitted {document_id}; waiting up to {timeout:.0f}s for its summary")
    deadline = time.monotonic() + timeout
    status = ""
    while time.monotonic() < deadline:
        response = client.get(f"/documents/{document_id}")
        _expect(response.status_code == 200, f"GET /documents/{document_id}", response)
        body = response.json()
        if body["status"] != status:
            status = body["status"]
            say(f"  status {status}" + (f" ({body['error']})" if body.get("error") else ""))
        if status == "failed":
            raise SmokeFailure(f"the document failed: {body.get('error')}")
        if status == "done":
            summary = body.get("summary") or ""
            _expect(bool(summary.strip()), "a done document has a summary", response)
            _expect(len(summary) <= max_summary_chars, "the summary fits the limit", response)
            return f"summarized in {timeout - (deadline - time.monotonic()):.0f}s: {summary[:80]!r}"
        time.sleep(2)
    raise SmokeFailure(f"no summary within {timeout:.0f}s (last status {status or 'unknown'})")


def run(
    api_url: str,
    token: str,
    *,
    timeout: float = 900,
    max_summary_chars: int = 1500,
    say: Callable[[str], None] = print,
) -> None:
    """All checks against ``api_url``; raises SmokeFailure at the first one that fails."""
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=api_url.rstrip("/"), headers=headers, timeout=30) as client:
        for check in (check_health, check_auth, check_validation):
            say(f"ok  {check(client)}")
        result = check_summary(
            client, timeout=timeout, max_summary_chars=max_summary_chars, say=say
        )
        say(f"ok  {result}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m infra.smoke",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--api-url", default=os.environ.get("API_URL"), help="[$API_URL]")
    parser.add_argument("--token", default=os.environ.get("TOKEN"), help="bearer token [$TOKEN]")
    parser.add_argument("--timeout", type=float, default=900, help="seconds to wait [900]")
    parser.add_argument("--max-summary-chars", type=int, default=1500)
    args = parser.parse_args(argv)
    if not args.api_url or not args.token:
        parser.error("give --api-url and --token (or API_URL and TOKEN)")
    try:
        run(
            args.api_url,
            args.token,
            timeout=args.timeout,
            max_summary_chars=args.max_summary_chars,
            say=lambda line: print(line, flush=True),
        )
    except (SmokeFailure, httpx.HTTPError) as error:
        print(f"FAIL {error}", file=sys.stderr, flush=True)
        return 1
    print("smoke test passed", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
