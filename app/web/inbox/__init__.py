"""Officers' inbox (and the applicant's own tasks, such as supplements): list, claim, complete."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

from flask import Blueprint, abort, flash, jsonify, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext, lazy_gettext
from flask_login import current_user, login_required
from sqlalchemy import or_, select

from app import documents
from app.clock import local_today, local_tz, now_utc
from app.dossiers import (
    desk,
    docstore,
    lateness,
    leave,
    listings,
    payments,
    ratings,
    service_calls,
    services,
    watch,
    workflow_incidents,
)
from app.dossiers.access import desk_scope
from app.dossiers.attachments import store_upload
from app.dossiers.calendar import QUA_HAN, SAP_HET_HAN, classify_in_progress
from app.dossiers.diagrams import dossier_progress, may_see_progress, version_bpmn
from app.dossiers.errors import Conflict, Forbidden, Invalid, NotFound, ServiceError
from app.eforms.render import render_form, render_values
from app.extensions import db
from app.models import Agency, Dossier, HumanTask, Procedure
from app.models.dossier import STATUSES
from app.models.user import role_label
from app.web.actions import act_and_return, viewed_dossier
from app.web.audited import viewed
from app.web.diagrams import bpmn_response
from app.web.documents import agency_side, pdf_response
from app.web.forms import apply_action, attachment_url, errors_by_path, read_posted_form, ui_for
from app.web.lists import list_helpers, list_query

bp = Blueprint("inbox", __name__)
bp.app_context_processor(list_helpers)


def urgency(due: datetime | None) -> str:
    if due is None:
        return ""
    now = now_utc()
    if due < now:
        return "late"
    return "soon" if due - now <= timedelta(hours=24) else ""


LEGAL_TIME_LABELS = {QUA_HAN: lazy_gettext("Quá hạn"), SAP_HET_HAN: lazy_gettext("Sắp hết hạn"),
                     "trong_han": lazy_gettext("Trong hạn")}


def legal_time(t: HumanTask) -> tuple[str, str]:
    """The step's remaining legal time (its deadline, else its dossier's): the class of its badge and its label."""
    kind = classify_in_progress(t.due_at or t.dossier.due_at, now_utc())
    return {QUA_HAN: "late", SAP_HET_HAN: "soon"}.get(kind, "intime"), str(LEGAL_TIME_LABELS[kind])


@bp.route("/can-bo/")
@login_required
def index() -> ResponseReturnValue:
    query = list_query(listings.INBOX_SORTS)
    tasks = listings.inbox(current_user, query)
    open_incidents = listings.incident_count(current_user) if current_user.is_officer else 0
    paused = desk.paused_dossiers(current_user) if current_user.is_officer else []
    now = now_utc()
    warnings = [t for t in tasks.items if watch.is_warned(t, now)]  # the page's steps warned as due soon
    warned = {t.id for t in warnings}
    return render_template("inbox/index.html", tasks=tasks, query=query, urgency=urgency, legal_time=legal_time,
                           open_incidents=open_incidents, procedures=listings.procedure_choices(),
                           statuses=list(STATUSES.items()), sorts=listings.INBOX_SORTS, paused=paused,
                           is_head=current_user.has_role("lanh_dao_phong"), warnings=warnings, warned=warned)


# ---------------------------------------------------------------- the desk (app.dossiers.desk)


def _deadline(value: str) -> date:
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        message = gettext("Vui lòng chọn hạn bổ sung (ngày).")
        raise Invalid(message, code="deadline_missing", details={"/han_bo_sung": message}) from None


def _listed_components() -> list[dict[str, str]]:
    """The components ticked on the supplement form, and the other documents typed one per line."""
    listed = [{"code": code, "note": request.form.get(f"ghi_chu_{code}", "")}
              for code in request.form.getlist("thanh_phan")]
    listed += [{"name": line.strip()} for line in request.form.get("khac", "").splitlines() if line.strip()]
    return listed


@bp.route("/can-bo/ho-so/<code>/danh-gia", methods=["GET", "POST"])
@login_required
def kiosk_rating(code: str) -> ResponseReturnValue:
    """The rating kiosk: a page an officer of the dossier's agency opens on a screen at the desk, where the
    applicant who came for the result rates how the dossier was handled (once per dossier)."""
    d = viewed_dossier(code)
    if not desk_scope(current_user).allows(d):
        abort(403)
    errors: dict[str, str] = {}
    if request.method == "POST":
        try:
            ratings.rate_at_desk(code, current_user, {key: request.form.get(key) for key in ratings.CRITERIA},
                                 request.form.get("y_kien", ""))
            db.session.commit()
        except ServiceError as exc:
            db.session.rollback()
            if exc.status != 422:
                flash(exc.message, "error")
                return redirect(url_for("inbox.dossier_desk", code=code)), 303
            errors = {k: v for k, v in (exc.details or {}).items() if isinstance(v, str)}
        else:
            flash(gettext("Đã ghi nhận đánh giá của người nộp hồ sơ %(code)s. Cảm ơn.", code=code))
            return redirect(url_for("inbox.dossier_desk", code=code)), 303
    return render_template("inbox/kiosk_rating.html", d=d, criteria=ratings.CRITERIA, scale=ratings.SCALE,
                           rating=ratings.rating_of(d), may_rate=ratings.may_rate(d), errors=errors), (
        422 if errors else 200)


@bp.route("/can-bo/ho-so/<code>")
@login_required
def dossier_desk(code: str) -> ResponseReturnValue:
    """A dossier's desk: its state, its supplement requests, and the actions its status allows."""
    d = viewed_dossier(code)
    if not current_user.is_officer:
        abort(403)
    page = render_template("inbox/dossier.html", d=d, tasks=services.open_tasks(d), holds=desk.holds(current_user, d),
                           front_desk=desk.holds(current_user, d, front_desk=True),
                           supplement=desk.open_supplement(d), supplements=desk.supplements_of(d),
                           components=d.procedure_version.manifest.get("components", []), today=local_today(),
                           stoppable=d.status in desk.STOP_FROM, refusable=d.status not in (3, 7, 9, 10),
                           steps=lateness.steps_of(d), step_verdicts=STEP_VERDICT_LABELS,
                           apologisable=d.status in watch.APOLOGY_FROM and watch.holds_late_dossier(current_user, d),
                           late=d.appointment < now_utc(), apologies=watch.apologies_of(d))
    viewed(d, "dossier")
    return page



