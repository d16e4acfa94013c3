"""The administration area (/quan-tri): agencies and their hierarchy, departments, officers and their roles,
calendars, and the agencies a procedure is published for. Administrators only: the blueprint refuses anyone
else before any view runs, and the use cases (app.administration.services) check again. Plain pages in the
platform's style under its Content-Security-Policy (no inline script or style)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext
from flask_login import current_user
from sqlalchemy import select

from app.administration import services as admin
from app.dossiers.errors import Invalid, ServiceError
from app.extensions import db
from app.models import AdminChange, Agency, CalendarDay, Department, Procedure
from app.models.user import ALL_ROLES, API_SCOPES, N_, OFFICER_ROLES, role_label

bp = Blueprint("admin", __name__, url_prefix="/quan-tri")

LEVEL_LABELS = {"bo": N_("Bộ, ngành"), "tinh": N_("Cấp tỉnh"), "xa": N_("Cấp xã")}
# What the change log shows for a record's entity and action (the codes stay in the database).
CHANGE_LABELS = {"agency": N_("Cơ quan"), "department": N_("Phòng ban"), "officer": N_("Cán bộ"),
                 "calendar_day": N_("Lịch làm việc"), "procedure": N_("Thủ tục"),
                 "created": N_("thêm mới"), "updated": N_("sửa"), "deleted": N_("xóa"), "moved": N_("chuyển phòng ban"),
                 "roles": N_("đổi vai trò"), "published": N_("công bố cho cơ quan"),
                 "unpublished": N_("thôi công bố cho cơ quan"), "loaded": N_("nạp đơn vị hành chính"),
                 "api_client": N_("Hệ thống kết nối"), "revoked": N_("thu hồi")}
SCOPE_LABELS = {"api:read": N_("Đọc (GET)"), "api:write": N_("Đọc và ghi (mọi phương thức)")}


@bp.before_request
def administrators_only() -> ResponseReturnValue | None:
    if not current_user.is_authenticated:
        return redirect(url_for("auth.login", next=request.full_path))
    admin.require_admin(current_user)  # Forbidden → 403 page
    return None


def change_lines(state: dict[str, object] | None) -> list[tuple[str, str]]:
    """A change record's before or after as (field, value) lines, values as JSON (Vietnamese kept readable)."""
    return [(key, json.dumps(value, ensure_ascii=False)) for key, value in (state or {}).items()]


@bp.app_context_processor
def labels() -> dict[str, object]:
    return {"level_label": lambda level: gettext(LEVEL_LABELS.get(level, level)),
            "admin_role_label": lambda role: gettext(role_label(role)), "change_lines": change_lines,
            "change_label": lambda code: gettext(CHANGE_LABELS[code]) if code in CHANGE_LABELS else code,
            "scope_label": lambda scope: gettext(SCOPE_LABELS[scope]) if scope in SCOPE_LABELS else scope}


def _act(act: Callable[[], str], back: str) -> ResponseReturnValue:
    """Run a change, commit it with its change record, and go back with a message; a refusal is shown there."""
    try:
        message = act()
        db.session.commit()
        flash(message)
    except ServiceError as exc:
        db.session.rollback()
        details = [m for m in (exc.details or {}).values() if isinstance(m, str) and m != exc.message]
        flash(" ".join([exc.message, *details]), "error")
    return redirect(back), 303


@bp.route("/")
def index() -> ResponseReturnValue:
    q = request.args.get("q", "").strip()[:100]
    parent_id = request.args.get("cap_tren", type=int)
    parent = db.session.get(Agency, parent_id) if parent_id else None
    agencies = admin.search_agencies(q, parent.id if parent else None)
    return render_template("admin/index.html", agencies=agencies, q=q, parent=parent)


@bp.route("/co-quan/moi", methods=["GET", "POST"])
def new_agency() -> ResponseReturnValue:
    return _agency_form(None)


@bp.route("/co-quan/<int:agency_id>", methods=["GET", "POST"])
def agency(agency_id: int) -> ResponseReturnValue:
    return _agency_form(admin.get_agency(agency_id))


