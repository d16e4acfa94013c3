"""Accounts: password login for the web, bearer tokens for the API (single sign-on comes later)."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import joinedload
from werkzeug.security import check_password_hash, generate_password_hash

from app.clock import now_utc
from app.extensions import db
from app.models import ApiToken, User, UserSession

MIN_PASSWORD_LENGTH = 8


def set_password(user: User, password: str) -> None:
    user.password_hash = generate_password_hash(password)


def change_password(user: User, new_password: str) -> None:
    """A new password ends every session of the user and revokes their API tokens (a stolen cookie or
    token dies with the old password)."""
    set_password(user, new_password)
    end_all_sessions(user)
    revoke_tokens(user)


def authenticate(username: str, password: str) -> User | None:
    user = db.session.scalar(select(User).where(User.username == username))
    if user is None or not user.active or not user.password_hash:
        # Spend the same time as a real check so usernames cannot be probed by timing.
        check_password_hash(generate_password_hash("x"), password)
        return None
    return user if check_password_hash(user.password_hash, password) else None


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(user: User, days: int) -> str:
    """A new random bearer token; only its hash is stored, so it is shown once."""
    token = "mc_" + secrets.token_urlsafe(32)
    db.session.add(ApiToken(user_id=user.id, token_sha256=_digest(token),
                            expires_at=now_utc() + timedelta(days=days)))
    return token


def revoke_tokens(user: User) -> None:
    db.session.execute(delete(ApiToken).where(ApiToken.user_id == user.id))


def user_for_token(token: str) -> User | None:
    if not token or len(token) > 200:
        return None
    row = db.session.scalar(select(ApiToken).where(ApiToken.token_sha256 == _digest(token))
                            .options(joinedload(ApiToken.user)))  # every API request: one statement, not two
    if row is None or row.expires_at <= now_utc() or not row.user.active:
        return None
    return row.user


# ---------------------------------------------------------------- web sessions


def start_session(user: User, max_age_days: float) -> str:
    """A new server-side session; returns the reference the signed cookie carries ("<user id>.<random>").

    The user's sessions past their age (browsers closed without logging out) are dropped on the way.
    """
    db.session.execute(delete(UserSession).where(
        UserSession.user_id == user.id, UserSession.created_at <= now_utc() - timedelta(days=max_age_days)))
    secret = secrets.token_urlsafe(32)
    db.session.add(UserSession(user_id=user.id, token_sha256=_digest(secret)))
    user.session_ref = f"{user.id}.{secret}"
    return user.session_ref


def _session_row(ref: str) -> UserSession | None:
    user_id, _, secret = ref.partition(".")
    if not user_id.isdigit() or len(user_id) > 10 or not secret or len(secret) > 100:
        return None
    # With its user and the user's agency (every page shows them): one statement per request, not three.
    row = db.session.scalar(select(UserSession).where(UserSession.token_sha256 == _digest(secret))
                            .options(joinedload(UserSession.user).joinedload(User.agency)))
    return row if row is not None and row.user_id == int(user_id) else None


def user_for_session(ref: str, max_age_days: float) -> User | None:
    """The user of a live session, or None when it was ended, is too old or its user is disabled."""
    row = _session_row(ref)
    if row is None or row.created_at <= now_utc() - timedelta(days=max_age_days) or not row.user.active:
        return None
    row.user.session_ref = ref
    return row.user


def end_session(ref: str | None) -> None:
    row = _session_row(ref) if ref else None
    if row is not None:
        db.session.delete(row)


def end_all_sessions(user: User) -> None:
    db.session.execute(delete(UserSession).where(UserSession.user_id == user.id))
    user.session_ref = None
