"""Use cases of the administration area (see the package's docstring)."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from flask_babel import gettext
from sqlalchemy import func, select
from sqlalchemy.orm import joinedload

from app.accounts import create_api_client
from app.accounts import revoke_api_client as end_api_client
from app.administration.changes import record_change
from app.dossiers import desk
from app.dossiers.deadlines import forget_calendars
from app.dossiers.errors import Conflict, Forbidden, Invalid, NotFound
from app.dossiers.progress import OPEN_TASK_STATES
from app.extensions import db
from app.identifiers import IdentifierError, validate_agency_identifier
from app.models import AdminChange, Agency, ApiClient, CalendarDay, Department, HumanTask, Procedure, User
from app.models.user import ADMIN_ROLE, ALL_ROLES, API_SCOPES, OFFICER_ROLES

LEVELS = ("bo", "tinh", "xa")
_HOURS = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


def require_admin(user: User | None) -> User:
    if user is None or not user.has_role(ADMIN_ROLE) or not user.active:
        raise Forbidden(gettext("Chỉ quản trị hệ thống được dùng khu vực quản trị."), code="admin_only")
    return user


def last_change(entity: str, entity_id: int) -> AdminChange | None:
    """The latest change record of an entity in this transaction or before (what an answer reports of it)."""
    return db.session.scalar(select(AdminChange).where(AdminChange.entity == entity, AdminChange.entity_id == entity_id)
                             .order_by(AdminChange.id.desc()).limit(1))


# ---------------------------------------------------------------- what a change record keeps of each entity


def agency_state(agency: Agency) -> dict[str, Any]:
    return {"code": agency.code, "name": agency.name, "level": agency.level, "address": agency.address,
            "office_hours": agency.office_hours, "parent_id": agency.parent_id, "unit_code": agency.unit_code,
            "code_provisional": agency.code_provisional}


def officer_state(user: User) -> dict[str, Any]:
    return {"agency_id": user.agency_id, "department_id": user.department_id, "roles": list(user.roles or []),
            "active": user.active}


def _calendar_state(day: CalendarDay) -> dict[str, Any]:
    return {"agency_id": day.agency_id, "day": day.day.isoformat(), "working": day.working, "note": day.note}


# ---------------------------------------------------------------- agencies


def get_agency(agency_id: int) -> Agency:
    agency = db.session.get(Agency, agency_id)
    if agency is None:
        raise NotFound(gettext("Không tìm thấy cơ quan."), code="agency_not_found")
    return agency


def parse_office_hours(text: str) -> list[list[str]] | None:
    """"07:00-11:30, 13:30-17:00" → [["07:00","11:30"],["13:30","17:00"]]; empty → None (the national default)."""
    text = (text or "").strip()
    if not text:
        return None
    spans = []
    for part in text.split(","):
        bounds = [b.strip() for b in part.split("-")]
        if len(bounds) != 2 or not all(_HOURS.match(b) for b in bounds) or bounds[0] >= bounds[1]:
            raise Invalid(gettext("Giờ làm việc phải có dạng 07:00-11:30, 13:30-17:00."),
                          details={"office_hours": gettext("Giờ làm việc phải có dạng 07:00-11:30, 13:30-17:00.")})
        spans.append(bounds)
    if any(a[1] > b[0] for a, b in zip(spans, spans[1:], strict=False)):
        raise Invalid(gettext("Các buổi làm việc phải theo thứ tự và không chồng nhau."),
                      details={"office_hours": gettext("Các buổi làm việc phải theo thứ tự và không chồng nhau.")})
    return spans


def save_agency(actor: User, agency: Agency | None, *, code: str, name: str, level: str, address: str,
                office_hours: str, parent_code: str = "") -> Agency:
    """Create (`agency` None) or change an agency. A code entered here is an administrator's: no longer provisional."""
    require_admin(actor)
    errors: dict[str, str] = {}
    try:
        code = validate_agency_identifier(code)
    except IdentifierError as exc:
        errors["code"] = exc.message
    name = (name or "").strip()[:255]
    if not name:
        errors["name"] = gettext("Nhập tên cơ quan.")
    if level not in LEVELS:
        errors["level"] = gettext("Chọn cấp của cơ quan.")
    parent = None
    if parent_code.strip():
        parent = db.session.scalar(select(Agency).where(Agency.code == parent_code.strip().upper()))
        if parent is None or (agency is not None and _is_under(parent, agency)):
            errors["parent"] = gettext("Cơ quan cấp trên không tồn tại hoặc đang trực thuộc cơ quan này.")
    try:
        hours = parse_office_hours(office_hours)
    except Invalid as exc:
        errors.update(exc.details)
    if "code" not in errors:
        holder = db.session.scalar(select(Agency).where(Agency.code == code))
        if holder is not None and holder is not agency:
            errors["code"] = gettext("Mã định danh này đã được cơ quan khác sử dụng.")
    if errors:
        raise Invalid(gettext("Thông tin cơ quan chưa hợp lệ."), details=errors)
    before = agency_state(agency) if agency is not None else None
    if agency is None:
        agency = Agency(code=code, name=name, level=level)
        db.session.add(agency)
    if agency is not None and before is not None and before["code"] != code:
        _refuse_code_change_with_dossiers(agency)
    agency.code, agency.name, agency.level = code, name, level
    agency.address = (address or "").strip()[:255]
    agency.office_hours = hours
    agency.parent_id = parent.id if parent is not None else None
    if before is None or before["code"] != code:
        agency.code_provisional = False
    db.session.flush()
    forget_calendars()  # its office hours may have changed
    record_change(actor, "agency", agency.id, "created" if before is None else "updated", before,
                  agency_state(agency))
    return agency