def _officer_dossier(code: str) -> Dossier:
    """The dossier, for an officer who may see its diagram (404 if there is none, 403 for anyone else)."""
    d = viewed_dossier(code)
    if not may_see_progress(current_user, d):
        abort(403)
    return d


@bp.app_template_global("stored_from")
def stored_from(dossier: Dossier) -> list[Any]:
    """The documents the dossier put in its applicant's store that the reader may revoke."""
    return docstore.stored_from(dossier, current_user if current_user.is_authenticated else None)


@bp.route("/can-bo/kho-giay-to/<int:document_id>/thu-hoi", methods=["POST"])
@login_required
def revoke_document(document_id: int) -> ResponseReturnValue:
    """Revoke (thu hồi) a document of an applicant's store: an officer of the agency that received or issued it."""
    try:
        doc = docstore.revoke(document_id, current_user, request.form.get("ly_do", ""))
        code = doc.dossier_id
        db.session.commit()
    except (NotFound, Forbidden):
        db.session.rollback()
        abort(404)
    except Invalid as exc:
        db.session.rollback()
        flash(exc.message, "error")
        return redirect(request.referrer or url_for("inbox.index")), 303
    dossier = db.session.get(Dossier, code)
    flash(gettext("Đã thu hồi giấy tờ; người nộp không chọn lại được giấy tờ này."))
    return redirect(url_for("inbox.dossier_desk", code=dossier.code) if dossier else url_for("inbox.index")), 303


@bp.route("/can-bo/ho-so/<code>/so-do.json")
@login_required
def diagram_progress(code: str) -> ResponseReturnValue:
    """Where the dossier stands in its diagram (element ids), fetched by static/diagram.js when the diagram opens."""
    d = _officer_dossier(code)
    return jsonify(dossier_progress(d, current_user))


