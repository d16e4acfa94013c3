"""Login/logout for the web pages: single sign-on through the national identity provider (VNeID, OpenID Connect:
app/web/oidc.py), and passwords for the break-glass administrator (for every account with one when
PASSWORD_LOGIN_ADMIN_ONLY is off, as in the demo tests). Logging out ends the platform's session and then the
provider's (RP-initiated logout), so that the next login asks who is there."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import requests
from authlib.integrations.base_client import OAuthError
from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext
from flask_login import current_user, login_required, login_user, logout_user
from joserfc.errors import JoseError
from sqlalchemy import select

from app import audit
from app.accounts import (
    MIN_PASSWORD_LENGTH,
    AccountRefused,
    ProviderIdentity,
    authenticate,
    change_password,
    end_session,
    session_id_token,
    sign_in_identity,
    start_session,
)
from app.extensions import csrf, db
from app.models import User
from app.models.user import ADMIN_ROLE
from app.web import api_clients, oidc

bp = Blueprint("auth", __name__)


def _safe_next(target: str | None) -> str | None:
    if not target:
        return None
    parts = urlsplit(target)
    # Only same-site paths: no scheme, no host, no protocol-relative //evil.example.
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target


def uses_password(user: Any) -> bool:
    """Whether the user logs in with a password here: one is set, and passwords are open to them (the
    administrator only, unless PASSWORD_LOGIN_ADMIN_ONLY is off). Others have nothing to change on this site."""
    return bool(user.password_hash) and (not current_app.config["PASSWORD_LOGIN_ADMIN_ONLY"]
                                         or user.has_role(ADMIN_ROLE))


@bp.app_context_processor
def password_links() -> dict[str, Any]:
    return {"uses_password": uses_password}


@bp.route("/dang-nhap", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    error = None
    status = 200
    if request.method == "POST":
        username = request.form.get("username", "").strip()
        user = authenticate(username, request.form.get("password", ""))
        if user is not None and current_app.config["PASSWORD_LOGIN_ADMIN_ONLY"] and not user.has_role(ADMIN_ROLE):
            # Answered as a wrong password: the answer must not tell a guesser that this password was right.
            user = None
        if user is not None:
            audit.record(audit.LOGIN, actor=user, object_kind="user", object_ref=user.username,
                         detail={"method": "password"})
            _begin(user)  # commits the login with its audit row
            return _landing(user, request.args.get("next"))
        error, status = gettext("Tên đăng nhập hoặc mật khẩu không đúng."), 401
        # A failed login, in the chain of the agency whose account was tried (the platform's for anyone else).
        named = db.session.scalar(select(User).where(User.username == username[:80]))
        audit.record(audit.LOGIN_FAILED, agency=named.agency if named is not None else None,
                     object_kind="user", object_ref=username[:80], detail={"method": "password"})
        db.session.commit()
    return render_template("auth/login.html", error=error, sso=oidc.enabled(),
                           passwords_for_all=not current_app.config["PASSWORD_LOGIN_ADMIN_ONLY"],
                           next=_safe_next(request.args.get("next"))), status


def _landing(user: Any, next_target: str | None) -> ResponseReturnValue:
    target = _safe_next(next_target)
    if target:
        return redirect(target)
    if user.is_officer:
        return redirect(url_for("inbox.index"))
    if user.is_designer:
        return redirect(url_for("studio.index"))
    return redirect(url_for("portal.catalogue"))


def _begin(user: Any, loa: int | None = None, id_token: str | None = None) -> None:
    """A new server-side session for this browser (a fresh cookie: no session fixation)."""
    end_session(session.get("_user_id"))
    session.clear()
    start_session(user, current_app.config["SESSION_MAX_AGE_DAYS"], loa=loa, id_token=id_token)
    db.session.commit()
    login_user(user)


_NEXT_KEY = "sso_next"


def _sso_failed(message: str, status: int = 400) -> ResponseReturnValue:
    return render_template("auth/login.html", error=message, sso=oidc.enabled(),
                           passwords_for_all=not current_app.config["PASSWORD_LOGIN_ADMIN_ONLY"], next=None), status


@bp.route("/dang-nhap/vneid")
def sso_start() -> ResponseReturnValue:
    """Off to the identity provider: Authlib keeps state, nonce and the PKCE verifier in the session."""
    client = oidc.provider()
    if client is None:
        abort(404)
    next_target = _safe_next(request.args.get("next"))
    unreachable = gettext("Không kết nối được với VNeID; vui lòng thử lại sau.")
    if oidc.unreachable():  # it failed moments ago: said at once, no thread held waiting for it again
        return _sso_failed(unreachable, 503)
    try:
        answer = client.authorize_redirect(url_for("auth.sso_callback", _external=True))
    except (OSError, ValueError, RuntimeError, requests.RequestException):
        current_app.logger.warning("Identity provider unreachable at %s", current_app.config["OIDC_ISSUER"])
        oidc.answered(False)
        return _sso_failed(unreachable, 503)
    oidc.answered(True)
    if next_target:
        session[_NEXT_KEY] = next_target
    return answer


@bp.route("/dang-nhap/vneid/ket-qua")
def sso_callback() -> ResponseReturnValue:
    """Back from the provider: the code exchanged (with the PKCE verifier), the ID token checked (signature, issuer,
    audience, expiry, nonce), the userinfo read and matched to the ID token's subject, the user found or created."""
    client = oidc.provider()
    if client is None:
        abort(404)
    next_target = session.pop(_NEXT_KEY, None)
    try:
        token = client.authorize_access_token()
        id_claims = token.get("userinfo") or {}
        claims = client.userinfo(token=token)
        if not id_claims.get("sub") or claims.get("sub") != id_claims.get("sub"):
            raise ValueError("sub")
        identity = ProviderIdentity.from_claims(claims)
    except requests.RequestException:
        current_app.logger.warning("Identity provider unreachable at %s", current_app.config["OIDC_ISSUER"])
        return _sso_failed(gettext("Không kết nối được với VNeID; vui lòng thử lại sau."), 503)
    except (OAuthError, JoseError, ValueError, KeyError) as exc:
        current_app.logger.info("Single sign-on refused: %s", exc)
        return _sso_failed(gettext("Đăng nhập bằng VNeID không thành công; vui lòng thử lại."))
    try:
        user = sign_in_identity(identity)
    except AccountRefused as exc:
        db.session.rollback()
        audit.record(audit.LOGIN_FAILED, object_kind="user", object_ref=identity.personal_id[:40],
                     detail={"method": "vneid", "refused": exc.message})
        db.session.commit()
        return _sso_failed(exc.message, 403)
    audit.record(audit.LOGIN, actor=user, object_kind="user", object_ref=user.username,
                 detail={"method": "vneid", "loa": identity.loa})
    _begin(user, loa=identity.loa, id_token=str(token.get("id_token") or "") or None)  # commits both
    return _landing(user, next_target)


