"""Single sign-on against the demo identity provider over real HTTP: the platform's test client on one side, a
requests session (the person's browser at the provider) on the other, each redirect handed across by hand.

The code flow with PKCE end to end, a tampered state, nonce or PKCE verifier refused, citizens, businesses and
officers matched by personal ID, a procedure's minimum level of assurance, logout ending both sessions, the
provider's access tokens on the API (and expired, forged, ID or foreign-audience tokens refused), passwords for the
administrator only."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import secrets
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import lxml.html
import pytest
import requests
from flask import g
from joserfc import jwt
from joserfc.jwk import RSAKey
from sqlalchemy import select

from app.accounts import authenticate
from app.extensions import db
from app.models import AuditLog, User, UserSession
from app.procedures.deploy import deploy
from app.procedures.package import load_directory
from tests.conftest import ROOT, login, user
from tests.samples import PDF_BYTES, form_fields, start_data, with_stored_uploads

CLIENT_ID, CLIENT_SECRET = "motcua", "motcua-demo-secret"
CALLBACK = "http://localhost/dang-nhap/vneid/ket-qua"


@pytest.fixture()
def vneid(app: Any, sandbox: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """The platform pointed at the demo provider; its sessions forgotten."""
    issuer = f"{sandbox}/vneid"
    monkeypatch.setitem(app.config, "OIDC_ISSUER", issuer)
    monkeypatch.setitem(app.config, "OIDC_CLIENT_ID", CLIENT_ID)
    monkeypatch.setitem(app.config, "OIDC_CLIENT_SECRET", CLIENT_SECRET)
    requests.delete(f"{sandbox}/_vneid/sessions", timeout=5)
    return issuer


def _fresh(client: Any, url: str, **kwargs: Any) -> Any:
    g.pop("_login_user", None)  # as a new request would load the user (see test_sessions)
    return client.get(url, **kwargs)


def _state_key(client: Any) -> str:
    with client.session_transaction() as session:
        return next(k for k in session if k.startswith("_state_vneid_"))


def start(client: Any, browser: requests.Session, who: str, next_path: str | None = None) -> str:
    """From the platform's button to the provider's answer: the callback URL the browser is sent back to."""
    answer = client.get("/dang-nhap/vneid" + (f"?next={next_path}" if next_path else ""))
    assert answer.status_code == 302, answer.data[:300]
    query = parse_qs(urlsplit(answer.location).query)
    assert query["code_challenge_method"] == ["S256"] and query["code_challenge"][0]
    assert query["nonce"][0] and query["state"][0]
    page = browser.get(answer.location, allow_redirects=False, timeout=10)
    if who == "":  # the provider remembered the person: straight back
        assert page.status_code == 302
        return str(page.headers["Location"])
    assert page.status_code == 200 and 'name="nguoi"' in page.text
    back = browser.post(page.url, data={"nguoi": who}, allow_redirects=False, timeout=10)
    assert back.status_code == 302, back.text[:300]
    location = str(back.headers["Location"])
    assert location.startswith(CALLBACK) and "code=" in location
    return location


def sso_login(client: Any, browser: requests.Session, who: str, next_path: str | None = None) -> Any:
    return client.get(start(client, browser, who, next_path))


def _session_row(client: Any) -> UserSession | None:
    with client.session_transaction() as session:
        ref = session.get("_user_id")
    if not ref:
        return None
    return db.session.scalars(select(UserSession).where(UserSession.user_id == int(ref.split(".")[0]))
                              .order_by(UserSession.id.desc())).first()


def test_a_citizen_logs_in_with_the_code_flow_and_pkce(client, db_session, vneid, sandbox):
    browser = requests.Session()
    answer = sso_login(client, browser, "congdan")
    assert answer.status_code == 302 and answer.location.endswith("/")
    row = _session_row(client)
    assert row is not None and row.user.username == "congdan"  # the seeded citizen, found by personal ID
    assert row.loa == 2 and row.id_token and row.id_token.count(".") == 2
    assert "Nguyễn Văn An" in _fresh(client, "/ho-so-cua-toi").get_data(as_text=True)
    assert row.user.date_of_birth.isoformat() == "1990-05-12"
    # The provider received the verifier with the code (its log has the token request) and keeps a session.
    paths = [r["path"] for r in requests.get(f"{sandbox}/_log", timeout=5).json()["requests"]]
    assert "/vneid/token" in paths and "/vneid/userinfo" in paths
    assert [s["sub"] for s in requests.get(f"{sandbox}/_vneid/sessions", timeout=5).json()["sessions"]] == [
        "001090012345"]


def test_next_page_is_kept_across_the_provider(client, db_session, vneid):
    answer = sso_login(client, requests.Session(), "congdan", next_path="/ho-so-cua-toi")
    assert answer.status_code == 302 and answer.location.endswith("/ho-so-cua-toi")


def _refused(answer: Any, client: Any) -> None:
    assert answer.status_code == 400
    assert "Đăng nhập bằng VNeID không thành công" in answer.get_data(as_text=True)
    assert _session_row(client) is None
    assert _fresh(client, "/ho-so-cua-toi").status_code == 302  # nobody logged in


def test_a_wrong_state_is_refused(client, db_session, vneid):
    callback = start(client, requests.Session(), "congdan")
    _refused(client.get(callback.replace("state=", "state=x")), client)


def test_a_replayed_callback_is_refused(client, db_session, vneid):
    callback = start(client, requests.Session(), "congdan")
    assert client.get(callback).status_code == 302
    client.post("/dang-xuat")
    _refused(client.get(callback), client)  # its state was spent, and so was the code


def _tamper_state(client: Any, field: str, value: str) -> None:
    key = _state_key(client)
    with client.session_transaction() as session:
        held = dict(session[key])
        held["data"] = {**held["data"], field: value}
        session[key] = held


def test_a_wrong_pkce_verifier_is_refused_by_the_provider(client, db_session, vneid):
    callback = start(client, requests.Session(), "congdan")
    _tamper_state(client, "code_verifier", secrets.token_urlsafe(48))
    _refused(client.get(callback), client)


def test_a_wrong_nonce_is_refused(client, db_session, vneid):
    callback = start(client, requests.Session(), "congdan")
    _tamper_state(client, "nonce", "another-nonce")
    _refused(client.get(callback), client)


def test_a_refusal_at_the_provider_logs_nobody_in(client, db_session, vneid):
    start(client, requests.Session(), "congdan")
    state = _state_key(client).removeprefix("_state_vneid_")
    _refused(client.get(f"{CALLBACK}?error=access_denied&state={state}"), client)


def test_a_business_account_is_created_then_found_again(client, db_session, vneid):
    browser = requests.Session()
    assert sso_login(client, browser, "doanhnghiep").status_code == 302
    business = _session_row(client).user
    assert business.username != "congdan" and business.personal_id == "001090012345"
    assert business.business_name == "Công ty TNHH Dịch vụ Một Cửa An Bình" and len(business.business_code) == 10
    assert business.roles == ["cong_dan"]
    client.post("/dang-xuat")
    assert sso_login(client, requests.Session(), "doanhnghiep").status_code == 302
    assert _session_row(client).user.id == business.id
    assert db.session.scalars(select(User).where(User.business_code == business.business_code)).all() == [business]


def test_an_officer_is_matched_by_personal_id_and_never_created(client, db_session, vneid):
    answer = sso_login(client, requests.Session(), "tiepnhan")
    assert answer.status_code == 302 and answer.location.endswith("/can-bo/")
    assert _session_row(client).user.username == "tiepnhan"
    client.post("/dang-xuat")
    user("hotich").personal_id = None  # an officer the platform does not know (yet)
    db_session.flush()
    before = db.session.query(User).count()
    answer = sso_login(client, requests.Session(), "hotich")
    assert answer.status_code == 403
    assert "chưa được khai báo" in answer.get_data(as_text=True)
    assert db.session.query(User).count() == before and _session_row(client) is None
    # Both ends are in the audit log: the login through VNeID, and the refusal with the personal ID it carried.
    logins = db.session.scalars(select(AuditLog).where(AuditLog.action.in_(("login", "login_failed")))
                                .order_by(AuditLog.id)).all()
    assert [(e.action, e.object_ref, (e.detail or {}).get("method")) for e in logins] == [
        ("login", "tiepnhan", "vneid"), ("login_failed", "001082001002", "vneid")]
    assert logins[0].detail["loa"] == 2 and logins[0].chain == "000.00.01.H26"


# ------------------------------------------------------------------ level of assurance


def khai_sinh_requiring(level: int) -> Any:
    pkg = load_directory(ROOT / "bpmn" / "khai-sinh")
    manifest = json.loads(pkg.manifest)
    manifest["min_loa"] = level
    pkg.manifest = json.dumps(manifest).encode()
    return pkg


def _portal_fields() -> dict[str, Any]:
    fields = form_fields(start_data("khai-sinh"))
    fields["__submit__"] = "1"
    files = {k: (io.BytesIO(PDF_BYTES), "giay-to.pdf") for k, v in list(fields.items()) if v == "FILE"}
    return {**{k: v for k, v in fields.items() if v != "FILE"}, **files}


def test_min_loa_is_checked_at_upload(db_session):
    from app.procedures.package import check_package

    report = check_package(khai_sinh_requiring(3))
    assert not report.ok and any("min_loa" in str(p) for p in report.problems)
    assert check_package(khai_sinh_requiring(2)).ok


def test_a_level_one_account_cannot_submit_where_level_two_is_required(client, db_session, vneid):
    deploy(khai_sinh_requiring(2), deployed_by="tests")
    assert sso_login(client, requests.Session(), "binh").status_code == 302
    assert _session_row(client).loa == 1
    page = _fresh(client, "/thu-tuc/1.001193")
    message = "yêu cầu tài khoản định danh điện tử mức 2; tài khoản của bạn đang ở mức 1"
    assert page.status_code == 200 and message in page.get_data(as_text=True)
    g.pop("_login_user", None)
    answer = client.post("/thu-tuc/1.001193", data=_portal_fields(), content_type="multipart/form-data")
    assert answer.status_code == 403
    alert = lxml.html.fromstring(answer.data).get_element_by_id("form-errors").text_content()
    assert message in alert
    # Level 2 submits.
    client.post("/dang-xuat")
    assert sso_login(client, requests.Session(), "congdan").status_code == 302
    g.pop("_login_user", None)
    answer = client.post("/thu-tuc/1.001193", data=_portal_fields(), content_type="multipart/form-data")
    assert answer.status_code == 302 and "/bien-nhan" in answer.location


def test_a_password_login_asserts_no_level(client, db_session):
    deploy(khai_sinh_requiring(1), deployed_by="tests")
    client.post("/dang-nhap", data={"username": "congdan", "password": "demo123"})
    answer = client.post("/thu-tuc/1.001193", data=_portal_fields(), content_type="multipart/form-data")
    assert answer.status_code == 403 and "vui lòng đăng xuất rồi đăng nhập bằng VNeID" in answer.get_data(
        as_text=True)


# ------------------------------------------------------------------ logout


def test_logout_ends_the_platform_session_and_the_providers(client, db_session, vneid, sandbox):
    browser = requests.Session()
    assert sso_login(client, browser, "congdan").status_code == 302
    row_id = _session_row(client).id
    answer = client.post("/dang-xuat")
    assert answer.status_code == 302
    end_session = answer.location
    assert end_session.startswith(f"{vneid}/logout?") and "id_token_hint=" in end_session
    assert db.session.get(UserSession, row_id) is None  # the platform's session ended
    assert _fresh(client, "/ho-so-cua-toi").status_code == 302
    back = browser.get(end_session, allow_redirects=False, timeout=10)
    assert back.status_code == 302 and back.headers["Location"].startswith("http://localhost/dang-xuat/vneid?state=")
    home = client.get(back.headers["Location"])
    assert home.status_code == 302 and home.location == "/"
    with client.session_transaction() as session:
        assert not [k for k in session if k.startswith("_state_vneid_")]  # the logout's state checked and forgotten
    assert requests.get(f"{sandbox}/_vneid/sessions", timeout=5).json()["sessions"] == []
    # The provider asks again who is there.
    assert client.get("/dang-nhap/vneid").status_code == 302
    again = browser.get(client.get("/dang-nhap/vneid").location, timeout=10)
    assert again.status_code == 200 and 'name="nguoi"' in again.text


def test_a_live_provider_session_logs_in_without_asking(client, db_session, vneid):
    browser = requests.Session()
    assert sso_login(client, browser, "congdan").status_code == 302
    other = client.application.test_client()
    callback = start(other, browser, "")  # the same browser, another platform session
    assert other.get(callback).status_code == 302


# ------------------------------------------------------------------ passwords


def test_passwords_are_for_the_administrator_only_when_so_configured(client, db_session, monkeypatch):
    monkeypatch.setitem(client.application.config, "PASSWORD_LOGIN_ADMIN_ONLY", True)
    answer = client.post("/dang-nhap", data={"username": "congdan", "password": "demo123"})
    # The right password of a citizen is answered like a wrong one (nothing learnt by guessing).
    assert answer.status_code == 401 and "Tên đăng nhập hoặc mật khẩu không đúng" in answer.get_data(as_text=True)
    assert "Quản trị viên: đăng nhập bằng mật khẩu" in answer.get_data(as_text=True)
    assert _session_row(client) is None
    answer = client.post("/dang-nhap", data={"username": "quantri", "password": "demo123"})
    assert answer.status_code == 302


def test_only_those_who_log_in_with_a_password_are_offered_to_change_it(client, db_session, vneid, monkeypatch):
    monkeypatch.setitem(client.application.config, "PASSWORD_LOGIN_ADMIN_ONLY", True)
    sso_login(client, requests.Session(), "tiepnhan")  # has a password from the seed, but logs in through VNeID
    page = _fresh(client, "/can-bo/").get_data(as_text=True)
    assert "/doi-mat-khau" not in page and "Nguyễn Thị Tiếp" in page
    answer = client.get("/doi-mat-khau")
    assert answer.status_code == 302
    assert "VNeID" in _fresh(client, "/").get_data(as_text=True)  # said why
    refused = client.post("/doi-mat-khau", data={"current": "demo123", "new": "mat-khau-moi-123",
                                                 "confirm": "mat-khau-moi-123"})
    assert refused.status_code == 302 and authenticate("tiepnhan", "demo123") is not None
    client.post("/dang-xuat")
    login(client, "quantri")
    assert "/doi-mat-khau" in _fresh(client, "/").get_data(as_text=True)
    assert client.get("/doi-mat-khau").status_code == 200


def test_the_login_page_offers_vneid(client, db_session, vneid):
    tree = lxml.html.fromstring(client.get("/dang-nhap").data)
    [button] = tree.xpath("//a[@id='sso-login']")
    assert button.text_content().strip() == "Đăng nhập bằng VNeID" and button.get("href") == "/dang-nhap/vneid"


# ------------------------------------------------------------------ the API


def provider_access_token(vneid: str, who: str) -> dict[str, Any]:
    """Tokens from the provider's token endpoint, as another system acting for the person would get them."""
    browser = requests.Session()
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    redirect_uri = "http://127.0.0.1:9/cb"
    page = browser.get(f"{vneid}/authorize", params={
        "response_type": "code", "client_id": CLIENT_ID, "redirect_uri": redirect_uri, "scope": "openid profile vneid",
        "state": "s", "nonce": secrets.token_hex(8), "code_challenge": challenge, "code_challenge_method": "S256"},
        timeout=10)
    back = browser.post(page.url, data={"nguoi": who}, allow_redirects=False, timeout=10)
    code = parse_qs(urlsplit(back.headers["Location"]).query)["code"][0]
    answer = requests.post(f"{vneid}/token", data={"grant_type": "authorization_code", "code": code,
                                                   "redirect_uri": redirect_uri, "code_verifier": verifier},
                           auth=(CLIENT_ID, CLIENT_SECRET), timeout=10)
    assert answer.status_code == 200, answer.text
    tokens: dict[str, Any] = answer.json()
    return tokens


