"""Login/logout for the web pages (demo password accounts; OIDC single sign-on comes later)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, current_app, flash, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext
from flask_login import current_user, login_required, login_user, logout_user
from sqlalchemy import select

from app import audit
from app.accounts import (
    MIN_PASSWORD_LENGTH,
    authenticate,
    change_password,
    end_session,
    start_session,
)
from app.extensions import db
from app.models import User

bp = Blueprint("auth", __name__)


def _safe_next(target: str | None) -> str | None:
    if not target:
        return None
    parts = urlsplit(target)
    # Only same-site paths: no scheme, no host, no protocol-relative //evil.example.
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target


@bp.route("/dang-nhap", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    error = None
    if request.method == "POST":
        username = request.form.get("username", "").strip()
        user = authenticate(username, request.form.get("password", ""))
        if user is not None:
            audit.record(audit.LOGIN, actor=user, object_kind="user", object_ref=user.username)
            _begin(user)  # commits the login with its audit row
            target = _safe_next(request.args.get("next"))
            if target:
                return redirect(target)
            if user.is_officer:
                return redirect(url_for("inbox.index"))
            if user.is_designer:
                return redirect(url_for("studio.index"))
            return redirect(url_for("portal.catalogue"))
        error = gettext("Tên đăng nhập hoặc mật khẩu không đúng.")
        # A failed login, in the chain of the agency whose account was tried (the platform's for anyone else).
        named = db.session.scalar(select(User).where(User.username == username[:80]))
        audit.record(audit.LOGIN_FAILED, agency=named.agency if named is not None else None,
                     object_kind="user", object_ref=username[:80])
        db.session.commit()
    return render_template("auth/login.html", error=error), 401 if error else 200


def _begin(user: Any) -> None:
    """A new server-side session for this browser (a fresh cookie: no session fixation)."""
    end_session(session.get("_user_id"))
    session.clear()
    start_session(user, current_app.config["SESSION_MAX_AGE_DAYS"])
    db.session.commit()
    login_user(user)


@bp.route("/dang-xuat", methods=["POST"])
def logout() -> ResponseReturnValue:
    if current_user.is_authenticated:
        person = current_user._get_current_object()
        audit.record(audit.LOGOUT, actor=person, object_kind="user", object_ref=person.username)
    end_session(session.get("_user_id"))  # the cookie, even if kept somewhere, loads nobody any more
    db.session.commit()
    logout_user()
    flash(gettext("Đã đăng xuất."))
    return redirect(url_for("portal.catalogue"))


@bp.route("/doi-mat-khau", methods=["GET", "POST"])
@login_required
def password() -> ResponseReturnValue:
    """Change one's password: every session and API token of the user ends, this browser gets a new session."""
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
