"""Sandbox: a VNeID-style OpenID Connect provider (the national electronic identity), over real HTTP.

Everything protocol-shaped is Authlib's server side (authorization code grant, PKCE S256, OpenID Connect ID
tokens, RFC 9068 JWT access tokens, RP-initiated logout) and joserfc's JOSE (RS256 signatures, the JWKS); this
module only holds the demo people, the login page and the in-memory stores.

- ``GET /vneid/.well-known/openid-configuration`` discovery, ``GET /vneid/jwks`` the public keys;
- ``GET /vneid/authorize`` the login page, where a demo person is chosen (a live provider session skips it
  unless ``prompt=login``); ``POST /vneid/authorize`` logs the chosen person in and answers the code;
- ``POST /vneid/token`` (client_secret_basic or _post, PKCE verifier required);
- ``GET|POST /vneid/userinfo`` (bearer access token): ``so_dinh_danh``, ``name``, ``birthdate``,
  ``loai_tai_khoan`` (cong_dan / doanh_nghiep with ``ma_so_doanh_nghiep`` and ``ten_doanh_nghiep`` / can_bo),
  ``muc_dinh_danh`` (level of assurance 1 or 2);
- ``GET|POST /vneid/logout`` (end_session, ``id_token_hint`` + ``post_logout_redirect_uri``) ends the provider
  session.

Test hooks: ``GET /_vneid/sessions`` the live provider sessions (``DELETE`` ends them all);
``POST /_vneid/tokens`` ``{"nguoi": "congdan", "expires_in": -60, "aud": "…"}`` mints an access token as the
token endpoint would (an expired one for a test, say). Clients: the demo client (``VNEID_CLIENT_ID`` /
``VNEID_CLIENT_SECRET`` in the app config) may redirect to any loopback address (127.0.0.1, localhost), where the
demo platform and the tests run.
"""

from __future__ import annotations

import hmac
import secrets
import time
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Final
from urllib.parse import urlsplit

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import ClientMixin, InvalidRequestError, grants
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc9068 import JWTBearerTokenGenerator
from authlib.oidc.core import UserInfo
from authlib.oidc.core.grants import OpenIDCode
from authlib.oidc.rpinitiated import EndSessionEndpoint
from flask import Blueprint, Flask, Response, jsonify, make_response, render_template_string, request
from flask.typing import ResponseReturnValue
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet, RSAKey

from sandbox.common import Refused, Service, attach_state, is_int, json_object, state
from sandbox.seed import DEMO_CITIZEN_ID, DEMO_SPOUSE_ID, DEMO_TAX_CODE

__all__ = ["DEFAULT_CLIENT_ID", "DEFAULT_CLIENT_SECRET", "IDENTITIES", "Identity", "bp"]

DEFAULT_CLIENT_ID: Final = "motcua"
DEFAULT_CLIENT_SECRET: Final = "motcua-demo-secret"  # noqa: S105 - the demo client's published secret
PREFIX: Final = "/vneid"
COOKIE: Final = "vneid_sid"
CODE_SECONDS: Final = 300
TOKEN_SECONDS: Final = 3600
SCOPES: Final = ("openid", "profile", "vneid")

bp = Blueprint("identity", __name__)


