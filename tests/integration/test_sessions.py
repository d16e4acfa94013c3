"""A session ends on the server: logout and a password change make a captured cookie worthless; Secure over HTTPS."""

from __future__ import annotations

from typing import Any

from flask import g
from sqlalchemy import select

from tests.conftest import login, make_app, user

PROTECTED = "/ho-so-cua-toi"


def _get(client: Any, url: str = PROTECTED, **kwargs: Any) -> Any:
    """A request as a new process would see it: the test's app context (db_session) is shared by every
    request, and Flask-Login caches the loaded user in it (g._login_user)."""
    g.pop("_login_user", None)
    return client.get(url, **kwargs)


def _session_cookie(client: Any) -> str:
    cookie = client.get_cookie("session")
    assert cookie is not None
    return cookie.value


def _replay(app: Any, cookie: str, base_url: str = "http://localhost") -> Any:
    thief = app.test_client()
    thief.set_cookie("session", cookie, domain="localhost")
    return _get(thief, base_url=base_url)


def test_a_captured_cookie_works_until_logout_then_never(app, client):
    login(client, "congdan")
    captured = _session_cookie(client)
    assert _replay(app, captured).status_code == 200
    client.post("/dang-xuat")
    response = _replay(app, captured)
    assert response.status_code == 302 and "/dang-nhap" in response.headers["Location"]


def test_logout_ends_only_that_session(app, db_session):
    phone, desk = app.test_client(), app.test_client()
    login(phone, "congdan")
    login(desk, "congdan")
    phone.post("/dang-xuat")
    assert _get(desk).status_code == 200
    assert _get(phone).status_code == 302


def test_changing_the_password_ends_every_other_session(app, client, db_session):
    other = app.test_client()
    login(other, "congdan")
    login(client, "congdan")
    captured = _session_cookie(client)
    page = client.get("/doi-mat-khau")
    assert page.status_code == 200
    response = client.post("/doi-mat-khau", data={"current": "wrong", "new": "mat-khau-moi-2026",
                                                  "confirm": "mat-khau-moi-2026"})
    assert response.status_code == 422
    response = client.post("/doi-mat-khau", data={"current": "demo123", "new": "ngan", "confirm": "ngan"})
    assert response.status_code == 422
    response = client.post("/doi-mat-khau", data={"current": "demo123", "new": "mat-khau-moi-2026",
                                                  "confirm": "mat-khau-moi-2026"})
    assert response.status_code == 302
    assert _get(other).status_code == 302  # the other browser is logged out
    assert _replay(app, captured).status_code == 302  # so is the old cookie of this one
    assert _get(client).status_code == 200  # this browser goes on with a fresh session
    fresh = app.test_client()
    login(fresh, "congdan", "mat-khau-moi-2026")


def test_cli_password_change_ends_sessions(app, client, db_session):
    from app.models import UserSession

    login(client, "hotich")
    captured = _session_cookie(client)
    result = app.test_cli_runner().invoke(args=["users", "password", "hotich"],
                                          input="mat-khau-cli-2026\nmat-khau-cli-2026\n")
    assert result.exit_code == 0, result.output
    assert _replay(app, captured).status_code == 302
    assert db_session.scalars(select(UserSession).where(UserSession.user_id == user("hotich").id)).all() == []


def test_a_cookie_from_before_sessions_were_stored_is_refused(app, client):
    """An old-style cookie naming only the user id (or a forged remember cookie) loads nobody."""
    with client.session_transaction() as session:
        session["_user_id"] = str(user("congdan").id)
        session["_fresh"] = True
    assert _get(client).status_code == 302


def _set_cookie_headers(response: Any) -> list[str]:
    return [v for k, v in response.headers.items() if k.lower() == "set-cookie"]


def test_session_cookie_is_secure_over_https_only(app, database_url, tmp_path, db_session):
    client = app.test_client()
    response = client.post("/dang-nhap", data={"username": "congdan", "password": "demo123"},
                           base_url="https://localhost")
    cookies = [c for c in _set_cookie_headers(response) if c.startswith("session=")]
    assert cookies and all("Secure" in c and "HttpOnly" in c for c in cookies), cookies
    response = app.test_client().post("/dang-nhap", data={"username": "congdan", "password": "demo123"})
    cookies = [c for c in _set_cookie_headers(response) if c.startswith("session=")]
    assert cookies and not any("Secure" in c for c in cookies)
    # Behind a TLS-terminating proxy: an https PUBLIC_URL, or X-Forwarded-Proto trusted through ProxyFix.
    public_https = make_app(database_url, tmp_path, PUBLIC_URL="https://motcua.example.vn")
    response = public_https.test_client().post("/dang-nhap", data={"username": "congdan", "password": "demo123"})
    assert any("Secure" in c for c in _set_cookie_headers(response) if c.startswith("session="))
    proxied = make_app(database_url, tmp_path, PROXY_FIX_HOPS=1)
    response = proxied.test_client().post("/dang-nhap", data={"username": "congdan", "password": "demo123"},
                                          headers={"X-Forwarded-Proto": "https"})
    assert any("Secure" in c for c in _set_cookie_headers(response) if c.startswith("session="))
    response = proxied.test_client().get("/?lang=en", headers={"X-Forwarded-Proto": "https"})
    assert any("Secure" in c for c in _set_cookie_headers(response) if c.startswith("lang="))
