"""The web page: static files served by the API itself at `/` (no token needed to load it).

The page calls the API with relative URLs; `<base href>` is the API's root (the API Gateway
stage prefix, e.g. `/v1/`), so it works whether it was opened as `/v1` or `/v1/`."""

from __future__ import annotations

import html
from enum import StrEnum
from pathlib import Path

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse

WEB_DIR = Path(__file__).parent / "web"
# No inline script or style, nothing from another origin, the page cannot be framed.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self'; base-uri 'self'; form-action 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


class Asset(StrEnum):
    """The page's files (the path parameter accepts only these)."""

    SCRIPT = "app.js"
    STYLES = "app.css"
    ICON = "icon.svg"


MEDIA_TYPES = {
    Asset.SCRIPT: "text/javascript",
    Asset.STYLES: "text/css",
    Asset.ICON: "image/svg+xml",  # text: see handler.py's text_mime_types
}
# Read once per sandbox: a few kilobytes.
_PAGE = (WEB_DIR / "index.html").read_text(encoding="utf-8")
_ASSETS = {asset: (WEB_DIR / asset.value).read_bytes() for asset in Asset}

router = APIRouter(tags=["web page"])


@router.get(
    "/",
    response_class=HTMLResponse,
    responses={200: {"content": {"text/html": {}}, "description": "The page"}},
    summary="The web page (submit text, watch progress, read the summary)",
)
def web_page(request: Request) -> HTMLResponse:
    base = html.escape(f"{request.scope.get('root_path', '').rstrip('/')}/", quote=True)
    return HTMLResponse(_PAGE.replace("{{BASE}}", base), headers=SECURITY_HEADERS)


@router.get(
    "/static/{asset}",
    response_class=Response,
    responses={
        200: {
            "content": {media: {} for media in MEDIA_TYPES.values()},
            "description": "A file of the page",
        }
    },
    summary="The web page's script, styles and icon",
)
def web_asset(asset: Asset) -> Response:
    return Response(_ASSETS[asset], media_type=MEDIA_TYPES[asset], headers=SECURITY_HEADERS)
