"""Per-endpoint body limits and rate limits (login, submissions, look-ups, uploads, callbacks)."""

from __future__ import annotations

import io
import uuid
from typing import Any

import pytest
import redis

from app.web.limits import BODY_LIMITS, GROUPS, RATE_LIMITS
from tests.conftest import REDIS_URL, login, make_app
from tests.samples import PDF_BYTES


@pytest.fixture()
def limited(database_url, tmp_path, db_session):
    """A fresh app with rate limits on (the shared test app has them off), its own counters."""

    def make(**settings: Any) -> Any:
        return make_app(database_url, tmp_path, RATELIMIT_ENABLED=True, **settings)

    return make


def test_every_endpoint_named_in_the_limit_tables_exists(app):
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()}
    assert set(BODY_LIMITS) <= endpoints
    assert set(RATE_LIMITS) <= endpoints
    assert {g for groups in RATE_LIMITS.values() for g in groups} <= set(GROUPS)


# ---------------------------------------------------------------- body limits


def test_login_and_callback_bodies_are_small(client):
    response = client.post("/dang-nhap", data={"username": "congdan", "password": "x" * 40_000})
    assert response.status_code == 413
    assert "16 KB" in response.get_data(as_text=True)
    response = client.post("/thanh-toan/ipn", data={"MaGiaoDich": "x" * 40_000})
    assert response.status_code == 413


def test_json_api_bodies_are_bounded_and_answer_in_the_error_shape(client, token):
    raw = '{"pad": "' + "x" * (1024 * 1024 + 10) + '"}'
    response = client.post("/api/v1/procedures/1.001193/dossiers", data=raw,
                           headers={**token("congdan"), "Content-Type": "application/json"})
    assert response.status_code == 413
    body = response.get_json()
    assert body["error"]["code"] == "payload_too_large" and "1 MB" in body["error"]["message"]


def test_an_endpoint_without_uploads_gets_the_default_limit(client):
    login(client, "congdan")
    response = client.post("/dang-xuat", data={"pad": "x" * (300 * 1024)})
    assert response.status_code == 413


def test_upload_endpoints_keep_the_large_limit(client, token):
    big_pdf = PDF_BYTES + b"%" + b"0" * (2 * 1024 * 1024)
    response = client.post("/api/v1/attachments", headers=token("congdan"),
                           data={"file": (io.BytesIO(big_pdf), "giay.pdf"), "field": "giay_chung_sinh"},
                           content_type="multipart/form-data")
    assert response.status_code == 201, response.data[:300]


# ---------------------------------------------------------------- rate limits


def _wrong_login(client: Any, username: str) -> Any:
    return client.post("/dang-nhap", data={"username": username, "password": "wrong"})


def test_login_is_throttled_per_user_name_with_retry_after(limited):
    app = limited(RATELIMIT_LOGIN_USER="3 per minute")
    client = app.test_client()
    assert [_wrong_login(client, "congdan").status_code for _ in range(3)] == [401, 401, 401]
    response = client.post("/dang-nhap", data={"username": "congdan", "password": "demo123"})
    assert response.status_code == 429  # even the right password: the name is locked for the window
    assert 0 < int(response.headers["Retry-After"]) <= 60
    assert "thử lại sau" in response.get_data(as_text=True)
    assert response.mimetype == "text/html"
    # Another name from the same address is not locked by this one's failures; success does not count.
    login(client, "hotich")
    assert _wrong_login(client, " CongDan ").status_code == 429  # the same name however typed
    # The owner, from another address, is not locked out by a guesser elsewhere.
    response = app.test_client().post("/dang-nhap", data={"username": "congdan", "password": "demo123"},
                                      environ_base={"REMOTE_ADDR": "10.0.0.9"})
    assert response.status_code == 302


def test_failed_logins_for_one_name_are_capped_across_addresses(limited):
    app = limited(RATELIMIT_LOGIN_ACCOUNT="4 per hour")
    statuses = [app.test_client().post("/dang-nhap", data={"username": "congdan", "password": "wrong"},
                                       environ_base={"REMOTE_ADDR": f"10.0.1.{i}"}).status_code
                for i in range(5)]
    assert statuses == [401, 401, 401, 401, 429]


def test_login_is_throttled_per_address(limited):
    app = limited(RATELIMIT_LOGIN_IP="4 per minute")
    client = app.test_client()
    statuses = [_wrong_login(client, f"nobody{i}").status_code for i in range(5)]
    assert statuses == [401, 401, 401, 401, 429]
    other = app.test_client()
    response = other.post("/dang-nhap", data={"username": "congdan", "password": "demo123"},
                          environ_base={"REMOTE_ADDR": "10.0.0.7"})
    assert response.status_code == 302