@dataclass(frozen=True)
class Identity:
    """A person who can log in at the provider (as one kind of account)."""

    key: str
    so_dinh_danh: str
    ho_ten: str
    ngay_sinh: date
    loai_tai_khoan: str  # cong_dan | doanh_nghiep | can_bo
    muc_dinh_danh: int  # level of assurance: 1 (self-declared), 2 (identity proofed)
    ma_so_doanh_nghiep: str | None = None
    ten_doanh_nghiep: str | None = None

    @property
    def sub(self) -> str:
        """Stable per account: a business account of a person is another subject than the person's own."""
        if self.ma_so_doanh_nghiep:
            return f"dn.{self.ma_so_doanh_nghiep}.{self.so_dinh_danh}"
        return self.so_dinh_danh

    def get_user_id(self) -> str:  # Authlib
        return self.sub

    def claims(self) -> dict[str, Any]:
        out: dict[str, Any] = {"sub": self.sub, "name": self.ho_ten, "birthdate": self.ngay_sinh.isoformat(),
                               "so_dinh_danh": self.so_dinh_danh, "ho_ten": self.ho_ten,
                               "ngay_sinh": self.ngay_sinh.isoformat(), "loai_tai_khoan": self.loai_tai_khoan,
                               "muc_dinh_danh": self.muc_dinh_danh}
        if self.loai_tai_khoan == "doanh_nghiep":
            out |= {"ma_so_doanh_nghiep": self.ma_so_doanh_nghiep, "ten_doanh_nghiep": self.ten_doanh_nghiep}
        return out


# The citizens are the demo household of the population database (sandbox.seed); the business is the demo company
# of the business registry, represented by the demo citizen; the officers are the platform's seeded officers
# (app/seed.py carries the same personal IDs).
IDENTITIES: Final[tuple[Identity, ...]] = (
    Identity("congdan", DEMO_CITIZEN_ID, "Nguyễn Văn An", date(1990, 5, 12), "cong_dan", 2),
    Identity("binh", DEMO_SPOUSE_ID, "Trần Thị Bình", date(1995, 8, 20), "cong_dan", 1),
    Identity("doanhnghiep", DEMO_CITIZEN_ID, "Nguyễn Văn An", date(1990, 5, 12), "doanh_nghiep", 2,
             DEMO_TAX_CODE, "Công ty TNHH Dịch vụ Một Cửa An Bình"),
    Identity("tiepnhan", "001188001001", "Nguyễn Thị Tiếp", date(1988, 3, 4), "can_bo", 2),
    Identity("hotich", "001082001002", "Trần Văn Hộ", date(1982, 7, 15), "can_bo", 2),
    Identity("chutich", "001075001003", "Lê Minh Chủ", date(1975, 1, 20), "can_bo", 2),
    Identity("traketqua", "001190001004", "Phạm Thu Trả", date(1990, 11, 2), "can_bo", 2),
    Identity("truongphong", "001180001005", "Bùi Thị Phòng", date(1980, 9, 9), "can_bo", 2),
    Identity("ca.tiepnhan", "001087001006", "Đỗ Văn Nhận", date(1987, 6, 30), "can_bo", 2),
    Identity("ca.cutru", "001192001007", "Vũ Thị Cư", date(1992, 4, 18), "can_bo", 2),
    Identity("ca.truong", "001078001008", "Hoàng Văn Trưởng", date(1978, 12, 1), "can_bo", 2),
    Identity("bhxh.the", "001191001009", "Lương Thị Thẻ", date(1991, 2, 25), "can_bo", 2),
    Identity("thietke", "001089001010", "Ngô Thiết Kế", date(1989, 10, 10), "can_bo", 2),
)
_BY_KEY: Final = {identity.key: identity for identity in IDENTITIES}
_BY_SUB: Final = {identity.sub: identity for identity in IDENTITIES}
_KIND_LABELS: Final = {"cong_dan": "Công dân", "doanh_nghiep": "Doanh nghiệp", "can_bo": "Cán bộ"}


# ------------------------------------------------------------------ the provider's state


@dataclass
class Client(ClientMixin):
    client_id: str
    client_secret: str

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str | None:
        return None

    def get_allowed_scope(self, scope: str) -> str:
        return " ".join(s for s in (scope or "").split() if s in SCOPES)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return _loopback(redirect_uri)

    def check_client_secret(self, client_secret: str) -> bool:
        return hmac.compare_digest(client_secret.encode(), self.client_secret.encode())

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method in ("client_secret_basic", "client_secret_post")

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "authorization_code"

    @property
    def client_metadata(self) -> dict[str, Any]:
        return {}