def _agency_form(agency: Agency | None) -> ResponseReturnValue:
    errors: dict[str, str] = {}
    error = None
    if request.method == "POST":
        f = request.form
        try:
            saved = admin.save_agency(current_user, agency, code=f.get("code", ""), name=f.get("name", ""),
                                      level=f.get("level", ""), address=f.get("address", ""),
                                      office_hours=f.get("office_hours", ""), parent_code=f.get("parent", ""))
            saved_id = saved.id
            db.session.commit()
            flash(gettext("Đã lưu thông tin cơ quan."))
            return redirect(url_for("admin.agency", agency_id=saved_id)), 303
        except ServiceError as exc:
            db.session.rollback()
            error, errors = exc.message, {k: v for k, v in (exc.details or {}).items() if isinstance(v, str)}
            agency = admin.get_agency(agency.id) if agency is not None else None
    context: dict[str, object] = {"agency": agency, "errors": errors, "error": error,
                                  "posted": request.form if error else {}, "levels": LEVEL_LABELS}
    if agency is not None:
        context.update(departments=admin.departments_of(agency), officers=admin.officers_of(agency),
                       calendar=admin.calendar_of(agency),
                       children=db.session.scalar(select(Agency.id).where(Agency.parent_id == agency.id).limit(1)))
    return render_template("admin/agency.html", **context), 422 if error else 200


@bp.route("/co-quan/<int:agency_id>/xac-nhan-ma", methods=["POST"])
def confirm_code(agency_id: int) -> ResponseReturnValue:
    agency = admin.get_agency(agency_id)
    return _act(lambda: (admin.confirm_code(current_user, agency), gettext("Đã xác nhận mã định danh."))[1],
                url_for("admin.agency", agency_id=agency_id))


@bp.route("/co-quan/<int:agency_id>/phong-ban", methods=["POST"])
def add_department(agency_id: int) -> ResponseReturnValue:
    agency = admin.get_agency(agency_id)

    def act() -> str:
        department = admin.add_department(current_user, agency, request.form.get("name", ""))
        return gettext("Đã thêm phòng ban «%(name)s».", name=department.name)

    return _act(act, url_for("admin.agency", agency_id=agency_id) + "#phong-ban")


def _posted_day() -> date:
    try:
        return date.fromisoformat(request.form.get("day", ""))
    except ValueError:
        raise Invalid(gettext("Nhập ngày theo dạng năm-tháng-ngày."),
                            details={"day": gettext("Nhập ngày theo dạng năm-tháng-ngày.")}) from None


def _calendar_act(agency: Agency | None, back: str) -> ResponseReturnValue:
    def act() -> str:
        entry = admin.set_calendar_day(current_user, agency, _posted_day(), request.form.get("working") == "1",
                                       request.form.get("note", ""))
        return gettext("Đã ghi ngày %(day)s vào lịch.", day=entry.day.strftime("%d/%m/%Y"))

    return _act(act, back)


@bp.route("/co-quan/<int:agency_id>/lich", methods=["POST"])
def agency_calendar(agency_id: int) -> ResponseReturnValue:
    agency = admin.get_agency(agency_id)
    return _calendar_act(agency, url_for("admin.agency", agency_id=agency_id) + "#lich")


@bp.route("/lich-chung", methods=["GET", "POST"])
def national_calendar() -> ResponseReturnValue:
    if request.method == "POST":
        return _calendar_act(None, url_for("admin.national_calendar"))
    return render_template("admin/calendar.html", calendar=admin.calendar_of(None))


@bp.route("/lich/<int:day_id>/xoa", methods=["POST"])
def delete_calendar_day(day_id: int) -> ResponseReturnValue:
    entry = db.session.get(CalendarDay, day_id) or abort(404)
    back = (url_for("admin.agency", agency_id=entry.agency_id) + "#lich" if entry.agency_id
            else url_for("admin.national_calendar"))

    def act() -> str:
        admin.delete_calendar_day(current_user, entry)
        return gettext("Đã xóa ngày khỏi lịch.")

    return _act(act, back)


@bp.route("/nguoi-dung")
def people() -> ResponseReturnValue:
    q = request.args.get("q", "").strip()[:100]
    return render_template("admin/people.html", people=admin.search_people(q), q=q)


@bp.route("/can-bo/<int:user_id>")
def officer(user_id: int) -> ResponseReturnValue:
    person = admin.get_officer(user_id)
    # Departments offered: those of the officer's agency, or of the agency whose code the administrator entered.
    code = request.args.get("co_quan", "").strip().upper()[:40]
    target = (db.session.scalar(select(Agency).where(Agency.code == code)) if code else person.agency)
    if code and target is None:
        flash(gettext("Không tìm thấy cơ quan có mã «%(code)s».", code=code), "error")
        target = person.agency
    departments = admin.departments_of(target) if target is not None else []
    return render_template("admin/officer.html", person=person, target=target, departments=departments,
                           roles=ALL_ROLES, held=admin.held_count(person))


