"""The demo VNeID provider on its own, over real HTTP, as any OpenID Connect client sees it: discovery, the login
page, the code flow with PKCE (S256 required, the verifier checked, a code used once), RS256 tokens verified with
the published JWKS, userinfo, end_session, faults."""

from __future__ import annotations

import base64
import hashlib
import secrets
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests
from joserfc import jwt
from joserfc.jwk import KeySet

CLIENT = ("motcua", "motcua-demo-secret")
REDIRECT = "http://127.0.0.1:5000/dang-nhap/vneid/ket-qua"


def _challenge(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def _authorize(base: str, browser: requests.Session, who: str, verifier: str, **extra: str) -> requests.Response:
    params = {"response_type": "code", "client_id": CLIENT[0], "redirect_uri": REDIRECT,
              "scope": "openid profile vneid", "state": "st", "nonce": secrets.token_hex(8),
              "code_challenge": _challenge(verifier), "code_challenge_method": "S256", **extra}
    page = browser.get(f"{base}/vneid/authorize", params={k: v for k, v in params.items() if v},
                       allow_redirects=False, timeout=10)
    if page.status_code != 200 or 'name="nguoi"' not in page.text:
        return page
    return browser.post(page.url, data={"nguoi": who}, allow_redirects=False, timeout=10)


def _code(answer: requests.Response) -> str:
    assert answer.status_code == 302, answer.text[:300]
    query = parse_qs(urlsplit(answer.headers["Location"]).query)
    assert query["state"] == ["st"]
    return query["code"][0]


def _exchange(base: str, code: str, verifier: str) -> requests.Response:
    return requests.post(f"{base}/vneid/token", auth=CLIENT, timeout=10, data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT, "code_verifier": verifier})


def test_discovery_names_every_endpoint_and_s256(base_url: str) -> None:
    meta = requests.get(f"{base_url}/vneid/.well-known/openid-configuration", timeout=5).json()
    assert meta["issuer"] == f"{base_url}/vneid"
    for name in ("authorization", "token", "userinfo", "end_session"):
        assert meta[f"{name}_endpoint"].startswith(meta["issuer"])
    assert meta["code_challenge_methods_supported"] == ["S256"]
    assert meta["id_token_signing_alg_values_supported"] == ["RS256"]


def test_the_code_flow_gives_signed_tokens_and_userinfo(base_url: str) -> None:
    verifier = secrets.token_urlsafe(48)
    code = _code(_authorize(base_url, requests.Session(), "doanhnghiep", verifier))
    tokens: dict[str, Any] = _exchange(base_url, code, verifier).json()
    keys = KeySet.import_key_set(requests.get(f"{base_url}/vneid/jwks", timeout=5).json())
    id_token = jwt.decode(tokens["id_token"], keys, algorithms=["RS256"])
    assert id_token.header["alg"] == "RS256" and id_token.claims["aud"] == [CLIENT[0]]
    assert id_token.claims["iss"] == f"{base_url}/vneid" and id_token.claims["muc_dinh_danh"] == 2
    access = jwt.decode(tokens["access_token"], keys, algorithms=["RS256"])
    assert access.header["typ"] == "at+jwt" and access.claims["aud"] == CLIENT[0]
    info = requests.get(f"{base_url}/vneid/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"},
                        timeout=5).json()
    assert info["sub"] == id_token.claims["sub"] and info["so_dinh_danh"] == "001090012345"
    assert info["loai_tai_khoan"] == "doanh_nghiep" and info["ten_doanh_nghiep"].startswith("Công ty")
    assert info["ngay_sinh"] == "1990-05-12" and len(info["ma_so_doanh_nghiep"]) == 10
    # A code serves once.
    assert _exchange(base_url, code, verifier).json()["error"] == "invalid_grant"


def test_pkce_is_required_and_checked(base_url: str) -> None:
    for missing in ({"code_challenge": "", "code_challenge_method": ""}, {"code_challenge_method": "plain"}):
        refused = _authorize(base_url, requests.Session(), "congdan", "v" * 50, **missing)
        assert refused.status_code == 400 and "code_challenge" in refused.text  # shown at the provider
    verifier = secrets.token_urlsafe(48)
    code = _code(_authorize(base_url, requests.Session(), "congdan", verifier))
    assert _exchange(base_url, code, secrets.token_urlsafe(48)).json()["error"] == "invalid_grant"


def test_a_foreign_redirect_uri_is_never_followed(base_url: str) -> None:
    page = requests.get(f"{base_url}/vneid/authorize", allow_redirects=False, timeout=5, params={
        "response_type": "code", "client_id": CLIENT[0], "redirect_uri": "https://evil.example/cb",
        "scope": "openid", "state": "s", "nonce": "n", "code_challenge": _challenge("v" * 50),
        "code_challenge_method": "S256"})
    assert page.status_code == 400 and "evil.example" not in page.headers.get("Location", "")


def test_userinfo_needs_a_valid_token(base_url: str) -> None:
    assert requests.get(f"{base_url}/vneid/userinfo", timeout=5).status_code == 401
    assert requests.get(f"{base_url}/vneid/userinfo", headers={"Authorization": "Bearer a.b.c"},
                        timeout=5).status_code == 401


def test_end_session_forgets_the_person(base_url: str) -> None:
    browser = requests.Session()
    verifier = secrets.token_urlsafe(48)
    tokens = _exchange(base_url, _code(_authorize(base_url, browser, "congdan", verifier)), verifier).json()
    again = secrets.token_urlsafe(48)  # a live session: no login page the second time
    assert _authorize(base_url, browser, "", again).status_code == 302
    out = browser.get(f"{base_url}/vneid/logout", allow_redirects=False, timeout=5, params={
        "id_token_hint": tokens["id_token"], "post_logout_redirect_uri": "http://127.0.0.1:5000/"})
    assert out.status_code == 302 and out.headers["Location"] == "http://127.0.0.1:5000/"
    page = browser.get(f"{base_url}/vneid/authorize", timeout=5, params={
        "response_type": "code", "client_id": CLIENT[0], "redirect_uri": REDIRECT, "scope": "openid", "state": "s",
        "nonce": "n2", "code_challenge": _challenge(again), "code_challenge_method": "S256"})
    assert page.status_code == 200 and 'name="nguoi"' in page.text


def test_faults_reach_the_provider(base_url: str) -> None:
    requests.post(f"{base_url}/_faults", json={"path_prefix": "/vneid/jwks", "status": 503}, timeout=5)
    assert requests.get(f"{base_url}/vneid/jwks", timeout=5).status_code == 503
    assert requests.get(f"{base_url}/vneid/jwks", timeout=5).status_code == 200
