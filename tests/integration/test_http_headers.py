"""Every answer carries a Content-Security-Policy; pages and API answers are never cached, static assets may be."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

from tests.conftest import ROOT, login


def _directives(response) -> dict[str, str]:
    policy = response.headers.get("Content-Security-Policy", "")
    return {part.split()[0]: part for part in (p.strip() for p in policy.split(";")) if part}


def _assert_page_policy(response) -> None:
    csp = _directives(response)
    assert csp["frame-ancestors"] == "frame-ancestors 'none'"
    assert csp["script-src"] == "script-src 'self'"
    assert "'unsafe-inline'" not in csp["style-src"]
    assert csp["object-src"] == "object-src 'none'"
    assert csp["form-action"].startswith("form-action 'self'")
    assert "no-store" in response.headers["Cache-Control"]


def test_public_pages_errors_and_api_answers_have_csp_and_no_store(client):
    for url in ("/", "/tra-cuu", "/dang-nhap", "/thu-tuc/1.001193", "/khong-co-trang-nay"):
        _assert_page_policy(client.get(url))
    for url in ("/api/v1/procedures", "/api/v1/public/dossiers/X-1", "/api/v1/openapi.json"):
        response = client.get(url)
        assert _directives(response)["frame-ancestors"] == "frame-ancestors 'none'"
        assert "no-store" in response.headers["Cache-Control"]


def test_pages_with_personal_data_are_not_stored(client, token):
    login(client, "congdan")
    for url in ("/ho-so-cua-toi", "/doi-mat-khau"):
        _assert_page_policy(client.get(url))
    redirect = client.post("/dang-xuat")
    assert "no-store" in redirect.headers["Cache-Control"]


def test_static_assets_may_be_cached(client):
    response = client.get("/static/motcua.css")
    assert response.status_code == 200
    assert "no-store" not in response.headers.get("Cache-Control", "")


def test_forms_may_post_to_the_payment_platform(client, national, sandbox):
    """Paying posts to the platform, which answers with a redirect to its hosted page: form-action allows it."""
    origin = "{0.scheme}://{0.netloc}".format(urlsplit(sandbox))
    assert origin in _directives(client.get("/"))["form-action"].split()


INLINE = re.compile(r"<script(?![^>]*\bsrc=)|\sstyle=|\son[a-z]+=|javascript:", re.IGNORECASE)


def test_templates_have_no_inline_script_or_style():
    """The policy refuses inline scripts, styles and handlers, so templates must not rely on them."""
    offenders = [f"{path.relative_to(ROOT)}:{n}" for path in sorted(Path(ROOT, "app", "templates").rglob("*.html"))
                 for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if INLINE.search(line)]
    assert offenders == []


def test_rendered_forms_have_no_inline_style(client):
    login(client, "congdan")
    for url in ("/thu-tuc/1.001193", "/thu-tuc/1.004222"):
        html = client.get(url).get_data(as_text=True)
        assert not INLINE.search(html), INLINE.search(html)