@bp.route("/can-bo/ho-so/<code>/so-do.bpmn")
@login_required
def diagram_xml(code: str) -> ResponseReturnValue:
    """The BPMN of the dossier's version, as deployed."""
    return bpmn_response(*version_bpmn(_officer_dossier(code).procedure_version))


# lateness.verdict's codes, for a step done or still open (the control sheet prints the same in Vietnamese).
STEP_VERDICT_LABELS = {("truoc_han", True): lazy_gettext("Trước hạn"), ("dung_han", True): lazy_gettext("Đúng hạn"),
                       ("qua_han", True): lazy_gettext("Quá hạn"), ("trong_han", False): lazy_gettext("Trong hạn"),
                       ("qua_han", False): lazy_gettext("Quá hạn")}


@bp.route("/can-bo/ho-so/<code>/bo-sung", methods=["POST"])
@login_required
def request_supplement(code: str) -> ResponseReturnValue:
    def act() -> str:
        made = desk.request_supplement(code, current_user, reason=request.form.get("ly_do", ""),
                                       components=_listed_components(),
                                       deadline=_deadline(request.form.get("han_bo_sung", "")))
        return gettext("Đã gửi yêu cầu bổ sung hồ sơ %(code)s; hạn bổ sung %(deadline)s.", code=made.dossier.code,
                       deadline=made.deadline_at.astimezone(local_tz()).strftime("%d/%m/%Y"))

    return act_and_return(act, url_for("inbox.dossier_desk", code=code))


@bp.route("/can-bo/ho-so/<code>/nhan-bo-sung", methods=["POST"])
@login_required
def receive_supplement(code: str) -> ResponseReturnValue:
    def act() -> str:
        files = {}
        for key, upload in request.files.items(multi=False):
            if key.startswith("tep_") and upload and upload.filename:
                files[key.removeprefix("tep_")] = store_upload(upload.read(), upload.filename, upload.mimetype or "",
                                                               f"bo_sung/{key}", current_user)
        made = desk.answer_supplement(code, current_user, files=files, note=request.form.get("ghi_chu", ""),
                                      at_desk=True)
        return gettext("Đã nhận hồ sơ bổ sung; hồ sơ tiếp tục xử lý, hạn trả kết quả mới %(due)s.",
                       due=_local(made.dossier.due_at))

    return act_and_return(act, url_for("inbox.dossier_desk", code=code))


def _local(moment: datetime) -> str:
    return moment.astimezone(local_tz()).strftime("%H:%M %d/%m/%Y")


def _new_date(value: str) -> date:
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        message = gettext("Vui lòng chọn ngày hẹn trả kết quả mới.")
        raise Invalid(message, code="new_date_missing", details={"/ngay_hen_moi": message}) from None


@bp.route("/can-bo/ho-so/<code>/xin-loi", methods=["POST"])
@login_required
def apologise(code: str) -> ResponseReturnValue:
    """Phiếu xin lỗi và hẹn lại ngày trả kết quả: a new date and the reason for the delay."""
    def act() -> str:
        event = watch.apologise(code, current_user, new_date=_new_date(request.form.get("ngay_hen_moi", "")),
                                reason=request.form.get("ly_do", ""))
        assert event.step_due_at is not None
        return gettext("Đã gửi phiếu xin lỗi cho người nộp hồ sơ %(code)s; ngày hẹn trả kết quả mới %(due)s.",
                       code=code, due=_local(event.step_due_at))

    return act_and_return(act, url_for("inbox.dossier_desk", code=code))


@bp.route("/can-bo/ho-so/<code>/tu-choi", methods=["POST"])
@login_required
def refuse(code: str) -> ResponseReturnValue:
    def act() -> str:
        d = desk.refuse(code, current_user, request.form.get("ly_do", ""))
        return gettext("Đã từ chối hồ sơ %(code)s.", code=d.code)

    return act_and_return(act, url_for("inbox.dossier_desk", code=code))


@bp.route("/can-bo/ho-so/<code>/dung", methods=["POST"])
@login_required
def stop(code: str) -> ResponseReturnValue:
    def act() -> str:
        d = desk.stop(code, current_user, request.form.get("ly_do", ""))
        return gettext("Đã dừng xử lý hồ sơ %(code)s.", code=d.code)

    return act_and_return(act, url_for("inbox.dossier_desk", code=code))


