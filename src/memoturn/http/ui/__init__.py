"""The memory inspector at ``/ui/``: static files shipped in the package (no build step, no
CDN, works offline). In the browser it signs in with a token kept in the tab
(``sessionStorage``) and reads only the public REST API, so it sees exactly what that token
may see. docs/inspector.md describes it.
"""

from __future__ import annotations

from importlib import resources

from fastapi import APIRouter
from fastapi.responses import RedirectResponse, Response

from memoturn.core.errors import NotFound

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
"""The only kinds of file the inspector ships, and what each is served as."""

SECURITY_HEADERS = {
    # Everything comes from this node: no inline script, no other origin, no framing.
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}

router = APIRouter(include_in_schema=False)


def assets() -> dict[str, bytes]:
    """Every file of the inspector by name (``index.html``, ``app.js``, ...)."""
    folder = resources.files(__package__).joinpath("static")
    return {
        f.name: f.read_bytes()
        for f in folder.iterdir()
        if f.is_file() and any(f.name.endswith(ext) for ext in CONTENT_TYPES)
    }


_ASSETS: dict[str, bytes] | None = None


def _asset(name: str) -> tuple[bytes, str]:
    global _ASSETS
    if _ASSETS is None:
        _ASSETS = assets()
    data = _ASSETS.get(name)
    if data is None:
        raise NotFound(f"the inspector has no file {name!r}", hint="open /ui/")
    ext = name[name.rfind(".") :]
    return data, CONTENT_TYPES[ext]


@router.get("/ui")
def ui_root() -> RedirectResponse:
    return RedirectResponse("/ui/", status_code=308)


@router.get("/ui/{name:path}")
def ui_file(name: str) -> Response:
    data, content_type = _asset(name or "index.html")
    return Response(data, media_type=content_type, headers=SECURITY_HEADERS)