def confirm_code(actor: User, agency: Agency) -> Agency:
    """The administrator checked the derived identifier against the province's list: it is no longer provisional."""
    require_admin(actor)
    before = agency_state(agency)
    agency.code_provisional = False
    record_change(actor, "agency", agency.id, "updated", before, agency_state(agency))
    return agency


def _is_under(candidate: Agency, agency: Agency) -> bool:
    """Whether `candidate` is `agency` or one of its descendants (a parent there would make a cycle)."""
    seen: set[int] = set()
    node: Agency | None = candidate
    while node is not None and node.id not in seen:
        if node.id == agency.id:
            return True
        seen.add(node.id)
        node = node.parent
    return False


def _refuse_code_change_with_dossiers(agency: Agency) -> None:
    """Dossier codes begin with the agency's identifier (TT 01/2018): once it has dossiers, it keeps it."""
    from app.models import Dossier  # noqa: PLC0415 - only this rare path reads dossiers

    if db.session.scalar(select(func.count()).select_from(Dossier).where(Dossier.agency_id == agency.id)):
        raise Conflict(gettext("Cơ quan đã có hồ sơ mang mã định danh hiện tại: không đổi được mã."),
                       code="agency_code_in_use")


def search_agencies(q: str = "", parent_id: int | None = None, limit: int = 50) -> list[Agency]:
    stmt = select(Agency).order_by(Agency.level, Agency.code).limit(limit)
    if q:
        needle = q.strip().lower()
        stmt = stmt.where(func.lower(Agency.name).contains(needle, autoescape=True)
                          | Agency.code.startswith(q.strip().upper(), autoescape=True))
    elif parent_id is not None:
        stmt = stmt.where(Agency.parent_id == parent_id)
    else:
        stmt = stmt.where(Agency.parent_id.is_(None))
    return list(db.session.scalars(stmt))


# ---------------------------------------------------------------- departments


def add_department(actor: User, agency: Agency, name: str) -> Department:
    require_admin(actor)
    name = (name or "").strip()[:255]
    if not name:
        raise Invalid(gettext("Nhập tên phòng ban."), details={"name": gettext("Nhập tên phòng ban.")})
    if db.session.scalar(select(Department).where(Department.agency_id == agency.id, Department.name == name)):
        taken = gettext("Cơ quan đã có phòng ban này.")
        raise Invalid(taken, details={"name": taken})
    department = Department(agency_id=agency.id, name=name)
    db.session.add(department)
    db.session.flush()
    record_change(actor, "department", department.id, "created", None, {"agency_id": agency.id, "name": name})
    return department


def departments_of(agency: Agency) -> list[Department]:
    return list(db.session.scalars(select(Department).where(Department.agency_id == agency.id)
                                   .order_by(Department.name)))


# ---------------------------------------------------------------- officers


def get_officer(user_id: int) -> User:
    user = db.session.get(User, user_id)
    if user is None:
        raise NotFound(gettext("Không tìm thấy cán bộ."), code="officer_not_found")
    return user


def search_people(q: str, limit: int = 50) -> list[User]:
    """Accounts by username or part of the name: officers without an agency yet are found here."""
    needle = (q or "").strip().lower()
    stmt = select(User).order_by(User.full_name, User.id).limit(limit)
    if needle:
        stmt = stmt.where(func.lower(User.username).startswith(needle, autoescape=True)
                          | func.lower(User.full_name).contains(needle, autoescape=True))
    return list(db.session.scalars(stmt))


def officers_of(agency: Agency) -> list[User]:
    return list(db.session.scalars(select(User).where(User.agency_id == agency.id).order_by(User.full_name)))


