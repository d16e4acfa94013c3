"""People who use the platform (citizens, officers, designers) and their API tokens."""

from __future__ import annotations

from datetime import date, datetime

from flask_login import UserMixin
from sqlalchemy import Date, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.agency import Agency, Department
from app.models.types import JsonDoc, UtcDateTime, utcnow

# Role codes an officer may hold; lanes of a procedure map onto them in its manifest.
OFFICER_ROLES = ("tiep_nhan", "chuyen_vien", "lanh_dao_phong", "lanh_dao_ky", "tra_ket_qua")
CITIZEN_ROLE = "cong_dan"
DESIGNER_ROLE = "thiet_ke"
ADMIN_ROLE = "quan_tri"
ALL_ROLES = (*OFFICER_ROLES, CITIZEN_ROLE, DESIGNER_ROLE, ADMIN_ROLE)


def N_(text: str) -> str:
    """Marks a string for the translation catalogue; it is translated where it is shown."""
    return text


# What people read instead of a role code (the codes stay in the manifest, the database and the API).
ROLE_LABELS: dict[str, str] = {
    "tiep_nhan": N_("Tiếp nhận hồ sơ (bộ phận một cửa)"),
    "chuyen_vien": N_("Chuyên viên xử lý"),
    "lanh_dao_phong": N_("Lãnh đạo phòng"),
    "lanh_dao_ky": N_("Lãnh đạo ký duyệt"),
    "tra_ket_qua": N_("Trả kết quả"),
    CITIZEN_ROLE: N_("Công dân"),
    DESIGNER_ROLE: N_("Thiết kế thủ tục"),
    ADMIN_ROLE: N_("Quản trị hệ thống"),
}


def role_label(role: str) -> str:
    return ROLE_LABELS.get(role, role)


class User(UserMixin, db.Model):  # type: ignore[name-defined]
    __tablename__ = "app_user"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    full_name: Mapped[str] = mapped_column(String(255))
    password_hash: Mapped[str] = mapped_column(String(255), default="")
    agency_id: Mapped[int | None] = mapped_column(ForeignKey("agency.id"), nullable=True)
    # The department of that agency the officer sits in (app.administration.move_officer keeps the two consistent).
    department_id: Mapped[int | None] = mapped_column(ForeignKey("department.id"), nullable=True, index=True)
    roles: Mapped[list[str]] = mapped_column(JsonDoc, default=list)
    personal_id: Mapped[str | None] = mapped_column(String(12), nullable=True, index=True)
    # An account of the national identity provider acting for an enterprise (loai_tai_khoan doanh_nghiep): its
    # code and name; the person is the representative whose personal ID this is.
    business_code: Mapped[str | None] = mapped_column(String(14), nullable=True)
    business_name: Mapped[str | None] = mapped_column(String(500), nullable=True)
    # With the name, what the population database needs to answer a lookup (from the identity provider).
    date_of_birth: Mapped[date | None] = mapped_column(Date, nullable=True)
    email: Mapped[str] = mapped_column(String(255), default="")
    phone: Mapped[str] = mapped_column(String(20), default="")
    active: Mapped[bool] = mapped_column(default=True)

    agency: Mapped[Agency | None] = relationship()
    department: Mapped[Department | None] = relationship()

    def has_role(self, role: str) -> bool:
        return role in (self.roles or [])

    @property
    def role_labels(self) -> list[str]:
        return [role_label(r) for r in self.roles or []]

    @property
    def is_officer(self) -> bool:
        return any(r in OFFICER_ROLES for r in self.roles or [])

    @property
    def is_designer(self) -> bool:
        return self.has_role(DESIGNER_ROLE) or self.has_role(ADMIN_ROLE)

    @property
    def is_active(self) -> bool:  # Flask-Login
        return self.active

    @property
    def session_ref(self) -> str | None:
        """The server-side session this user was loaded through (app.accounts.start_session): what Flask-Login
        keeps in the signed cookie instead of the bare user id, so that ending the session ends the cookie."""
        ref = self.__dict__.get("_session_ref")
        return ref if isinstance(ref, str) else None

    @session_ref.setter
    def session_ref(self, value: str | None) -> None:
        self.__dict__["_session_ref"] = value

    @property
    def api_scopes(self) -> list[str] | None:
        """The scopes of the client-credentials token this user (an API client's service account) was loaded
        through; None for a person's login or token, which the API's own rules govern."""
        value = self.__dict__.get("_api_scopes")
        return list(value) if isinstance(value, list) else None

    @api_scopes.setter
    def api_scopes(self, value: list[str] | None) -> None:
        self.__dict__["_api_scopes"] = value

    @property
    def loa(self) -> int | None:
        """The level of assurance (mức định danh, 1 or 2) the identity provider asserted for this login, read from the
        web session or the provider's access token this user was loaded through; None for a password login or a
        platform API token."""
        value = self.__dict__.get("_loa")
        return value if isinstance(value, int) else None

    @loa.setter
    def loa(self, value: int | None) -> None:
        self.__dict__["_loa"] = value

    def get_id(self) -> str:  # Flask-Login
        return self.session_ref or ""


class ApiToken(db.Model):  # type: ignore[name-defined]
    """A bearer token; only its SHA-256 is stored so a database leak does not leak tokens."""

    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"), index=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    # A client-credentials token of another system: its client (revoking it ends the token) and granted scopes.
    api_client_id: Mapped[int | None] = mapped_column(ForeignKey("api_client.id", ondelete="CASCADE"), nullable=True)
    scopes: Mapped[list[str] | None] = mapped_column(JsonDoc, nullable=True)

    user: Mapped[User] = relationship()
    api_client: Mapped[ApiClient | None] = relationship()


# What a client-credentials token may do on the API: read (GET), or also act (every other method).
API_SCOPES = ("api:read", "api:write")


class ApiClient(db.Model):  # type: ignore[name-defined]
    """Another system calling the API with its own credentials (OAuth 2 client credentials), issued and revoked by
    an administrator (`flask api-clients`). It acts as a service account (`user`: its agency and roles, no password,
    no personal ID) within the scopes granted; only the SHA-256 of its secret is stored."""

    __tablename__ = "api_client"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(255))
    secret_sha256: Mapped[str] = mapped_column(String(64))
    scopes: Mapped[list[str]] = mapped_column(JsonDoc, default=list)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)

    user: Mapped[User] = relationship()


class UserSession(db.Model):  # type: ignore[name-defined]
    """A logged-in browser. The cookie carries a random reference to it; logout deletes the row, a password
    change deletes all of the user's rows, and a cookie whose row is gone loads nobody. Only the SHA-256 of
    the reference is stored."""

    __tablename__ = "user_session"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"), index=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    # Single sign-on: the level of assurance the provider asserted, and its ID token (the hint of its logout).
    loa: Mapped[int | None] = mapped_column(Integer, nullable=True)
    id_token: Mapped[str | None] = mapped_column(Text, nullable=True)

    user: Mapped[User] = relationship()
