"""What the request boundary answers: our own words for bad JSON and bad text, in the shape the caller
expects (API JSON, the payment callback's JSON, a page); a password change revokes API tokens; a missing
catalogue is reported at start-up."""

from __future__ import annotations

import logging
from typing import Any

from app.web.guards import UnsafeJSON, loads_checked
from tests.conftest import login, make_app

# ---------------------------------------------------------------- JSON in our own words


def test_malformed_json_is_answered_in_our_words_with_line_and_column(client, token):
    headers = token("hotich") | {"Content-Type": "application/json"}
    for lang in ("vi", "en"):
        response = client.post(f"/api/v1/tasks/1/complete?lang={lang}", data="x", headers=headers)
        assert response.status_code == 400
        message = response.get_json()["error"]["message"]
        assert "Expecting" not in message and "char 0" not in message, message
    response = client.post("/api/v1/tasks/1/complete?lang=vi", data='{"a": 1,\n "b" 2}', headers=headers)
    message = response.get_json()["error"]["message"]
    assert "dòng 2, cột 6" in message and "dấu hai chấm" in message, message


def test_the_json_provider_speaks_our_words_too(app):
    with app.test_request_context("/"):
        for raw in ("x", '{"a": }', "[1, 2", '{"a": 1} x', '"\\q"'):
            try:
                loads_checked(raw)
            except UnsafeJSON as exc:
                assert "Expecting" not in str(exc) and "char" not in str(exc) and "dòng 1" in str(exc), str(exc)
            else:
                raise AssertionError(raw)
    with app.test_request_context("/", method="POST", data="{oops", content_type="application/json"):
        from flask import request
        from werkzeug.exceptions import BadRequest
        try:
            request.get_json()
        except BadRequest as exc:
            assert "Expecting" not in str(exc.description) and "dòng 1" in str(exc.description)
        else:
            raise AssertionError("accepted")


# ---------------------------------------------------------------- a password change revokes API tokens


def test_a_password_change_on_the_page_revokes_api_tokens(client, token):
    headers = token("congdan")
    assert client.get("/api/v1/tasks", headers=headers).status_code == 200
    login(client, "congdan")
    response = client.post("/doi-mat-khau", data={"current": "demo123", "new": "mat-khau-moi-2026",
                                                  "confirm": "mat-khau-moi-2026"}, follow_redirects=True)
    assert "mã truy cập API" in response.get_data(as_text=True)
    assert client.get("/api/v1/tasks", headers=headers).status_code == 401


def test_a_password_change_from_the_command_line_revokes_api_tokens(app, client, token):
    headers = token("hotich")
    assert client.get("/api/v1/tasks", headers=headers).status_code == 200
    result = app.test_cli_runner().invoke(args=["users", "password", "hotich"],
                                          input="mat-khau-cli-2026\nmat-khau-cli-2026\n")
    assert result.exit_code == 0, result.output
    assert "mã truy cập API" in result.output
    assert client.get("/api/v1/tasks", headers=headers).status_code == 401


# ---------------------------------------------------------------- the payment callback's own error shape


def _callback_shape(response: Any) -> dict[str, Any]:
    assert response.mimetype == "application/json", response.data[:200]
    body = response.get_json()
    assert set(body) == {"error_code", "message"} and body["error_code"] != "0", body
    return body


def test_an_oversized_callback_is_refused_in_the_callbacks_shape(client):
    response = client.post("/thanh-toan/ipn", data={"MaGiaoDich": "x" * (64 * 1024)})
    assert response.status_code == 413
    _callback_shape(response)


def test_a_callback_with_bad_text_is_refused_in_the_callbacks_shape(client):
    response = client.post("/thanh-toan/ipn", data={"MaGiaoDich": "a\x00b"})
    assert response.status_code == 400
    _callback_shape(response)