def _loopback(uri: str) -> bool:
    parts = urlsplit(uri)
    return parts.scheme in ("http", "https") and parts.hostname in ("127.0.0.1", "localhost") and not parts.fragment


@dataclass
class Code:
    code: str
    client_id: str
    redirect_uri: str
    scope: str
    sub: str
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    auth_time: int
    expires_at: float

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> str | None:
        return self.nonce

    def get_auth_time(self) -> int:
        return self.auth_time

    def get_acr(self) -> str | None:
        identity = _BY_SUB.get(self.sub)
        return str(identity.muc_dinh_danh) if identity else None

    def get_amr(self) -> list[str] | None:
        return None


@dataclass
class ProviderSession:
    sid: str
    sub: str
    auth_time: int
    started: float = field(default_factory=time.time)


class Provider(Service):
    def __init__(self, app: Flask) -> None:
        super().__init__()
        self._key: RSAKey | None = None
        self.client = Client(str(app.config.get("VNEID_CLIENT_ID", DEFAULT_CLIENT_ID)),
                             str(app.config.get("VNEID_CLIENT_SECRET", DEFAULT_CLIENT_SECRET)))
        self.codes: dict[str, Code] = {}
        self.sessions: dict[str, ProviderSession] = {}
        self.used_nonces: set[str] = set()
        self.server = _build_server(app, self)

    @property
    def key(self) -> RSAKey:
        """The signing key, made on first use (a sandbox built only for its other services never pays for it)."""
        with self.lock:
            if self._key is None:
                self._key = RSAKey.generate_key(2048, parameters={"kid": secrets.token_hex(8), "use": "sig",
                                                                  "alg": "RS256"})
            return self._key

    def jwks(self) -> dict[str, Any]:
        return dict(KeySet([self.key]).as_dict(private=False))

    def dump(self) -> dict[str, Any]:
        return {"sessions": [{"sub": s.sub, "auth_time": s.auth_time} for s in self.sessions.values()]}

    def clear(self) -> None:
        self.sessions.clear()


def _provider() -> Provider:
    return state("vneid", Provider)


def issuer() -> str:
    """Where this provider is reached: the issuer identifier follows the host and port it listens on."""
    return request.host_url.rstrip("/") + PREFIX


# ------------------------------------------------------------------ Authlib's server, configured


class CodeGrant(grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]

    def save_authorization_code(self, code: str, req: Any) -> None:
        provider = _provider()
        data = req.payload.data
        with provider.lock:
            if data.get("nonce"):
                provider.used_nonces.add(data["nonce"])
            provider.codes[code] = Code(
                code=code, client_id=req.client.get_client_id(), redirect_uri=req.payload.redirect_uri,
                scope=req.payload.scope, sub=req.user.sub, nonce=data.get("nonce"),
                code_challenge=data.get("code_challenge"), code_challenge_method=data.get("code_challenge_method"),
                auth_time=int(getattr(req.user, "auth_time", time.time())), expires_at=time.time() + CODE_SECONDS)

    def query_authorization_code(self, code: str, client: Client) -> Code | None:
        found = _provider().codes.get(code)
        if found is None or found.client_id != client.get_client_id() or found.expires_at < time.time():
            return None
        return found

    def delete_authorization_code(self, authorization_code: Code) -> None:
        provider = _provider()
        with provider.lock:
            provider.codes.pop(authorization_code.code, None)

    def authenticate_user(self, authorization_code: Code) -> Identity | None:
        return _BY_SUB.get(authorization_code.sub)


