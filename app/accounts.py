"""Accounts: who a login is. Single sign-on through the national identity provider (people found by personal ID,
citizens and businesses created on their first login, officers only matched), a password for the break-glass
administrator (and every demo account where the configuration allows it), bearer tokens for the API."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from flask_babel import gettext
from sqlalchemy import delete, select
from sqlalchemy.orm import joinedload
from werkzeug.security import check_password_hash, generate_password_hash

from app.clock import now_utc
from app.extensions import db
from app.models import Agency, ApiClient, ApiToken, User, UserSession
from app.models.user import ADMIN_ROLE, API_SCOPES, CITIZEN_ROLE, DESIGNER_ROLE

# Account types (loai_tai_khoan) the identity provider asserts.
CITIZEN_ACCOUNT, BUSINESS_ACCOUNT, OFFICER_ACCOUNT = "cong_dan", "doanh_nghiep", "can_bo"

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
                            .options(joinedload(ApiToken.user), joinedload(ApiToken.api_client)))  # one statement
    if row is None or row.expires_at <= now_utc() or not row.user.active:
        return None
    if row.api_client_id is not None:
        if row.api_client is None or row.api_client.revoked_at is not None:
            return None
        row.user.api_scopes = list(row.scopes or [])
    return row.user


# ---------------------------------------------------------------- API clients (client credentials)


def create_api_client(name: str, scopes: list[str], *, agency: Agency | None = None,
                      roles: list[str] | None = None) -> tuple[ApiClient, str]:
    """A new API client and its secret (shown once: only its SHA-256 is stored). It acts as a service account with
    `agency` and `roles` (the service layer's rules apply to it as to an officer), within `scopes`."""
    unknown = [s for s in scopes if s not in API_SCOPES]
    if unknown or not scopes:
        raise ValueError(", ".join(unknown) or "scopes")
    client_id = "mcc_" + secrets.token_hex(12)
    secret = secrets.token_urlsafe(32)
    account = User(username=f"client.{client_id}", full_name=name[:255], roles=list(roles or []),
                   agency_id=agency.id if agency is not None else None, password_hash="")
    db.session.add(account)
    db.session.flush()
    client = ApiClient(client_id=client_id, name=name[:255], secret_sha256=_digest(secret), scopes=list(scopes),
                       user_id=account.id)
    db.session.add(client)
    db.session.flush()
    return client, secret


def api_client(client_id: str) -> ApiClient | None:
    """A live (not revoked) API client by its id."""
    if not client_id or len(client_id) > 64:
        return None
    client = db.session.scalar(select(ApiClient).where(ApiClient.client_id == client_id))
    return client if client is not None and client.revoked_at is None else None


def api_client_secret_valid(client: ApiClient, secret: str) -> bool:
    return hmac.compare_digest(client.secret_sha256, _digest(secret or ""))


def issue_client_token(client: ApiClient, scopes: list[str], seconds: int) -> str:
    """A bearer token for the client's service account, limited to `scopes`; only its hash is stored."""
    token = "mc_" + secrets.token_urlsafe(32)
    db.session.add(ApiToken(user_id=client.user_id, api_client_id=client.id, scopes=list(scopes),
                            token_sha256=_digest(token), expires_at=now_utc() + timedelta(seconds=seconds)))
    return token


def revoke_api_client(client: ApiClient) -> None:
    """The client's tokens stop at once, and no new one is issued."""
    client.revoked_at = now_utc()
    client.user.active = False
    db.session.execute(delete(ApiToken).where(ApiToken.api_client_id == client.id))


# ---------------------------------------------------------------- web sessions


def start_session(user: User, max_age_days: float, *, loa: int | None = None, id_token: str | None = None) -> str:
    """A new server-side session; returns the reference the signed cookie carries ("<user id>.<random>").

    The user's sessions past their age (browsers closed without logging out) are dropped on the way.
    """
    db.session.execute(delete(UserSession).where(
        UserSession.user_id == user.id, UserSession.created_at <= now_utc() - timedelta(days=max_age_days)))
    secret = secrets.token_urlsafe(32)
    db.session.add(UserSession(user_id=user.id, token_sha256=_digest(secret), loa=loa, id_token=id_token))
    user.session_ref = f"{user.id}.{secret}"
    user.loa = loa
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
    row.user.loa = row.loa
    return row.user


def session_id_token(ref: str | None) -> str | None:
    """The identity provider's ID token of a session (the hint its logout endpoint asks for), if it began there."""
    row = _session_row(ref) if ref else None
    return row.id_token if row is not None else None


def end_session(ref: str | None) -> None:
    row = _session_row(ref) if ref else None
    if row is not None:
        db.session.delete(row)


def end_all_sessions(user: User) -> None:
    db.session.execute(delete(UserSession).where(UserSession.user_id == user.id))
    user.session_ref = None


# ---------------------------------------------------------------- single sign-on


class AccountRefused(Exception):
    """An identity the provider vouches for but the platform does not let in (an officer it does not know)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class ProviderIdentity:
    """What the national identity provider asserts about a login (its userinfo, checked against the ID token)."""

    personal_id: str
    full_name: str
    date_of_birth: date | None
    account_type: str
    loa: int
    business_code: str | None = None
    business_name: str | None = None

    @classmethod
    def from_claims(cls, claims: Mapping[str, Any]) -> ProviderIdentity:
        """Read the provider's claims; ValueError when one the platform needs is missing or malformed."""
        personal_id = str(claims.get("so_dinh_danh") or "")
        if not _PERSONAL_ID.fullmatch(personal_id):
            raise ValueError("so_dinh_danh")
        account_type = str(claims.get("loai_tai_khoan") or "")
        if account_type not in (CITIZEN_ACCOUNT, BUSINESS_ACCOUNT, OFFICER_ACCOUNT):
            raise ValueError("loai_tai_khoan")
        loa = claims.get("muc_dinh_danh")
        if isinstance(loa, str) and loa.isdigit():
            loa = int(loa)
        if not isinstance(loa, int) or isinstance(loa, bool) or loa not in (1, 2):
            raise ValueError("muc_dinh_danh")
        name = str(claims.get("ho_ten") or claims.get("name") or "").strip()[:255]
        if not name:
            raise ValueError("ho_ten")
        birth = None
        raw_birth = claims.get("ngay_sinh") or claims.get("birthdate")
        if isinstance(raw_birth, str):
            try:
                birth = date.fromisoformat(raw_birth)
            except ValueError:
                birth = None
        business_code = business_name = None
        if account_type == BUSINESS_ACCOUNT:
            business_code = str(claims.get("ma_so_doanh_nghiep") or "")
            business_name = str(claims.get("ten_doanh_nghiep") or "").strip()[:500]
            if not _BUSINESS_CODE.fullmatch(business_code) or not business_name:
                raise ValueError("ma_so_doanh_nghiep")
        return cls(personal_id, name, birth, account_type, loa, business_code, business_name)


_PERSONAL_ID = re.compile(r"[0-9]{12}", re.ASCII)
_BUSINESS_CODE = re.compile(r"[0-9]{10}(-[0-9]{3})?", re.ASCII)


def _staff(user: User) -> bool:
    return user.is_officer or any(user.has_role(r) for r in (DESIGNER_ROLE, ADMIN_ROLE))


def find_identity(identity: ProviderIdentity) -> User | None:
    """The platform's user for an identity: by personal ID (and, for a business account, the enterprise code)."""
    candidates = db.session.scalars(select(User).where(User.personal_id == identity.personal_id)
                                    .order_by(User.id)).all()
    if identity.account_type == OFFICER_ACCOUNT:
        return next((u for u in candidates if _staff(u)), None)
    if identity.account_type == BUSINESS_ACCOUNT:
        return next((u for u in candidates if u.business_code == identity.business_code), None)
    return next((u for u in candidates if not u.business_code and u.has_role(CITIZEN_ROLE)), None)


def sign_in_identity(identity: ProviderIdentity) -> User:
    """The user a provider login is: found by personal ID, or created for a citizen or a business on their first
    login; an officer must already exist (an administrator creates officers). The provider's name and date of
    birth are kept (the population database is asked with them)."""
    user = find_identity(identity)
    if user is None and identity.account_type == OFFICER_ACCOUNT:
        raise AccountRefused(gettext("Tài khoản cán bộ với số định danh này chưa được khai báo trên hệ thống; "
                                     "vui lòng liên hệ quản trị viên."))
    if user is not None and not user.active:
        raise AccountRefused(gettext("Tài khoản đã bị khóa; vui lòng liên hệ quản trị viên."))
    if user is None:
        username = (f"dn.{identity.business_code}.{identity.personal_id}"
                    if identity.account_type == BUSINESS_ACCOUNT else f"cd.{identity.personal_id}")
        user = User(username=username, full_name=identity.full_name, roles=[CITIZEN_ROLE],
                    personal_id=identity.personal_id, business_code=identity.business_code,
                    business_name=identity.business_name)
        db.session.add(user)
    if identity.account_type != OFFICER_ACCOUNT:
        user.full_name = identity.full_name
        user.business_name = identity.business_name or user.business_name
    if identity.date_of_birth is not None:
        user.date_of_birth = identity.date_of_birth
    db.session.flush()
    return user