@bp.route("/can-bo/<int:user_id>/phong-ban", methods=["POST"])
def move_officer(user_id: int) -> ResponseReturnValue:
    person = admin.get_officer(user_id)

    def act() -> str:
        department = db.session.get(Department, request.form.get("department", type=int) or 0)
        if department is None:
            raise Invalid(gettext("Chọn phòng ban."), details={"department": gettext("Chọn phòng ban.")})
        admin.move_officer(current_user, person, department)
        return gettext("Đã chuyển %(name)s sang %(department)s.", name=person.full_name, department=department.name)

    return _act(act, url_for("admin.officer", user_id=user_id))


@bp.route("/can-bo/<int:user_id>/vai-tro", methods=["POST"])
def officer_roles(user_id: int) -> ResponseReturnValue:
    person = admin.get_officer(user_id)

    def act() -> str:
        admin.set_roles(current_user, person, request.form.getlist("roles"))
        return gettext("Đã cập nhật vai trò của %(name)s.", name=person.full_name)

    return _act(act, url_for("admin.officer", user_id=user_id))


@bp.route("/thu-tuc")
def procedures() -> ResponseReturnValue:
    found = db.session.scalars(select(Procedure).order_by(Procedure.code)).all()
    return render_template("admin/procedures.html", procedures=found)


@bp.route("/thu-tuc/<code>", methods=["GET", "POST"])
def procedure(code: str) -> ResponseReturnValue:
    proc = admin.get_procedure(code)
    if request.method == "POST":
        def act() -> str:
            wanted = request.form.get("agency", "").strip().upper()
            agency = db.session.scalar(select(Agency).where(Agency.code == wanted))
            if agency is None:
                raise Invalid(gettext("Không tìm thấy cơ quan có mã «%(code)s».", code=wanted))
            if request.form.get("action") == "remove":
                admin.unpublish(current_user, proc, agency)
                return gettext("Đã thôi công bố thủ tục cho %(agency)s.", agency=agency.name)
            admin.publish(current_user, proc, agency)
            return gettext("Đã công bố thủ tục cho %(agency)s.", agency=agency.name)

        return _act(act, url_for("admin.procedure", code=code))
    return render_template("admin/procedure.html", proc=proc)


@bp.route("/nhat-ky")
def changes() -> ResponseReturnValue:
    rows = db.session.scalars(select(AdminChange).order_by(AdminChange.id.desc()).limit(100)).all()
    return render_template("admin/changes.html", changes=rows)


@bp.route("/he-thong-ket-noi", methods=["GET", "POST"])
def api_clients() -> ResponseReturnValue:
    """Other systems calling the API: issue (the secret is shown on this answer only, never stored), list, revoke."""
    errors: dict[str, str] = {}
    error = issued = secret = None
    if request.method == "POST":
        f = request.form
        try:
            issued, secret = admin.issue_api_client(current_user, f.get("name", ""), f.getlist("scopes"),
                                                    f.get("agency", ""), f.getlist("roles"))
            db.session.commit()
        except ServiceError as exc:
            db.session.rollback()
            error, errors = exc.message, {k: v for k, v in (exc.details or {}).items() if isinstance(v, str)}
    response = render_template("admin/api_clients.html", clients=admin.api_clients(), issued=issued, secret=secret,
                               error=error, errors=errors, posted=request.form if error else {},
                               scopes=API_SCOPES, roles=OFFICER_ROLES)
    headers = {"Cache-Control": "no-store"}  # the secret must not stay in a cache
    return response, 422 if error else 201 if issued else 200, headers


@bp.route("/he-thong-ket-noi/<int:client_pk>/thu-hoi", methods=["POST"])
def revoke_api_client(client_pk: int) -> ResponseReturnValue:
    client = admin.get_api_client(client_pk)

    def act() -> str:
        admin.revoke_api_client(current_user, client)
        return gettext("Đã thu hồi quyền truy cập của «%(name)s».", name=client.name)

    return _act(act, url_for("admin.api_clients"))