@bp.route("/can-bo/ho-so/<code>/tiep-tuc", methods=["POST"])
@login_required
def resume(code: str) -> ResponseReturnValue:
    def act() -> str:
        d = desk.resume(code, current_user, request.form.get("ly_do", ""))
        return gettext("Hồ sơ %(code)s tiếp tục xử lý; hạn trả kết quả mới %(due)s.", code=d.code,
                       due=_local(d.due_at))

    return act_and_return(act, url_for("inbox.dossier_desk", code=code))


@bp.route("/cong-viec/<int:task_id>/tra-lai", methods=["POST"])
@login_required
def return_task(task_id: int) -> ResponseReturnValue:
    def act() -> str:
        reopened = desk.return_task(task_id, current_user, request.form.get("ly_do", ""),
                                    request.form.get("buoc") or None)
        return gettext("Đã trả hồ sơ %(code)s về bước «%(step)s».", code=reopened.dossier.code,
                       step=reopened.title)

    return act_and_return(act, url_for("inbox.index"))


@bp.route("/cong-viec/<int:task_id>/tra-ve-nhom", methods=["POST"])
@login_required
def release(task_id: int) -> ResponseReturnValue:
    def act() -> str:
        desk.release_task(task_id, current_user, request.form.get("ly_do", ""))
        return gettext("Đã trả công việc về nhóm xử lý.")

    return act_and_return(act, url_for("inbox.index"))


def _user_id() -> int:
    value = request.form.get("nguoi_nhan", "")
    if not value.isdigit():
        message = gettext("Vui lòng chọn người nhận.")
        raise Invalid(message, code="assignee_missing", details={"/nguoi_nhan": message})
    return int(value)


@bp.route("/cong-viec/<int:task_id>/uy-quyen", methods=["POST"])
@login_required
def delegate(task_id: int) -> ResponseReturnValue:
    def act() -> str:
        t = desk.delegate_task(task_id, current_user, _user_id(), request.form.get("ly_do", ""))
        return gettext("Đã ủy quyền công việc «%(step)s».", step=t.title)

    return act_and_return(act, url_for("inbox.index"))


@bp.route("/cong-viec/<int:task_id>/phan-cong", methods=["POST"])
@login_required
def reassign(task_id: int) -> ResponseReturnValue:
    def act() -> str:
        t = desk.reassign_task(task_id, current_user, _user_id(), request.form.get("ly_do", ""))
        return gettext("Đã phân công lại công việc «%(step)s».", step=t.title)

    return act_and_return(act, url_for("inbox.department"))


@bp.route("/can-bo/tiep-nhan-truc-tiep", methods=["GET", "POST"])
@login_required
def walk_in() -> ResponseReturnValue:
    """Walk-in intake: the one-stop desk files a dossier for an applicant who came in person (channel 1), on the
    procedure's own eForm, uploading the scanned paper components; then receives it and prints the receipt."""
    if not current_user.has_role(services.WALK_IN_ROLE) or current_user.agency_id is None:
        abort(403)
    choices = [(p.code, p.name) for p in db.session.scalars(
        select(Procedure).where(or_(Procedure.agency_id == current_user.agency_id,  # its own, or published for it
                                    Procedure.published_to.any(Agency.id == current_user.agency_id)),
                                Procedure.current_version_id.is_not(None)).order_by(Procedure.code))]
    code = request.values.get("thu_tuc", "")
    if code not in {c for c, _ in choices}:
        return render_template("inbox/walk_in.html", choices=choices, proc=None)
    proc, version = services.find_procedure(code)
    manifest = version.manifest
    schema, ui = version.forms[manifest["start_form"]], ui_for(version, manifest["start_form"])
    data: dict[str, Any] = {}
    errors: dict[str, str] = {}
    summary = None
    if request.method == "POST":
        posted = read_posted_form(request, schema, current_user, ui)
        data, errors = posted.data, posted.errors
        if posted.action:
            data = apply_action(data, posted.action)
        elif not errors:
            try:
                dossier = services.submit_dossier(code, data, applicant=None, channel=1, filed_by=current_user)
                reception = next((t for t in services.open_tasks(dossier) if current_user.has_role(t.role)), None)
                target = (url_for("inbox.task", task_id=reception.id) if reception is not None
                          else url_for("inbox.dossier_desk", code=dossier.code))
                message = gettext("Đã lập hồ sơ %(code)s (nộp trực tiếp); tiếp nhận hồ sơ rồi in giấy tiếp nhận.",
                                  code=dossier.code)
                db.session.commit()
                flash(message)
                return redirect(target), 303
            except Invalid as exc:
                db.session.rollback()
                errors, summary = errors_by_path(exc.details), exc.message
        if errors and not summary:
            summary = gettext("Tờ khai có thông tin chưa hợp lệ; vui lòng sửa các trường được đánh dấu.")
    fields = render_form(schema, ui, data, errors, file_url=attachment_url)
    return render_template("inbox/walk_in.html", choices=choices, proc=proc, manifest=manifest, fields=fields,
                           errors=errors, summary_error=summary), 422 if errors else 200


