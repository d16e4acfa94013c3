"""Login/logout for the web pages (demo password accounts; OIDC single sign-on comes later)."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import login_user, logout_user

from app.accounts import authenticate

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
        user = authenticate(request.form.get("username", "").strip(), request.form.get("password", ""))
        if user is not None:
            login_user(user)
            target = _safe_next(request.args.get("next"))
            if target:
                return redirect(target)
            if user.is_officer:
                return redirect(url_for("inbox.index"))
            if user.is_designer:
                return redirect(url_for("studio.index"))
            return redirect(url_for("portal.catalogue"))
        error = "Tên đăng nhập hoặc mật khẩu không đúng."
    return render_template("auth/login.html", error=error), 401 if error else 200


@bp.route("/dang-xuat", methods=["POST"])
def logout() -> ResponseReturnValue:
    logout_user()
    flash("Đã đăng xuất.")
    return redirect(url_for("portal.catalogue"))