def move_officer(actor: User, officer: User, department: Department) -> User:
    """The officer now sits in `department` (of its agency). Within the agency, the steps they hold stay theirs and
    follow them: a department's work is read through its officers when asked (department_work). Moved to another
    agency, the steps of the former agency they hold go back to that agency's common inbox."""
    require_admin(actor)
    before = officer_state(officer)
    officer.department_id, officer.agency_id = department.id, department.agency_id
    db.session.flush()
    released = desk.release_lost(officer, actor, gettext("Cán bộ được chuyển sang cơ quan khác."))
    record_change(actor, "officer", officer.id, "moved", before,
                  {**officer_state(officer), "released_task_ids": [t.id for t in released]})
    return officer


def set_roles(actor: User, officer: User, roles: list[str]) -> User:
    """The officer's roles in their agency and department. Read by every inbox query (a lane resolves to the
    agency and role when the tasks are listed), so the waiting steps of a role granted appear at once; the steps
    of a role taken away that the officer held go back to the role's common inbox."""
    require_admin(actor)
    unknown = [r for r in roles if r not in ALL_ROLES]
    if unknown:
        raise Invalid(gettext("Vai trò không hợp lệ: %(roles)s", roles=", ".join(unknown)),
                      details={"roles": ", ".join(unknown)})
    if officer.id == actor.id and ADMIN_ROLE not in roles:
        raise Conflict(gettext("Không tự bỏ vai trò quản trị của chính mình."), code="admin_self")
    if officer.agency_id is None and any(r in OFFICER_ROLES for r in roles):
        raise Invalid(gettext("Cán bộ phải thuộc một cơ quan trước khi được giao vai trò xử lý."),
                      details={"roles": gettext("Cán bộ phải thuộc một cơ quan trước khi được giao vai trò xử lý.")})
    before = officer_state(officer)
    officer.roles = [r for r in ALL_ROLES if r in roles]  # a new list: the JSON column sees the change
    db.session.flush()
    released = desk.release_lost(officer, actor, gettext("Cán bộ không còn vai trò của bước này."))
    record_change(actor, "officer", officer.id, "roles", before,
                  {**officer_state(officer), "released_task_ids": [t.id for t in released]})
    return officer


def department_work(department: Department) -> list[HumanTask]:
    """The open steps held by the department's officers now: who sits where is read at query time, so a
    moved officer's steps are the new department's."""
    return list(db.session.scalars(
        select(HumanTask).join(User, User.id == HumanTask.claimed_by_id)
        .where(User.department_id == department.id, HumanTask.state.in_(OPEN_TASK_STATES))
        .options(joinedload(HumanTask.dossier)).order_by(HumanTask.due_at, HumanTask.id)))


def held_count(officer: User) -> int:
    return int(db.session.scalar(select(func.count()).select_from(HumanTask).where(
        HumanTask.claimed_by_id == officer.id, HumanTask.state.in_(OPEN_TASK_STATES))) or 0)


# ---------------------------------------------------------------- calendars


def calendar_of(agency: Agency | None) -> list[CalendarDay]:
    column = CalendarDay.agency_id
    cond = column.is_(None) if agency is None else column == agency.id
    return list(db.session.scalars(select(CalendarDay).where(cond).order_by(CalendarDay.day.desc()).limit(200)))


def set_calendar_day(actor: User, agency: Agency | None, day: date, working: bool, note: str) -> CalendarDay:
    """An extra working day or day off for `agency` (None: every agency); the same day again is changed."""
    require_admin(actor)
    cond = CalendarDay.agency_id.is_(None) if agency is None else CalendarDay.agency_id == (agency.id)
    entry = db.session.scalar(select(CalendarDay).where(cond, CalendarDay.day == day))
    before = _calendar_state(entry) if entry is not None else None
    if entry is None:
        entry = CalendarDay(agency_id=agency.id if agency else None, day=day)
        db.session.add(entry)
    entry.working, entry.note = working, (note or "").strip()[:255]
    db.session.flush()
    forget_calendars()
    record_change(actor, "calendar_day", entry.id, "created" if before is None else "updated", before,
                  _calendar_state(entry))
    return entry


def delete_calendar_day(actor: User, entry: CalendarDay) -> None:
    require_admin(actor)
    before = _calendar_state(entry)
    db.session.delete(entry)
    db.session.flush()
    forget_calendars()
    record_change(actor, "calendar_day", entry.id, "deleted", before, None)


# ---------------------------------------------------------------- publication of procedures


def get_procedure(code: str) -> Procedure:
    procedure = db.session.scalar(select(Procedure).where(Procedure.code == code))
    if procedure is None:
        raise NotFound(gettext("Không tìm thấy thủ tục có mã «%(code)s».", code=code), code="procedure_not_found")
    return procedure