@bp.route("/can-bo/phong")
@login_required
def department() -> ResponseReturnValue:
    """The head of department's view of the agency's open steps, per officer, with reassignment."""
    try:
        load = desk.department_load(current_user)
    except Forbidden:
        abort(403)
    people: dict[str, list[Any]] = {}
    for entry in load.officers:
        if entry.on_leave is not None:
            continue  # nothing is given to someone on leave
        for role in entry.officer.roles or []:
            people.setdefault(role, []).append(entry.officer)
    late = watch.escalations(current_user)
    return render_template("inbox/department.html", load=load, people=people, legal_time=legal_time, late=late,
                           names={o.officer.id: o.officer.full_name for o in load.officers},
                           role_label=lambda role: gettext(role_label(role)), last_day=leave.last_day)


@bp.route("/can-bo/nghi-phep", methods=["GET", "POST"])
@login_required
def leave_calendar() -> ResponseReturnValue:
    """The leave calendar: an officer enters their own leave, the head of department anyone's of the agency; the
    leaves running or to come."""
    if not current_user.is_officer or current_user.agency_id is None:
        abort(403)
    error, status = None, 200
    if request.method == "POST":
        try:
            entered = leave.record_leave(current_user, _posted_id("can_bo") or current_user.id,
                                         _posted_date("tu_ngay"), _posted_date("den_ngay"),
                                         _posted_id("nguoi_thay_the"), request.form.get("ly_do", ""))
            message = gettext("Đã ghi lịch nghỉ của %(name)s.", name=entered.officer.full_name)
            db.session.commit()
            flash(message)
            return redirect(url_for("inbox.leave_calendar")), 303
        except ServiceError as exc:  # shown on the form, with the refusal's status (422, 403, 404, 409)
            db.session.rollback()
            details = [m for m in (exc.details or {}).values() if isinstance(m, str) and m != exc.message]
            error, status = " ".join([exc.message, *details]), exc.status
    officers, substitutes = leave.leave_choices(current_user)
    return render_template("inbox/leave.html", leaves=leave.leaves_for(current_user), officers=officers,
                           substitutes=substitutes, today=local_today(), last_day=leave.last_day,
                           is_head=leave.may_enter_for_others(current_user), error=error, now=now_utc(),
                           posted=request.form if error else {}), status


@bp.route("/can-bo/nghi-phep/<int:leave_id>/huy", methods=["POST"])
@login_required
def cancel_leave(leave_id: int) -> ResponseReturnValue:
    def act() -> str:
        kept = leave.cancel_leave(current_user, leave_id)
        return gettext("Đã hủy lịch nghỉ.") if kept is None else gettext("Đã kết thúc kỳ nghỉ từ bây giờ.")

    return act_and_return(act, url_for("inbox.leave_calendar"))


def _posted_id(name: str) -> int | None:
    value = request.form.get(name, "").strip()
    return int(value) if value.isdigit() else None


def _posted_date(name: str) -> date:
    try:
        return date.fromisoformat(request.form.get(name, "").strip())
    except ValueError:
        message = gettext("Vui lòng chọn ngày.")
        raise Invalid(message, code="date_missing", details={f"/{name}": message}) from None


