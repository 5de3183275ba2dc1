"""The page fetch's policy, against real HTTP servers on loopback: every refused address kind,
redirects (to private addresses, too many), a name that resolves differently the second time,
the size and time caps, content types, HTTP errors."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from docsum.adapters.http_page import Urllib3PageGetter
from docsum.extract.fetch import FetchLimits, PageFetchFailed, fetch_page
from docsum.ports.pages import PageAnswer
from docsum.push.callbacks import CallbackPolicy

from tests import files

LIMITS = FetchLimits(max_bytes=1_000_000, timeout_seconds=5, max_redirects=3)
PDF = files.pdf(["A PDF served at a URL."])
GIF = files.png("GIF")  # images OCR reads are PNG, JPEG, TIFF, WebP; not GIF


class _Site(BaseHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass

    def _send(self, status: int, body: bytes, headers: Mapping[str, str]) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        if "Content-Length" not in headers:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self.server.paths.append(self.path)  # type: ignore[attr-defined]
        html = {"Content-Type": "text/html; charset=utf-8"}
        match self.path:
            case "/page":
                self._send(200, files.HTML_PAGE.encode(), html)
            case "/pdf":
                self._send(200, PDF, {"Content-Type": "application/pdf"})
            case "/untyped-pdf":
                self._send(200, PDF, {"Content-Type": "application/octet-stream"})
            case "/image":
                self._send(200, GIF, {"Content-Type": "image/gif"})
            case "/missing":
                self._send(404, b"not here", html)
            case "/moved":
                self._send(302, b"", {"Location": "/page"})
            case "/to-private":
                self._send(302, b"", {"Location": "http://10.1.2.3/admin"})
            case "/to-metadata":
                self._send(301, b"", {"Location": "http://metadata.test/latest/meta-data/"})
            case "/loop":
                self._send(302, b"", {"Location": "/loop"})
            case "/big":
                self._send(200, b"<p>" + b"x" * 2_000_000 + b"</p>", html)
            case "/big-unsized":  # no Content-Length: the cap is met while reading
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Connection", "close")
                self.end_headers()
                for _ in range(40):
                    self.wfile.write(b"x" * 65536)
            case "/slow":
                time.sleep(3)
                self._send(200, b"<p>late</p>", html)
            case "/drip":  # each byte within any read timeout, the whole past the deadline
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", "100000")
                self.end_headers()
                for _ in range(40):
                    self.wfile.write(b"x" * 1000)
                    self.wfile.flush()
                    time.sleep(0.1)
            case _:
                self._send(500, b"", html)


@pytest.fixture(scope="module")
def site() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Site)
    server.daemon_threads = True
    server.paths = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _url(site: ThreadingHTTPServer, path: str) -> str:
    return f"http://127.0.0.1:{site.server_address[1]}{path}"


class _Names:
    """A resolver with fixed answers, counting its lookups."""

    def __init__(self, answers: Mapping[str, list[list[str]]]) -> None:
        self._answers = {name: list(each) for name, each in answers.items()}
        self.lookups: list[str] = []

    def __call__(self, host: str, port: int) -> list[str]:
        self.lookups.append(host)
        answers = self._answers[host]
        return answers.pop(0) if len(answers) > 1 else answers[0]


def _local(names: _Names | None = None) -> CallbackPolicy:
    """The policy as `make up` runs it: loopback http allowed (the test servers are local)."""
    resolver = names or _Names({"metadata.test": [["169.254.169.254"]]})
    return CallbackPolicy(allow_loopback_http=True, resolver=resolver)


GETTER = Urllib3PageGetter()


def test_an_html_page_is_fetched(site: ThreadingHTTPServer) -> None:
    page = fetch_page(_url(site, "/page"), _local(), GETTER, LIMITS)
    assert page.media_type == "text/html"
    assert page.data == files.HTML_PAGE.encode()


@pytest.mark.parametrize("path", ["/pdf", "/untyped-pdf"])
def test_a_pdf_is_fetched_whether_or_not_typed(site: ThreadingHTTPServer, path: str) -> None:
    assert fetch_page(_url(site, path), _local(), GETTER, LIMITS).data == PDF


def test_a_redirect_is_followed_and_the_final_url_kept(site: ThreadingHTTPServer) -> None:
    page = fetch_page(_url(site, "/moved"), _local(), GETTER, LIMITS)
    assert page.url == _url(site, "/page")
    assert b"The Moon" in page.data


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("/missing", "page could not be fetched (HTTP 404)"),
        ("/error", "page could not be fetched (HTTP 500)"),
        ("/image", "page type not supported (image/gif)"),
        ("/to-private", "address not allowed"),
        ("/to-metadata", "address not allowed"),
        ("/loop", "page could not be fetched (too many redirects)"),
        ("/big", "page too large"),
        ("/big-unsized", "page too large"),
    ],
)
def test_refusals_have_stable_reasons(site: ThreadingHTTPServer, path: str, reason: str) -> None:
    with pytest.raises(PageFetchFailed) as failed:
        fetch_page(_url(site, path), _local(), GETTER, LIMITS)
    assert str(failed.value) == reason


def test_a_redirect_to_a_private_address_is_never_requested(site: ThreadingHTTPServer) -> None:
    before = len(site.paths)  # type: ignore[attr-defined]
    with pytest.raises(PageFetchFailed, match="address not allowed"):
        fetch_page(_url(site, "/to-private"), _local(), GETTER, LIMITS)
    assert site.paths[before:] == ["/to-private"]  # type: ignore[attr-defined]


@pytest.mark.parametrize("path", ["/slow", "/drip"])
def test_the_time_cap_covers_a_slow_answer_and_a_slow_body(
    site: ThreadingHTTPServer, path: str
) -> None:
    limits = FetchLimits(max_bytes=1_000_000, timeout_seconds=1, max_redirects=3)
    with pytest.raises(PageFetchFailed) as failed:
        fetch_page(_url(site, path), _local(), GETTER, limits)
    assert str(failed.value) == "page timed out"


def test_a_name_resolving_elsewhere_the_second_time_is_connected_to_the_checked_address(
    site: ThreadingHTTPServer,
) -> None:
    """DNS rebinding: the check sees 127.0.0.1, a second lookup would say 10.9.9.9 (nothing
    listens there). The page arrives: the connection went to the checked address."""
    names = _Names({"rebind.test": [["127.0.0.1"], ["10.9.9.9"]]})
    port = site.server_address[1]
    page = fetch_page(f"http://rebind.test:{port}/page", _local(names), GETTER, LIMITS)
    assert b"The Moon" in page.data
    assert names.lookups == ["rebind.test"]


class _MustNotConnect:
    def get(
        self,
        url: str,
        addresses: tuple[str, ...],
        headers: Mapping[str, str],
        max_bytes: int,
        deadline: float,
    ) -> PageAnswer:
        raise AssertionError(f"connected to {addresses} for {url}")


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",  # loopback (allowed only by `make up`)
        "10.0.0.1",
        "172.16.5.4",
        "192.168.1.1",  # private
        "169.254.169.254",  # link-local: the cloud metadata service
        "100.64.0.1",  # shared (carrier-grade NAT)
        "0.0.0.0",  # unspecified
        "224.0.0.1",  # multicast
        "::1",
        "fe80::1",
        "fc00::1",
        "::ffff:169.254.169.254",  # IPv4-mapped
        "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
    ],
)
def test_every_non_public_address_is_refused_before_connecting(address: str) -> None:
    names = _Names({"inside.test": [[address]]})
    policy = CallbackPolicy(allow_loopback_http=False, resolver=names)
    for url in ("https://inside.test/page", f"https://{_host(address)}/page"):
        with pytest.raises(PageFetchFailed) as failed:
            fetch_page(url, policy, _MustNotConnect(), LIMITS)
        assert str(failed.value) == "address not allowed"


@pytest.mark.parametrize(
    "url",
    [
        "http://93.184.216.34/page",  # http to a public address: https only
        "ftp://93.184.216.34/page",
        "file:///etc/passwd",
        "https://user:pw@93.184.216.34/",  # user-info
        "https://mixed.test/",  # one of its addresses is private
    ],
)
def test_other_refused_urls(url: str) -> None:
    names = _Names({"mixed.test": [["93.184.216.34", "10.0.0.7"]]})
    policy = CallbackPolicy(allow_loopback_http=False, resolver=names)
    with pytest.raises(PageFetchFailed, match=r"^address not allowed$"):
        fetch_page(url, policy, _MustNotConnect(), LIMITS)


def _host(address: str) -> str:
    return f"[{address}]" if ":" in address else address