class IdToken(OpenIDCode):
    def exists_nonce(self, nonce: str, req: Any) -> bool:
        """A nonce is spent once a code was issued with it (a replayed authorization request is refused)."""
        return nonce in _provider().used_nonces

    def resolve_client_private_key(self, client: Client) -> RSAKey:
        return _provider().key

    def get_client_algorithm(self, client: Client) -> str:
        return "RS256"

    def get_encode_header(self, client: Client) -> dict[str, str]:
        return {"alg": "RS256", "kid": str(_provider().key.kid)}

    def get_client_claims(self, client: Client) -> dict[str, Any]:
        return {"iss": issuer(), "aud": [client.get_client_id()], "exp": int(time.time()) + TOKEN_SECONDS}

    def generate_user_info(self, user: Identity, scope: str) -> UserInfo:
        return UserInfo(user.claims())


class AccessTokens(JWTBearerTokenGenerator):
    """RFC 9068 access tokens: the platform's API validates them with the JWKS (issuer, audience, expiry)."""

    def __init__(self) -> None:
        super().__init__(issuer="", alg="RS256")

    def access_token_generator(self, client: Any, grant_type: str, user: Any, scope: str) -> str:
        self.issuer = issuer()  # the host the request came to
        return str(super().access_token_generator(client, grant_type, user, scope))

    def get_jwks(self) -> KeySet:
        return KeySet([_provider().key])

    def get_extra_claims(self, client: Any, grant_type: str, user: Any, scope: str) -> dict[str, Any]:
        return user.claims() if isinstance(user, Identity) else {}

    def get_acr(self, user: Any) -> str | None:
        return str(user.muc_dinh_danh) if isinstance(user, Identity) else None


class S256Required(CodeChallenge):
    """PKCE for every client, confidential ones too, and S256 only (Authlib asks it of public clients alone)."""

    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        data = grant.request.payload.data
        if not data.get("code_challenge"):
            raise InvalidRequestError("Missing 'code_challenge': PKCE (S256) is required")
        if data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("Unsupported 'code_challenge_method': only S256")
        super().validate_code_challenge(grant, redirect_uri)


class EndSession(EndSessionEndpoint):
    def get_server_jwks(self) -> KeySet:
        return KeySet([_provider().key])

    def get_algorithms(self) -> list[str]:
        return ["RS256"]

    def resolve_client_from_id_token_claims(self, id_token_claims: dict[str, Any]) -> Client | None:
        aud = id_token_claims.get("aud")
        audiences = [aud] if isinstance(aud, str) else list(aud or [])
        client = _provider().client
        return client if client.client_id in audiences else None

    def _is_valid_post_logout_redirect_uri(self, client: Any, post_logout_redirect_uri: str) -> bool:
        return _loopback(post_logout_redirect_uri)

    def end_session(self, end_session_request: Any) -> None:
        provider = _provider()
        sid = request.cookies.get(COOKIE, "")
        claims = end_session_request.id_token_claims or {}
        with provider.lock:
            provider.sessions.pop(sid, None)
            if claims.get("sid"):
                provider.sessions.pop(str(claims["sid"]), None)


def _build_server(app: Flask, provider: Provider) -> AuthorizationServer:
    server = AuthorizationServer()
    server.init_app(app, query_client=lambda client_id: provider.client if client_id == provider.client.client_id
                    else None, save_token=lambda token, req: None)  # JWT access tokens: nothing to store
    server.register_token_generator("default", AccessTokens())
    server.register_grant(CodeGrant, [S256Required(required=True), IdToken(require_nonce=True)])
    server.register_endpoint(EndSession())
    return server


attach_state(bp, "vneid", Provider, hook="/_vneid/sessions")


# ------------------------------------------------------------------ endpoints