@bp.route("/can-bo/su-co")
@login_required
def incidents() -> ResponseReturnValue:
    """Service calls that failed with nothing in the diagram to catch the error: each waits for a person."""
    if not (current_user.is_officer or current_user.is_designer):
        abort(403)
    query = list_query(listings.INCIDENT_SORTS)
    pages = {kind: _page_number(request.args.get(f"trang_{kind}", "")) for kind in listings.INCIDENT_KINDS}
    found = listings.incidents(current_user, query, pages)
    return render_template("inbox/incidents.html", query=query, found=found, sorts=listings.INCIDENT_SORTS,
                           procedures=listings.procedure_choices(), kinds=INCIDENT_KIND_LABELS)


INCIDENT_KIND_LABELS = [("calls", lazy_gettext("Bước tự động lỗi")), ("workflow", lazy_gettext("Lỗi quy trình")),
                        ("sync", lazy_gettext("Đồng bộ Cổng DVCQG")), ("refunds", lazy_gettext("Hoàn tiền"))]


def _page_number(value: str) -> int:
    return int(value) if value.isdigit() and 0 < int(value) < 10_000 else 1


@bp.route("/can-bo/su-co/quy-trinh/<int:incident_id>/thu-lai", methods=["POST"])
@login_required
def retry_workflow_incident(incident_id: int) -> ResponseReturnValue:
    def retry() -> str:
        incident = workflow_incidents.retry(incident_id, current_user)
        if incident.state == "open":
            return gettext("Đã chạy lại quy trình của hồ sơ %(code)s nhưng vẫn gặp lỗi: %(reason)s",
                           code=incident.dossier.code, reason=incident.message)
        return gettext("Đã chạy lại quy trình của hồ sơ %(code)s; hồ sơ đã được chuyển tiếp.",
                       code=incident.dossier.code)

    return _operate(retry)


@bp.route("/can-bo/su-co/hoan-tien/<int:refund_id>/thu-lai", methods=["POST"])
@login_required
def retry_refund(refund_id: int) -> ResponseReturnValue:
    def retry() -> str:
        request = payments.retry_refund(refund_id, current_user)
        return gettext("Đã đưa yêu cầu hoàn tiền số %(id)s vào hàng đợi để thử lại.", id=request.id)

    return _operate(retry)


def _operate(action: Callable[[], str]) -> ResponseReturnValue:
    """Run an operator's action on the incidents page, commit it, and come back with what happened."""
    try:
        done = action()
        db.session.commit()
    except NotFound:
        db.session.rollback()
        abort(404)
    except Conflict as exc:
        db.session.rollback()
        flash(exc.message, "error")
    else:
        flash(done)
    return redirect(url_for("inbox.incidents")), 303


@bp.route("/can-bo/su-co/dong-bo/<int:dossier_id>/gui-lai", methods=["POST"])
@login_required
def resend_sync(dossier_id: int) -> ResponseReturnValue:
    dossier = db.session.get(Dossier, dossier_id)
    if dossier is None:
        abort(404)

    def resend() -> str:
        service_calls.resend_sync(dossier, current_user)
        return gettext("Đã gửi lại các cập nhật của hồ sơ %(code)s lên Cổng Dịch vụ công quốc gia.", code=dossier.code)

    return _operate(resend)


@bp.route("/can-bo/su-co/<int:call_id>/thu-lai", methods=["POST"])
@login_required
def retry_incident(call_id: int) -> ResponseReturnValue:
    def retry() -> str:
        call = service_calls.retry_call(call_id, current_user)
        return gettext("Đã đưa bước «%(step)s» của hồ sơ %(code)s vào hàng đợi để thử lại.", step=call.title,
                       code=call.dossier.code)

    return _operate(retry)


@bp.route("/can-bo/ho-so/<code>/phieu-kiem-soat")
@login_required
def control_sheet(code: str) -> ResponseReturnValue:
    """The control sheet (Phiếu kiểm soát quá trình giải quyết hồ sơ) as the dossier stands now, for the
    officers of its agency: every step, who handed it to whom, when, its deadline and whether it was on time."""
    try:
        dossier = services.view_dossier(code, current_user)
    except NotFound:
        abort(404)
    except ServiceError:
        abort(403)
    if not agency_side(current_user, dossier):
        abort(403)
    response = pdf_response(documents.control_sheet(dossier), documents.filename(dossier.code, "control"))
    viewed(dossier, "control_sheet")
    return response