def _publication_state(procedure: Procedure) -> dict[str, Any]:
    return {"agency": procedure.agency.code, "published_to": [a.code for a in procedure.published_to]}


def publish(actor: User, procedure: Procedure, agency: Agency) -> Procedure:
    """`procedure` is offered by `agency` too: its citizens choose that agency when they file it."""
    require_admin(actor)
    if agency.id == procedure.agency_id or agency in procedure.published_to:
        raise Conflict(gettext("Thủ tục đã được công bố cho cơ quan này."), code="already_published")
    before = _publication_state(procedure)
    procedure.published_to.append(agency)
    db.session.flush()
    record_change(actor, "procedure", procedure.id, "published", before, _publication_state(procedure))
    return procedure


def unpublish(actor: User, procedure: Procedure, agency: Agency) -> Procedure:
    require_admin(actor)
    if agency not in procedure.published_to:
        raise NotFound(gettext("Thủ tục chưa được công bố cho cơ quan này."), code="not_published")
    before = _publication_state(procedure)
    procedure.published_to.remove(agency)
    db.session.flush()
    record_change(actor, "procedure", procedure.id, "unpublished", before, _publication_state(procedure))
    return procedure


# ---------------------------------------------------------------- API clients (other systems)


def api_client_state(client: ApiClient) -> dict[str, Any]:
    """What a change record keeps of a client: never its secret, which only its holder has."""
    return {"client_id": client.client_id, "name": client.name, "scopes": list(client.scopes or []),
            "agency_id": client.user.agency_id, "roles": list(client.user.roles or []),
            "revoked": client.revoked_at is not None}


def api_clients(limit: int = 200) -> list[ApiClient]:
    """Every client, live ones first, newest first."""
    return list(db.session.scalars(select(ApiClient).options(joinedload(ApiClient.user))
                                   .order_by(ApiClient.revoked_at.is_not(None), ApiClient.id.desc()).limit(limit)))


def get_api_client(client_pk: int) -> ApiClient:
    client = db.session.get(ApiClient, client_pk)
    if client is None:
        raise NotFound(gettext("Không tìm thấy hệ thống kết nối."), code="api_client_not_found")
    return client


def issue_api_client(actor: User | None, name: str, scopes: list[str], agency_code: str = "",
                     roles: list[str] | None = None) -> tuple[ApiClient, str]:
    """A new client for another system and its secret, returned once (only its hash is kept). It acts as a service
    account of `agency_code` with `roles`, within `scopes`. `actor` None: a command run on the server."""
    if actor is not None:
        require_admin(actor)
    errors: dict[str, str] = {}
    name = (name or "").strip()
    if not name:
        errors["name"] = gettext("Nhập tên hệ thống.")
    elif len(name) > 255:
        errors["name"] = gettext("Tên hệ thống dài quá 255 ký tự.")
    if not scopes:
        errors["scopes"] = gettext("Chọn ít nhất một quyền.")
    elif bad := [s for s in scopes if s not in API_SCOPES]:
        errors["scopes"] = gettext("Quyền không hợp lệ: %(scopes)s", scopes=", ".join(bad))
    roles = list(roles or [])
    if bad := [r for r in roles if r not in OFFICER_ROLES]:
        errors["roles"] = gettext("Vai trò không hợp lệ: %(roles)s", roles=", ".join(bad))
    agency = None
    if code := (agency_code or "").strip().upper():
        agency = db.session.scalar(select(Agency).where(Agency.code == code))
        if agency is None:
            errors["agency"] = gettext("Không tìm thấy cơ quan có mã «%(code)s».", code=code)
    if roles and agency is None and "agency" not in errors:
        errors["agency"] = gettext("Hệ thống có vai trò xử lý phải thay mặt một cơ quan.")
    if errors:
        raise Invalid(gettext("Chưa cấp được: xem các ô được đánh dấu."), details=errors)
    client, secret = create_api_client(name, [s for s in API_SCOPES if s in scopes], agency=agency, roles=roles)
    record_change(actor, "api_client", client.id, "created", None, api_client_state(client))
    return client, secret


def revoke_api_client(actor: User | None, client: ApiClient) -> ApiClient:
    """The client's tokens stop at once and no new one is issued; revoking twice is refused."""
    if actor is not None:
        require_admin(actor)
    if client.revoked_at is not None:
        raise Conflict(gettext("Hệ thống này đã bị thu hồi quyền truy cập."), code="api_client_revoked")
    before = api_client_state(client)
    end_api_client(client)
    record_change(actor, "api_client", client.id, "revoked", before, api_client_state(client))
    return client