def test_public_look_up_page_and_api_share_one_limit(limited):
    app = limited(RATELIMIT_LOOKUP="2 per minute")
    client = app.test_client()
    assert client.get("/tra-cuu?ma=X-1").status_code == 404
    assert client.get("/api/v1/public/dossiers/X-2").status_code == 404
    response = client.get("/api/v1/public/dossiers/X-3")
    assert response.status_code == 429
    assert response.get_json()["error"]["code"] == "too_many_requests"
    assert int(response.headers["Retry-After"]) > 0
    assert client.get("/tra-cuu?ma=X-4").status_code == 429


def test_submissions_uploads_and_callbacks_are_limited(limited, token):
    app = limited(RATELIMIT_SUBMIT="1 per minute", RATELIMIT_UPLOAD="1 per minute",
                  RATELIMIT_CALLBACK="1 per minute")
    client = app.test_client()
    headers = token("congdan")
    first = client.post("/api/v1/procedures/1.001193/dossiers", json={}, headers=headers)
    assert first.status_code == 422
    assert client.post("/api/v1/procedures/1.001193/dossiers", json={}, headers=headers).status_code == 429
    # the web form shares the count for the same person
    login(client, "congdan")
    assert client.post("/thu-tuc/1.001193", data={}).status_code == 429
    upload = {"file": (io.BytesIO(PDF_BYTES), "a.pdf"), "field": "giay_chung_sinh"}
    assert client.post("/api/v1/attachments", headers=headers, data=dict(upload),
                       content_type="multipart/form-data").status_code == 201
    upload = {"file": (io.BytesIO(PDF_BYTES), "a.pdf"), "field": "giay_chung_sinh"}
    assert client.post("/api/v1/attachments", headers=headers, data=upload,
                       content_type="multipart/form-data").status_code == 429
    assert client.post("/thanh-toan/ipn", data={"MaGiaoDich": "X"}).status_code == 400
    assert client.post("/thanh-toan/ipn", data={"MaGiaoDich": "X"}).status_code == 429


def test_counters_in_redis_are_shared_by_two_processes(limited):
    """Two app instances (two gunicorn workers) on one Redis: the limit holds across them."""
    prefix = f"motcua-test-{uuid.uuid4().hex[:8]}"
    settings = {"RATELIMIT_STORAGE_URI": REDIS_URL, "RATELIMIT_KEY_PREFIX": prefix,
                "RATELIMIT_LOGIN_USER": "2 per minute"}
    first, second = limited(**settings), limited(**settings)
    assert first.extensions["motcua_limiter"].storage.__class__.__name__ == "RedisStorage"
    try:
        assert _wrong_login(first.test_client(), "congdan").status_code == 401
        assert _wrong_login(second.test_client(), "congdan").status_code == 401
        response = _wrong_login(first.test_client(), "congdan")
        assert response.status_code == 429 and int(response.headers["Retry-After"]) > 0
        assert redis.Redis.from_url(REDIS_URL).keys(f"*{prefix}*")
    finally:
        connection = redis.Redis.from_url(REDIS_URL)
        for key in connection.scan_iter(f"*{prefix}*"):
            connection.delete(key)


def test_redis_is_the_store_when_redis_url_is_set(limited):
    app = limited(REDIS_URL=REDIS_URL, JOB_DISPATCH="record")
    assert app.extensions["motcua_limiter"].storage.__class__.__name__ == "RedisStorage"
    app = limited()
    assert app.extensions["motcua_limiter"].storage.__class__.__name__ == "MemoryStorage"


# ---------------------------------------------------------------- public look-up


@pytest.mark.parametrize("name,masked", [
    ("Nguyễn Văn An", "N. V. A."),
    ("  Lê   Thị Hoa ", "L. T. H."),
    ("Đỗ", "Đ."),
    ("", ""),
])
def test_public_name_keeps_only_initials(name, masked):
    from app.dossiers.services import mask_name

    assert mask_name(name) == masked


def test_public_look_up_shows_no_part_of_the_name_but_initials(client, db_session):
    from app.dossiers.services import submit_dossier
    from tests.conftest import user
    from tests.samples import start_data, with_stored_uploads

    data = with_stored_uploads(start_data("khai-sinh"), user("congdan"))
    dossier = submit_dossier("1.001193", data, applicant=user("congdan"), channel=2)
    db_session.commit()
    page = client.get(f"/tra-cuu?ma={dossier.code}").get_data(as_text=True)
    api = client.get(f"/api/v1/public/dossiers/{dossier.code}").get_json()
    words = dossier.applicant_name.split()
    assert api["applicant"] == " ".join(w[0] + "." for w in words)
    for word in words:
        assert word not in page and word not in str(api)
