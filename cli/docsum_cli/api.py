"""The docsum HTTP API as the CLI uses it: every failure becomes an `ApiError` with a message a
person can act on."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from docsum_cli.config import Config

TERMINAL = frozenset({"done", "failed"})
# Files up to this size go in the request itself (the API's default MAX_DIRECT_UPLOAD_BYTES:
# API Gateway and Lambda payload limits); larger ones, or any the API answers 413 for, go
# through a presigned S3 upload (`POST /uploads`).
DIRECT_UPLOAD_BYTES = 4_000_000
# A 429 (the client's rate limit, or its share of the queue full) refused the call before the
# API did anything, so any call may be sent again after its Retry-After: a folder of more files
# than the share is sent in full, a slow one. One call waits at most this long in all.
RATE_LIMIT_PATIENCE_SECONDS = 600.0


class ApiError(Exception):
    """The API refused the call or could not be reached."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class DocsumApi:
    def __init__(
        self,
        config: Config,
        timeout: float = 30.0,
        on_wait: Callable[[str], None] = lambda _: None,
    ) -> None:
        """`on_wait` is told, before each wait, why and how long a call waits (a 429)."""
        headers = {"Authorization": f"Bearer {config.token}"} if config.token else {}
        self.url = config.api_url
        self._http = httpx.Client(base_url=config.api_url, headers=headers, timeout=timeout)
        self._on_wait = on_wait

    def __enter__(self) -> DocsumApi:
        return self

    def __exit__(self, *_: object) -> None:
        self._http.close()

    def submit_text(
        self, text: str, title: str | None, options: dict[str, str]
    ) -> tuple[dict[str, Any], bool]:
        """The document and whether it is new (202) or was already submitted (200)."""
        return self._submit_json({"text": text}, title, options)

    def submit_url(
        self, url: str, title: str | None, options: dict[str, str]
    ) -> tuple[dict[str, Any], bool]:
        """A web page the service fetches: the same URL again is the same document (200)."""
        return self._submit_json({"url": url}, title, options)

    def _submit_json(
        self, content: dict[str, str], title: str | None, options: dict[str, str]
    ) -> tuple[dict[str, Any], bool]:
        body: dict[str, Any] = {**content, **options, **({"title": title} if title else {})}
        response = self._call("POST", "/documents", json=body)
        return response.json(), response.status_code == 202

    def submit_file(
        self, path: Path, media_type: str, title: str | None, options: dict[str, str]
    ) -> tuple[dict[str, Any], bool]:
        """A file as it is: in the request when small, else through `/uploads`."""
        size = path.stat().st_size
        fields = {**options, **({"title": title} if title else {})}
        if size <= DIRECT_UPLOAD_BYTES:
            try:
                # Bytes, not the open file: a call sent again after a 429 sends them again.
                files = {"file": (path.name, path.read_bytes(), media_type)}
                response = self._call("POST", "/documents", data=fields, files=files)
                return response.json(), response.status_code == 202
            except ApiError as exc:
                if exc.status != 413:
                    raise
        return self._upload(path, media_type, size, fields), True

    def _upload(
        self, path: Path, media_type: str, size: int, fields: dict[str, str]
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "filename": path.name,
            "content_type": media_type,
            "size": size,
            **fields,
        }
        try:
            upload = self._call("POST", "/uploads", json=body).json()
        except ApiError as exc:
            if exc.status == 413:
                raise ApiError(f"too large even for /uploads: {exc}", 413) from None
            raise
        post = upload["upload"]
        # Straight to S3 with the presigned form: never with the API's token.
        with path.open("rb") as file:
            try:
                stored = httpx.post(
                    post["url"],
                    data=post["fields"],
                    files={"file": (path.name, file, media_type)},
                    timeout=self._upload_timeout(size),
                )
            except httpx.HTTPError as exc:
                raise ApiError(f"upload to {post['url']} failed: {exc}") from None
        if stored.status_code >= 300:
            raise ApiError(f"upload refused by storage (HTTP {stored.status_code}): {stored.text}")
        return self.get(upload["id"])

    @staticmethod
    def _upload_timeout(size: int) -> float:
        return 30.0 + size / 1_000_000  # at least 1 MB/s

    def get(self, document_id: str) -> dict[str, Any]:
        return dict(self._call("GET", f"/documents/{document_id}").json())

    def text(self, document_id: str, start: int, end: int) -> str:
        """A span of the document's extracted text (what a citation points at)."""
        params = {"start": start, "end": end}
        answer = self._call("GET", f"/documents/{document_id}/text", params=params).json()
        return str(answer["text"])

    def list_page(
        self, limit: int, cursor: str | None, status: str | None
    ) -> tuple[list[dict[str, Any]], str | None]:
        params: dict[str, Any] = {"limit": limit}
        if cursor:
            params["cursor"] = cursor
        if status:
            params["status"] = status
        page = self._call("GET", "/documents", params=params).json()
        return list(page["items"]), page.get("next_cursor")

    def delete(self, document_id: str) -> None:
        self._call("DELETE", f"/documents/{document_id}")

    def resummarize(self, document_id: str) -> dict[str, Any]:
        return dict(self._call("POST", f"/documents/{document_id}/summarize").json())

    def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        waited = 0.0
        while True:
            response = self._send(method, path, **kwargs)
            wait = _retry_after(response)
            if wait is None or waited + wait > RATE_LIMIT_PATIENCE_SECONDS:
                break
            self._on_wait(f"{_explain(response, self.url)} (waiting {wait:g} s)")
            time.sleep(wait)
            waited += wait
        if response.status_code >= 400:
            raise ApiError(_explain(response, self.url), response.status_code)
        return response

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            return self._http.request(method, path, **kwargs)
        except httpx.ConnectError:
            raise ApiError(f"no API answers at {self.url}: is `make up` running?") from None
        except httpx.TimeoutException:
            raise ApiError(f"the API at {self.url} did not answer in time") from None
        except httpx.HTTPError as exc:
            raise ApiError(f"cannot reach {self.url}: {exc}") from None


def _retry_after(response: httpx.Response) -> float | None:
    """Seconds a 429 asks the caller to wait (Retry-After in seconds), None for any other."""
    if response.status_code != 429:
        return None
    try:
        return max(0.0, float(response.headers.get("Retry-After", "")))
    except ValueError:
        return None


def _explain(response: httpx.Response, url: str) -> str:
    try:
        problem = response.json()
        detail = str(problem.get("detail") or problem.get("title") or "")
    except ValueError:
        return f"unexpected answer from {url} (HTTP {response.status_code}): is it the docsum API?"
    status = response.status_code
    if status == 401:
        return f"the API rejected the token ({detail}); pass --token or set DOCSUM_TOKEN"
    if status == 413:
        return f"too large: {detail}"
    if status == 415:
        return f"file type not supported: {detail}"
    if status == 429:
        return detail  # says which limit: the client's request rate, or its share of the queue
    return f"{status} {problem.get('title', '')}: {detail}".replace(" :", ":")