@bp.route("/oauth/token", methods=["POST"])
@csrf.exempt
def client_token() -> ResponseReturnValue:
    """OAuth 2 client credentials for other systems calling the API (app/web/api_clients.py)."""
    return api_clients.token_response()


@bp.route("/dang-xuat", methods=["POST"])
def logout() -> ResponseReturnValue:
    ref = session.get("_user_id")
    id_token = session_id_token(ref)
    if current_user.is_authenticated:
        person = current_user._get_current_object()
        audit.record(audit.LOGOUT, actor=person, object_kind="user", object_ref=person.username)
    end_session(ref)  # the cookie, even if kept somewhere, loads nobody any more
    db.session.commit()
    logout_user()
    flash(gettext("Đã đăng xuất."))
    client = oidc.provider() if id_token else None
    if client is not None:
        # The provider's session ends too (RP-initiated logout), and it sends the browser back here.
        try:
            if client.load_server_metadata().get("end_session_endpoint"):
                return client.logout_redirect(post_logout_redirect_uri=url_for("auth.sso_logged_out", _external=True),
                                              id_token_hint=id_token)
        except (OSError, ValueError, RuntimeError, requests.RequestException):
            current_app.logger.warning("Identity provider unreachable at logout")
    return redirect(url_for("portal.catalogue"))


@bp.route("/dang-xuat/vneid")
def sso_logged_out() -> ResponseReturnValue:
    """Back from the provider's logout: the state the request carried is checked and forgotten, then home."""
    client = oidc.provider()
    if client is not None:
        try:
            client.validate_logout_response()
        except OAuthError:
            current_app.logger.info("Logout answer from the identity provider without our state")
    return redirect(url_for("portal.catalogue"))


@bp.route("/doi-mat-khau", methods=["GET", "POST"])
@login_required
def password() -> ResponseReturnValue:
    """Change one's password: every session and API token of the user ends, this browser gets a new session."""
    if not uses_password(current_user):
        flash(gettext("Bạn đăng nhập bằng VNeID: mật khẩu do VNeID quản lý, không đổi ở đây."), "error")
        return redirect(url_for("portal.catalogue"))
    errors: dict[str, str] = {}
    if request.method == "POST":
        new = request.form.get("new", "")
        if authenticate(current_user.username, request.form.get("current", "")) is None:
            errors["current"] = gettext("Mật khẩu hiện tại không đúng.")
        if len(new) < MIN_PASSWORD_LENGTH:
            errors["new"] = gettext("Mật khẩu mới cần ít nhất %(n)s ký tự.", n=MIN_PASSWORD_LENGTH)
        elif len(new) > 200:
            errors["new"] = gettext("Mật khẩu mới quá dài (tối đa 200 ký tự).")
        elif new != request.form.get("confirm", ""):
            errors["confirm"] = gettext("Hai lần nhập mật khẩu mới không khớp.")
        if not errors:
            user = current_user._get_current_object()
            change_password(user, new)
            audit.record(audit.PASSWORD_CHANGED, actor=user, object_kind="user", object_ref=user.username)
            _begin(user)
            flash(gettext("Đã đổi mật khẩu. Các phiên đăng nhập khác và mọi mã truy cập API của bạn đã hết hiệu "
                          "lực."))
            return redirect(url_for("auth.password"))
    return render_template("auth/password.html", errors=errors), 422 if errors else 200
