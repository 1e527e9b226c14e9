"""The inspector's files at /ui/: served from the package with the right content types and
a strict content security policy, without a token, and naming no other origin."""

from __future__ import annotations

import re

import pytest

from memoturn.http.ui import CONTENT_TYPES, assets

EXPECTED = {
    "index.html": "text/html; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    "api.js": "text/javascript; charset=utf-8",
    "dom.js": "text/javascript; charset=utf-8",
    "views.js": "text/javascript; charset=utf-8",
    "history.js": "text/javascript; charset=utf-8",
    "governance.js": "text/javascript; charset=utf-8",
    "app.css": "text/css; charset=utf-8",
    "icon.svg": "image/svg+xml",
}
# Any scheme-qualified or protocol-relative URL; the SVG namespace names no resource.
_URL = re.compile(r"(?:[a-z]+:)?//[a-z0-9.-]+\.[a-z]{2,}[^\s\"'`)<>]*", re.I)
_ALLOWED = {"http://www.w3.org/2000/svg"}


def test_every_shipped_file_is_listed() -> None:
    assert set(assets()) == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_file_is_served_with_its_content_type(anon, name: str) -> None:
    r = anon.get(f"/ui/{name}")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == EXPECTED[name]
    assert r.headers["x-content-type-options"] == "nosniff"
    csp = r.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src 'self'" in csp
    assert "connect-src 'self'" in csp and "unsafe" not in csp
    assert r.content == assets()[name]


def test_the_index_is_served_at_the_root(anon) -> None:
    r = anon.get("/ui/")
    assert r.status_code == 200 and r.headers["content-type"] == EXPECTED["index.html"]
    assert '<script type="module" src="app.js"></script>' in r.text
    r = anon.get("/ui", follow_redirects=False)
    assert r.status_code == 308 and r.headers["location"] == "/ui/"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_no_file_names_another_origin(name: str) -> None:
    text = assets()[name].decode()
    found = {m.group(0) for m in _URL.finditer(text)} - _ALLOWED
    assert found == set(), found
    assert "@import" not in text and "<iframe" not in text


def test_no_inline_script_or_style_in_the_page() -> None:
    page = assets()["index.html"].decode()
    assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", page) == []
    assert "<style" not in page and " style=" not in page and "onclick=" not in page


@pytest.mark.parametrize("path", ["/ui/nope.js", "/ui/../app.py", "/ui/static/app.js", "/ui/x.png"])
def test_anything_else_is_a_json_404(anon, path: str) -> None:
    r = anon.get(path)
    assert r.status_code == 404, r.text
    assert r.json()["error"]["code"] == "not_found"


def test_the_ui_is_not_in_the_openapi_document(anon) -> None:
    paths = anon.get("/openapi.json").json()["paths"]
    assert not [p for p in paths if p.startswith("/ui")]


def test_only_known_kinds_of_file_are_served() -> None:
    assert {n[n.rfind(".") :] for n in EXPECTED} == set(CONTENT_TYPES)