def _task_or_404(task_id: int, options: tuple[Any, ...] = services.FOR_PAGE) -> HumanTask:
    try:
        return services.get_task(task_id, current_user, options=options)
    except NotFound:
        abort(404)


@bp.route("/cong-viec/<int:task_id>", methods=["GET"])
@login_required
def task(task_id: int) -> ResponseReturnValue:
    t = _task_or_404(task_id)
    dossier, ref, title = t.dossier, t.id, t.title
    page = _render_task(t, None, {}, None)
    viewed(dossier, "task", ref=ref, detail={"step": title})
    return page


def _render_task(t: HumanTask, data: dict[str, Any] | None, errors: dict[str, str], message: str | None,
                 status: int = 200) -> ResponseReturnValue:
    """The task page; `data` None means a fresh form, which for a re-opened step starts from its last values."""
    version = t.dossier.procedure_version
    start_form = version.manifest["start_form"]
    dossier_values = render_values(version.forms[start_form], ui_for(version, start_form), t.dossier.form_data,
                                   file_url=attachment_url)
    schema = services.task_form_schema(t)
    ui = ui_for(version, t.form)
    is_open = t.state in services.OPEN_TASK_STATES
    previous, returned = services.reopened_from(t) if is_open else (None, None)
    if is_open and returned is None:
        returned = desk.desk_return(t)
    if data is None:
        data = previous or {}
    fields = render_form(schema, ui, data, errors, file_url=attachment_url) if is_open else ""
    done = services.history(t.dossier, actions=("completed", "returned"))
    calls = service_calls.calls_of(t.dossier)
    return render_template("inbox/task.html", t=t, d=t.dossier, dossier_values=dossier_values,
                           fields=fields, errors=errors, message=message, done=done, returned=returned,
                           calls=calls, results=services.lookup_results(t, calls),
                           targets=desk.return_targets(t) if is_open and t.role != "cong_dan" else [],
                           colleagues=[p for p in desk.colleagues_for(t) if p.id != current_user.id]
                           if is_open and t.role != "cong_dan" else [],
                           legal=legal_time(t)), status


@bp.route("/cong-viec/<int:task_id>/nhan", methods=["POST"])
@login_required
def claim(task_id: int) -> ResponseReturnValue:
    try:
        services.claim_task(task_id, current_user)
        db.session.commit()
        flash(gettext("Đã nhận xử lý công việc."))
    except NotFound:
        abort(404)
    except Conflict as exc:
        db.session.rollback()
        flash(exc.message, "error")
    return redirect(url_for("inbox.task", task_id=task_id))


@bp.route("/cong-viec/<int:task_id>", methods=["POST"])
@login_required
def complete(task_id: int) -> ResponseReturnValue:
    t = _task_or_404(task_id, services.WITH_DOSSIER)  # what completing the step reads, in one statement
    schema = services.task_form_schema(t)
    posted = read_posted_form(request, schema, current_user, ui_for(t.dossier.procedure_version, t.form))
    if posted.action:
        return _render_task(t, apply_action(posted.data, posted.action), {}, None)
    if posted.errors:
        return _render_task(t, posted.data, posted.errors, gettext("Biểu mẫu có thông tin chưa hợp lệ."), 422)
    # What the answer says is read before the commit, which would expire the task, its dossier and the user.
    code, title, officer = t.dossier.code, t.title, current_user.is_officer
    try:
        services.complete_task(task_id, current_user, posted.data)
        fault = workflow_incidents.notice(t.dossier)
        db.session.commit()
    except Invalid as exc:
        db.session.rollback()
        return _render_task(_task_or_404(task_id), posted.data, errors_by_path(exc.details), exc.message, 422)
    except Conflict as exc:
        db.session.rollback()
        flash(exc.message, "error")
        return redirect(url_for("inbox.task", task_id=task_id)), 303
    if fault:
        flash(fault, "error")
    else:
        flash(gettext("Đã hoàn thành «%(step)s» của hồ sơ %(code)s.", step=title, code=code))
    if officer:
        return redirect(url_for("inbox.index"))
    return redirect(url_for("portal.dossier_page", code=code))