def test_a_rate_limited_callback_is_refused_in_the_callbacks_shape(database_url, tmp_path, db_session):
    app = make_app(database_url, tmp_path, RATELIMIT_ENABLED=True, RATELIMIT_CALLBACK="1 per minute")
    client = app.test_client()
    client.post("/thanh-toan/ipn", data={"MaGiaoDich": "X"})
    response = client.post("/thanh-toan/ipn", data={"MaGiaoDich": "X"})
    assert response.status_code == 429 and response.headers["Retry-After"]
    _callback_shape(response)


def test_pages_and_the_api_keep_their_own_shapes(client, token):
    page = client.post("/dang-nhap", data={"username": "x" * (64 * 1024)})
    assert page.status_code == 413 and page.mimetype == "text/html"
    api = client.post("/api/v1/tasks/1/complete", data=b"{}" + b" " * (2 * 1024 * 1024),
                      headers=token("hotich") | {"Content-Type": "application/json"})
    assert api.status_code == 413 and api.get_json()["error"]["code"] == "payload_too_large"


# ---------------------------------------------------------------- invalid UTF-8 in form fields and the query


def test_invalid_utf8_in_a_form_field_is_a_400(client):
    for body in ("username=%ED%A0%80&password=x", "username=%FF&password=x", "user%C3name=a&password=x"):
        response = client.post("/dang-nhap", data=body, content_type="application/x-www-form-urlencoded")
        assert response.status_code == 400, body
    raw = client.post("/dang-nhap", data=b"username=\xff&password=x",
                      content_type="application/x-www-form-urlencoded")
    assert raw.status_code == 400


def _multipart(name: bytes, value: bytes, filename: bytes | None = None) -> tuple[bytes, str]:
    disposition = b'form-data; name="' + name + b'"' + (b'; filename="' + filename + b'"' if filename else b"")
    body = b"--XyZ\r\nContent-Disposition: " + disposition + b"\r\n\r\n" + value + b"\r\n--XyZ--\r\n"
    return body, "multipart/form-data; boundary=XyZ"


def test_invalid_utf8_in_a_multipart_form_is_a_400(client):
    for parts in ((b"username", b"\xed\xa0\x80"), (b"user\xff", b"a"), (b"file", b"%PDF", b"a\xff.pdf")):
        body, content_type = _multipart(*parts)
        response = client.post("/dang-nhap", data=body, content_type=content_type)
        assert response.status_code == 400, parts
    body, content_type = _multipart(b"username", "Nguyễn �".encode())
    assert client.post("/dang-nhap", data=body, content_type=content_type).status_code == 401


def test_invalid_utf8_in_the_query_or_path_is_a_400(client):
    assert client.get("/tra-cuu?ma=%ED%A0%80").status_code == 400
    raw = client.get("/tra-cuu", environ_overrides={"QUERY_STRING": "ma=\xff"})  # a raw byte, not %-encoded
    assert raw.status_code == 400
    assert client.get("/ho-so/%ED%A0%80").status_code == 400
    assert client.get("/ho-so/%FF").status_code == 400
    assert client.get("/tra-cuu?ma=%C3%A9").status_code != 400  # valid UTF-8 (é) passes


def test_valid_text_still_passes(client):
    response = client.post("/dang-nhap", data={"username": "Nguyễn %ED", "password": "x"})
    assert response.status_code == 401  # an unknown name, a literal percent sign: not the boundary's business


# ---------------------------------------------------------------- a missing catalogue is visible


def test_a_missing_catalogue_is_logged_at_start_up(database_url, tmp_path, caplog):
    empty = tmp_path / "no-translations"
    empty.mkdir()
    with caplog.at_level(logging.WARNING):
        make_app(database_url, tmp_path, BABEL_TRANSLATION_DIRECTORIES=str(empty))
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("en" in w and "pybabel compile" in w for w in warnings), warnings
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        make_app(database_url, tmp_path)  # the compiled catalogue (tests/run compile it): no warning
    assert not [r for r in caplog.records if "pybabel compile" in r.getMessage()]
