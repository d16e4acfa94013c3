"""Officers' inbox (and the applicant's own tasks, such as supplements): list, claim, complete."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext, lazy_gettext
from flask_login import current_user, login_required

from app import documents
from app.clock import now_utc
from app.dossiers import listings, payments, service_calls, services, workflow_incidents
from app.dossiers.errors import Conflict, Invalid, NotFound, ServiceError
from app.eforms.render import render_form, render_values
from app.extensions import db
from app.models import Dossier, HumanTask
from app.models.dossier import STATUSES
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


@bp.route("/can-bo/")
@login_required
def index() -> ResponseReturnValue:
    query = list_query(listings.INBOX_SORTS)
    tasks = listings.inbox(current_user, query)
    open_incidents = listings.incident_count(current_user) if current_user.is_officer else 0
    return render_template("inbox/index.html", tasks=tasks, query=query, urgency=urgency,
                           open_incidents=open_incidents, procedures=listings.procedure_choices(),
                           statuses=list(STATUSES.items()), sorts=listings.INBOX_SORTS)


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
    return pdf_response(documents.control_sheet(dossier), documents.filename(dossier.code, "control"))


def _task_or_404(task_id: int, options: tuple[Any, ...] = services.FOR_PAGE) -> HumanTask:
    try:
        return services.get_task(task_id, current_user, options=options)
    except NotFound:
        abort(404)


@bp.route("/cong-viec/<int:task_id>", methods=["GET"])
@login_required
def task(task_id: int) -> ResponseReturnValue:
    t = _task_or_404(task_id)
    return _render_task(t, None, {}, None)


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
    if data is None:
        data = previous or {}
    fields = render_form(schema, ui, data, errors, file_url=attachment_url) if is_open else ""
    done = services.history(t.dossier, actions=("completed", "returned"))
    calls = service_calls.calls_of(t.dossier)
    return render_template("inbox/task.html", t=t, d=t.dossier, dossier_values=dossier_values,
                           fields=fields, errors=errors, message=message, done=done, returned=returned,
                           calls=calls, results=services.lookup_results(t, calls)), status


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