def _bearer(value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}


def test_the_api_accepts_the_providers_access_token(client, db_session, vneid):
    tokens = provider_access_token(vneid, "tiepnhan")
    answer = client.get("/api/v1/tasks", headers=_bearer(tokens["access_token"]))
    assert answer.status_code == 200 and "items" in answer.get_json()
    # The ID token names the same person with the same audience, but is no access token.
    assert client.get("/api/v1/tasks", headers=_bearer(tokens["id_token"])).status_code == 401


def test_expired_forged_and_foreign_tokens_are_refused(client, db_session, vneid, sandbox):
    def minted(**body: Any) -> str:
        answer = requests.post(f"{sandbox}/_vneid/tokens", json={"nguoi": "tiepnhan", **body}, timeout=5)
        return str(answer.json()["access_token"])

    assert client.get("/api/v1/tasks", headers=_bearer(minted())).status_code == 200
    assert client.get("/api/v1/tasks", headers=_bearer(minted(expires_in=-300))).status_code == 401
    assert client.get("/api/v1/tasks", headers=_bearer(minted(aud="another-system"))).status_code == 401
    # Forged: the same header and claims, signed by a key that is not the provider's.
    genuine = jwt.decode(minted(), RSAKey.import_key(requests.get(f"{vneid}/jwks", timeout=5).json()["keys"][0]))
    forger = RSAKey.generate_key(2048, parameters={"kid": genuine.header["kid"]})
    forged = jwt.encode(dict(genuine.header), {**genuine.claims, "exp": int(time.time()) + 600}, forger)
    assert client.get("/api/v1/tasks", headers=_bearer(forged)).status_code == 401


