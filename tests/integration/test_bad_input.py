"""Hostile input at the request boundary: every answer is a clean 4xx in the usual shape, never a 500."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import login

WEB_USER = "tiepnhan"


def _shape_ok(response: Any, api: bool) -> None:
    if api:
        body = response.get_json()
        assert set(body["error"]) == {"code", "message", "details"}, body
    else:
        assert response.mimetype == "text/html"
        assert b"<h1" in response.data or b"error" in response.data


def _int_rules(app: Any) -> list[Any]:
    return [rule for rule in app.url_map.iter_rules()
            if any(type(conv).__name__.lower().startswith(("int", "boundedint"))
                   for conv in rule._converters.values())]


def _fill(rule: Any, value: int) -> str:
    path = rule.rule
    for name, conv in rule._converters.items():
        kind = "int" if "int" in type(conv).__name__.lower() else None
        placeholder = f"<int:{name}>" if kind else None
        if placeholder and placeholder in path:
            path = path.replace(placeholder, str(value))
        else:
            for candidate in (f"<{name}>", f"<path:{name}>", f"<string:{name}>"):
                path = path.replace(candidate, "X")
    return path


@pytest.mark.parametrize("value", [2**31, 2**63, int("9" * 40)])
def test_every_int_route_answers_404_for_ids_past_the_column(app, client, token, value):
    rules = _int_rules(app)
    assert len(rules) >= 8  # API and web routes that take ids
    headers = token("hotich")
    login(client, WEB_USER)
    for rule in rules:
        url = _fill(rule, value)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            response = client.open(url, method=method, headers=headers,
                                   json={} if rule.rule.startswith("/api/") and method == "POST" else None)
            # 405 where a rule of the same shape takes another method (werkzeug checks methods first)
            assert response.status_code in (404, 405), (method, url, response.status_code, response.data[:300])
            _shape_ok(response, api=url.startswith("/api/"))


def test_five_thousand_digit_id_in_a_path_is_404(client, token):
    response = client.get("/api/v1/tasks/" + "9" * 5000, headers=token("hotich"))
    assert response.status_code == 404
    _shape_ok(response, api=True)


NUL_REQUESTS = [
    ("GET", "/thu-tuc/1.001193%00", None, False),
    ("GET", "/?q=a%00b", None, False),
    ("GET", "/tra-cuu?ma=X%00", None, False),
    ("GET", "/ho-so/X%00Y", None, False),
    ("POST", "/dang-nhap", {"username": "congdan\x00", "password": "demo123"}, False),
    ("POST", "/dang-nhap", {"username\x00": "congdan", "password": "demo123"}, False),
    ("GET", "/api/v1/procedures/1.001193%00", None, True),
    ("GET", "/api/v1/public/dossiers/X%00", None, True),
    ("GET", "/api/v1/dossiers/X%00", None, True),
    ("GET", "/api/v1/tasks?x=%00", None, True),
]


@pytest.mark.parametrize("method,url,form,api", NUL_REQUESTS)
def test_nul_bytes_are_refused_at_the_boundary(client, token, method, url, form, api):
    login(client, "congdan")
    response = client.open(url, method=method, data=form, headers=token("congdan") if api else None)
    assert response.status_code == 400, (url, response.status_code, response.data[:300])
    _shape_ok(response, api=api)


def test_nul_in_a_form_field_of_a_start_form_is_400(client):
    login(client, "congdan")
    response = client.post("/thu-tuc/1.001193", data={"nguoi_yeu_cau.ho_ten": "A\x00B"})
    assert response.status_code == 400
    _shape_ok(response, api=False)


def _api_post(client: Any, headers: dict[str, str], url: str, raw: str | bytes) -> Any:
    return client.post(url, data=raw, headers={**headers, "Content-Type": "application/json"})


@pytest.mark.parametrize("raw,status", [
    ("[" * 3000 + "]" * 3000, 400),
    ('{"a":' * 2500 + "1" + "}" * 2500, 400),
    ('{"x": ' + "[" * 200 + "]" * 200 + "}", 422),  # parses, but deeper than any form can be
    ('{"ho_ten": "\\ud800"}', 422),
    ('{"ho_ten": "a\\u0000b"}', 422),
    ('{"so": ' + "9" * 5000 + "}", 400),
    ('{"so": ' + str(2**70) + "}", 422),
    ('{"so": 1e400}', 422),
    ('{"so": NaN}', 400),
    (b'{"ho_ten": "\xed\xa0\x80"}', 400),
])
def test_hostile_json_is_a_clean_4xx_on_every_json_endpoint(client, token, raw, status):
    headers = token("tiepnhan")
    for url in ("/api/v1/procedures/1.001193/dossiers", "/api/v1/tasks/1/complete",
                "/api/v1/payments/1/refund"):
        response = _api_post(client, headers, url, raw)
        assert response.status_code == status, (url, raw[:40], response.status_code, response.data[:300])
        _shape_ok(response, api=True)


def test_hostile_json_to_the_payment_callback_is_400(client):
    for raw in ("[" * 3000 + "]" * 3000, '{"MaGiaoDich": "\\ud800"}', '{"a": ' + "9" * 5000 + "}"):
        response = client.post("/thanh-toan/ipn", data=raw, headers={"Content-Type": "application/json"})
        assert response.status_code == 400, response.data[:200]
        assert response.get_json()["error_code"] == "97"


def test_lone_surrogates_and_bad_utf8_in_form_data_are_not_a_500(client):
    login(client, "congdan")
    for body in (b"nguoi_yeu_cau.ho_ten=%ED%A0%80", b"nguoi_yeu_cau.ho_ten=%FF%FE", b"q=%C0"):
        response = client.post("/thu-tuc/1.001193", data=body,
                               headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert response.status_code < 500, response.data[:300]
    response = client.get("/tra-cuu?ma=%ED%A0%80")
    assert response.status_code < 500


def test_huge_integer_typed_in_a_form_is_not_a_500(client):
    login(client, "congdan")
    response = client.post("/thu-tuc/1.001193", data={"so_ban_sao": "9" * 5000})
    assert response.status_code < 500


def test_a_database_that_cannot_answer_is_a_503_to_retry_not_a_500(tmp_path, caplog):
    """A PostgreSQL restart or terminated connections: nothing was saved, the same request works in a moment.
    The answer says so (503, Retry-After, a localized message), in the API's shape and as a page."""
    from tests.conftest import make_app

    # A real connection attempt to a port where no database listens (PostgreSQL down or restarting).
    app = make_app("postgresql+psycopg://motcua@127.0.0.1:9/motcua?connect_timeout=2", tmp_path)
    client = app.test_client()
    response = client.get("/api/v1/procedures")
    assert response.status_code == 503 and response.headers["Retry-After"] == "5"
    body = response.get_json()
    assert body["error"]["code"] == "service_unavailable" and "thử lại" in body["error"]["message"]
    assert "127.0.0.1" not in json.dumps(body)
    page = client.get("/")
    assert page.status_code == 503 and "thử lại" in page.get_data(as_text=True)
    english = client.get("/api/v1/procedures?lang=en")
    assert english.status_code == 503 and "try again" in english.get_json()["error"]["message"]
    assert any("Database unavailable" in r.getMessage() for r in caplog.records)


def test_an_unexpected_exception_is_a_500_in_the_usual_shape_without_its_text(database_url, tmp_path, db_session,
                                                                              caplog):
    from tests.conftest import make_app

    app = make_app(database_url, tmp_path)

    @app.get("/api/v1/_boom")
    def boom_api() -> Any:
        raise RuntimeError("secret internals 0xdeadbeef")

    @app.get("/_boom")
    def boom_web() -> Any:
        raise KeyError("secret internals 0xdeadbeef")

    client = app.test_client()
    response = client.get("/api/v1/_boom")
    assert response.status_code == 500
    body = response.get_json()
    assert body["error"]["code"] == "internal_error" and set(body["error"]) == {"code", "message", "details"}
    assert b"secret" not in response.data and b"0xdeadbeef" not in response.data
    response = client.get("/_boom")
    assert response.status_code == 500 and response.mimetype == "text/html"
    assert b"secret" not in response.data
    assert "secret internals" in caplog.text  # logged for the operator


def test_json_helpers_accept_ordinary_documents():
    from app.web.guards import loads_checked

    doc = {"a": [1, 2.5, "Nguyễn Văn An", None, True, {"b": -(2**62)}]}
    assert loads_checked(json.dumps(doc)) == doc
