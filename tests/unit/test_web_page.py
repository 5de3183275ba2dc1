"""The web page as the API serves it: loads without a token, strict CSP, relative URLs under
the stage prefix, and nothing in it that could run untrusted content."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from docsum.platform.settings import Settings
from docsum_api.app import ApiSettings, create_app
from docsum_api.web_page import WEB_DIR
from fastapi.testclient import TestClient

from tests.conftest import Fakes


def client_for(fakes: Fakes, root_path: str = "") -> TestClient:
    settings = Settings(api_token="secret-token")
    app = create_app(ApiSettings.of(settings), fakes.service)
    return TestClient(app, root_path=root_path, raise_server_exceptions=False)


class PageParts(HTMLParser):
    """What the page declares: tags with their attributes, and text inside <script>."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.script_text = ""
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag == "script"

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.script_text += data.strip()


def parsed(html: str) -> PageParts:
    parts = PageParts()
    parts.feed(html)
    return parts


def test_the_page_loads_without_a_token_with_a_strict_policy(fakes: Fakes) -> None:
    response = client_for(fakes).get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    policy = response.headers["content-security-policy"]
    assert "default-src 'none'" in policy
    assert "script-src 'self';" in policy
    assert "unsafe" not in policy  # neither unsafe-inline nor unsafe-eval
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"


@pytest.mark.parametrize(("root_path", "base"), [("", "/"), ("/v1", "/v1/")])
def test_relative_urls_resolve_under_the_stage_prefix(
    fakes: Fakes, root_path: str, base: str
) -> None:
    page = parsed(client_for(fakes, root_path).get("/").text)
    [(_, attrs)] = [tag for tag in page.tags if tag[0] == "base"]
    assert attrs["href"] == base
    references = [a.get("src") or a.get("href") for t, a in page.tags if t in ("script", "link")]
    # Relative to <base>:
    assert references == ["static/icon.svg", "static/app.css", "static/app.js"]


def test_no_inline_script_no_event_handler_attributes_and_every_field_labelled(
    fakes: Fakes,
) -> None:
    page = parsed(client_for(fakes).get("/").text)
    assert page.script_text == ""
    assert all(attrs.get("src") for tag, attrs in page.tags if tag == "script")
    assert [n for _, attrs in page.tags for n in attrs if n.startswith("on") or n == "style"] == []
    labelled = {attrs["for"] for tag, attrs in page.tags if tag == "label"}
    fields = {attrs["id"] for tag, attrs in page.tags if tag in ("input", "textarea", "select")}
    assert fields
    assert fields <= labelled
    assert any(
        tag == "meta" and attrs.get("name") == "viewport" for tag, attrs in page.tags
    )  # phone-sized screens


def test_untrusted_content_is_only_ever_set_as_text() -> None:
    script = (WEB_DIR / "app.js").read_text()
    assert "textContent" in script
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert sink not in script, sink
    # The token travels in the Authorization header only, never in a URL or localStorage.
    assert "localStorage" not in script
    assert not re.search(r"[?&]token=", script)


def test_nothing_is_fetched_from_another_origin() -> None:
    for path in WEB_DIR.iterdir():
        content = re.sub(r'xmlns="[^"]*"', "", path.read_text())  # a namespace name, not a fetch
        assert not re.search(r"(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}", content), path


@pytest.mark.parametrize(
    ("asset", "media_type"),
    [("app.js", "text/javascript"), ("app.css", "text/css"), ("icon.svg", "image/svg+xml")],
)
def test_assets_are_served_with_their_type(fakes: Fakes, asset: str, media_type: str) -> None:
    response = client_for(fakes).get(f"/static/{asset}")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith(media_type)
    assert response.content == (WEB_DIR / asset).read_bytes()


def test_any_other_file_name_is_a_problem_not_a_file(fakes: Fakes) -> None:
    response = client_for(fakes).get("/static/..%2Fapp.py")
    assert response.status_code in (404, 422)
    assert response.headers["content-type"] == "application/problem+json"


def test_the_form_takes_a_web_page_and_every_file_type_the_api_reads(fakes: Fakes) -> None:
    from docsum.extract.kinds import kind_of_filename

    page = parsed(client_for(fakes).get("/").text)
    [url] = [attrs for tag, attrs in page.tags if tag == "input" and attrs.get("id") == "url"]
    assert url["type"] == "url"
    [file] = [attrs for tag, attrs in page.tags if tag == "input" and attrs.get("id") == "file"]
    suffixes = file["accept"].split(",")
    assert {".pptx", ".odt", ".odp", ".rtf", ".eml"} <= set(suffixes)
    assert all(kind_of_filename(f"x{suffix}") for suffix in suffixes)
    assert "{ url, ...options }" in (WEB_DIR / "app.js").read_text()  # sent as JSON `url`