def test_the_api_refuses_a_submission_below_the_procedures_level(client, db_session, vneid):
    deploy(khai_sinh_requiring(2), deployed_by="tests")
    sso_login(client, requests.Session(), "binh")  # the account exists once she logged in on the web
    client.post("/dang-xuat")
    binh = db.session.scalar(select(User).where(User.personal_id == "001195012346"))
    data = with_stored_uploads(start_data("khai-sinh"), binh)
    answer = client.post("/api/v1/procedures/1.001193/dossiers", json=data,
                         headers=_bearer(provider_access_token(vneid, "binh")["access_token"]))
    assert answer.status_code == 403 and answer.get_json()["error"]["code"] == "loa_too_low"
    congdan = user("congdan")
    answer = client.post("/api/v1/procedures/1.001193/dossiers", json=with_stored_uploads(start_data("khai-sinh"),
                                                                                           congdan),
                         headers=_bearer(provider_access_token(vneid, "congdan")["access_token"]))
    assert answer.status_code == 201, answer.get_json()


# ------------------------------------------------------------------ a bad day at the provider


def test_a_failing_token_endpoint_logs_nobody_in_and_says_so(client, db_session, vneid, sandbox):
    callback = start(client, requests.Session(), "congdan")
    requests.post(f"{sandbox}/_faults", json={"path_prefix": "/vneid/token", "status": 503}, timeout=5)
    try:
        answer = client.get(callback)
    finally:
        requests.delete(f"{sandbox}/_faults", timeout=5)
    assert answer.status_code in (400, 503) and "VNeID" in answer.get_data(as_text=True)
    assert _session_row(client) is None