@bp.get(f"{PREFIX}/.well-known/openid-configuration")
def discovery() -> Response:
    base = issuer()
    return jsonify({
        "issuer": base,
        "authorization_endpoint": f"{base}/authorize",
        "token_endpoint": f"{base}/token",
        "userinfo_endpoint": f"{base}/userinfo",
        "jwks_uri": f"{base}/jwks",
        "end_session_endpoint": f"{base}/logout",
        "response_types_supported": ["code"],
        "grant_types_supported": ["authorization_code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "code_challenge_methods_supported": ["S256"],
        "scopes_supported": list(SCOPES),
        "claims_supported": ["sub", "name", "birthdate", "so_dinh_danh", "ho_ten", "ngay_sinh", "loai_tai_khoan",
                             "muc_dinh_danh", "ma_so_doanh_nghiep", "ten_doanh_nghiep"],
    })


@bp.get(f"{PREFIX}/jwks")
def jwks() -> Response:
    return jsonify(_provider().jwks())


def _current_session() -> ProviderSession | None:
    return _provider().sessions.get(request.cookies.get(COOKIE, ""))


@bp.route(f"{PREFIX}/authorize", methods=["GET", "POST"])
def authorize() -> ResponseReturnValue:
    server = _provider().server
    try:
        grant = server.get_consent_grant(end_user=None)
    except OAuth2Error as exc:  # no redirect to an unchecked address: the error is shown here
        return _page(error=f"{exc.error}: {exc.description or ''}"), 400
    if request.method == "GET":
        live = _current_session()
        if live is None or request.args.get("prompt") == "login":
            return _page()
        return _grant(server, grant, live)
    chosen = _BY_KEY.get(request.form.get("nguoi", ""))
    if chosen is None:
        return _page(error="Vui lòng chọn một người để đăng nhập."), 422
    live = ProviderSession(secrets.token_urlsafe(24), chosen.sub, int(time.time()))
    provider = _provider()
    with provider.lock:
        provider.sessions[live.sid] = live
    response = _grant(server, grant, live)
    response.set_cookie(COOKIE, live.sid, httponly=True, samesite="Lax", path=PREFIX)
    return response


def _grant(server: AuthorizationServer, grant: Any, live: ProviderSession) -> Response:
    user = _BY_SUB[live.sub]
    setattr(grant.request, "user", user)  # noqa: B010
    answer = server.create_authorization_response(grant_user=_Authenticated(user, live.auth_time), grant=grant)
    return make_response(answer)


class _Authenticated:
    """The person as the grant sees them: their claims, and when they logged in at the provider."""

    def __init__(self, identity: Identity, auth_time: int) -> None:
        self.identity, self.auth_time, self.sub = identity, auth_time, identity.sub

    def get_user_id(self) -> str:
        return self.sub


@bp.post(f"{PREFIX}/token")
def token() -> ResponseReturnValue:
    return _provider().server.create_token_response()


def _verify_access_token(value: str) -> dict[str, Any] | None:
    try:
        decoded = jwt.decode(value, KeySet([_provider().key]), algorithms=["RS256"])
        jwt.JWTClaimsRegistry(iss={"essential": True, "value": issuer()}, exp={"essential": True},
                              sub={"essential": True}).validate(decoded.claims)
    except (JoseError, ValueError):
        return None
    return dict(decoded.claims)


@bp.route(f"{PREFIX}/userinfo", methods=["GET", "POST"])
def userinfo() -> ResponseReturnValue:
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    claims = _verify_access_token(value.strip()) if scheme.lower() == "bearer" else None
    identity = _BY_SUB.get(str(claims.get("sub"))) if claims else None
    if identity is None:
        answer = jsonify({"error": "invalid_token", "error_description": "Mã truy cập không hợp lệ hoặc đã hết hạn."})
        return answer, 401, {"WWW-Authenticate": 'Bearer error="invalid_token"'}
    return jsonify(identity.claims())


@bp.route(f"{PREFIX}/logout", methods=["GET", "POST"])
def logout() -> ResponseReturnValue:
    server = _provider().server
    try:
        req = server.validate_endpoint_request("end_session")
    except OAuth2Error as exc:
        return _page(error=f"{exc.error}: {exc.description or ''}", logged_out=True), 400
    answer = server.create_endpoint_response("end_session", req)
    response = make_response(answer) if answer is not None else make_response(_page(logged_out=True))
    response.delete_cookie(COOKIE, path=PREFIX)
    return response


@bp.post("/_vneid/tokens")
def mint_token() -> ResponseReturnValue:
    """Test hook: an access token for a demo person, as the token endpoint would issue it, with the expiry and
    audience asked for (an expired token, or one for another audience)."""
    body = json_object()
    identity = _BY_KEY.get(str(body.get("nguoi", "")))
    if identity is None:
        raise Refused(422, "du_lieu_khong_hop_le", "“nguoi” phải là một người của danh sách demo.")
    expires_in = body.get("expires_in", TOKEN_SECONDS)
    if not is_int(expires_in):
        raise Refused(422, "du_lieu_khong_hop_le", "“expires_in” phải là số nguyên (giây).")
    provider = _provider()
    now = int(time.time())
    claims = {"iss": issuer(), "sub": identity.sub, "aud": str(body.get("aud", provider.client.client_id)),
              "client_id": provider.client.client_id, "iat": now - 120, "exp": now + expires_in,
              "jti": secrets.token_hex(8), "scope": "openid profile vneid", **identity.claims()}
    value = jwt.encode({"alg": "RS256", "kid": str(provider.key.kid), "typ": "at+jwt"}, claims, provider.key)
    return jsonify({"access_token": value, "token_type": "Bearer"}), 201


_PAGE: Final = """<!doctype html>
<html lang="vi"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>VNeID (mô phỏng) — Đăng nhập</title>
<style>
body{font-family:system-ui,sans-serif;margin:0;background:#f4f4f4;color:#1a1a1a}
header{background:#a50e0e;color:#fff;padding:1rem}
header h1{margin:0;font-size:1.4rem}
main{max-width:40rem;margin:0 auto;padding:1rem}
fieldset{border:1px solid #767676;background:#fff;padding:1rem;margin:0 0 1rem}
legend{font-weight:bold;padding:0 .25rem}
label{display:flex;gap:.5rem;align-items:flex-start;padding:.5rem 0;border-bottom:1px solid #ddd;cursor:pointer}
label span{overflow-wrap:anywhere}
.muted{color:#4a4a4a;font-size:.9rem}
.error{background:#fde8e8;border:1px solid #a50e0e;padding:.75rem}
button{background:#a50e0e;color:#fff;border:0;padding:.75rem 1.5rem;font-size:1rem;cursor:pointer}
button:focus,input:focus{outline:3px solid #1d4ed8;outline-offset:2px}
</style></head>
<body><header><h1>VNeID — Định danh điện tử (mô phỏng)</h1></header>
<main>
{% if error %}<p class="error" role="alert">{{ error }}</p>{% endif %}
{% if logged_out %}<p>Đã đăng xuất khỏi VNeID.</p>{% else %}
<p>Đây là nhà cung cấp định danh thử nghiệm: chọn người sẽ đăng nhập (không cần mật khẩu).</p>
<form method="post">
{% for kind, people in groups %}<fieldset><legend>{{ kind }}</legend>
{% for p in people %}<label><input type="radio" name="nguoi" value="{{ p.key }}" required>
<span><strong>{{ p.ho_ten }}</strong>{% if p.ten_doanh_nghiep %} — {{ p.ten_doanh_nghiep }}
(MSDN {{ p.ma_so_doanh_nghiep }}){% endif %}<br><span class="muted">Số định danh {{ p.so_dinh_danh }},
mức định danh {{ p.muc_dinh_danh }}</span></span></label>
{% endfor %}</fieldset>{% endfor %}
<button type="submit">Đăng nhập</button>
</form>{% endif %}
</main></body></html>"""


def _page(error: str | None = None, logged_out: bool = False) -> str:
    groups = [(label, [p for p in IDENTITIES if p.loai_tai_khoan == kind]) for kind, label in _KIND_LABELS.items()]
    return render_template_string(_PAGE, error=error, logged_out=logged_out, groups=groups)