def test_an_unreachable_provider_is_said_plainly(client, db_session, vneid, monkeypatch):
    monkeypatch.setitem(client.application.config, "OIDC_ISSUER", "http://127.0.0.1:9/vneid")
    answer = client.get("/dang-nhap/vneid")
    assert answer.status_code == 503 and "Không kết nối được với VNeID" in answer.get_data(as_text=True)


def test_a_provider_that_just_failed_is_not_waited_for_again(client, db_session, vneid, sandbox, monkeypatch):
    from app.web import oidc

    def discoveries() -> int:
        log = requests.get(f"{sandbox}/_log", timeout=5).json()["requests"]
        return sum(1 for r in log if r["path"].startswith("/vneid/.well-known"))

    app = client.application
    app.extensions.pop("motcua_oidc", None)  # a process that has not read the provider's metadata yet
    monkeypatch.setitem(app.config, "OIDC_RETRY_SECONDS", 3)
    requests.post(f"{sandbox}/_faults", json={"path_prefix": "/vneid/.well-known", "status": 503}, timeout=5)
    try:
        before = discoveries()
        first = client.get("/dang-nhap/vneid")
        assert first.status_code == 503 and "Không kết nối được với VNeID" in first.get_data(as_text=True)
        assert discoveries() == before + 1
        again = client.get("/dang-nhap/vneid")
        assert again.status_code == 503 and discoveries() == before + 1  # told at once, the provider spared
        requests.delete(f"{sandbox}/_faults", timeout=5)
        time.sleep(3.1)  # the time is up: the next login asks the provider again
        back = client.get("/dang-nhap/vneid")
        assert back.status_code == 302 and discoveries() == before + 2
        with app.app_context():
            assert not oidc.unreachable()
    finally:
        requests.delete(f"{sandbox}/_faults", timeout=5)
        app.extensions.pop("motcua_oidc_down_until", None)


def test_the_providers_people_are_the_platforms_seeded_users():
    """Each demo officer and citizen of the provider is the seeded user with the same personal ID (app/seed.py)."""
    from app.seed import USERS
    from sandbox.identity import IDENTITIES

    seeded = {personal_id: name for _, name, _, _, personal_id in USERS if personal_id}
    for identity in IDENTITIES:
        if identity.loai_tai_khoan == "can_bo" or identity.key == "congdan":
            assert seeded.get(identity.so_dinh_danh) == identity.ho_ten, identity.key
