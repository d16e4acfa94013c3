"""Citizen portal: catalogue, eForm submission, receipt, own dossiers, public lookup."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import gettext
from flask_login import current_user, login_required
from sqlalchemy import select

from app import documents, formats
from app.clock import local_tz
from app.dossiers import desk, docstore, fees, listings, payments, publications, ratings, services, workflow_incidents
from app.dossiers.access import assurance_problem
from app.dossiers.attachments import open_attachment, store_upload
from app.dossiers.components import received_components
from app.dossiers.errors import Conflict, Forbidden, Invalid, NotFound, ServiceError
from app.dossiers.prefill import Prefill, prefill_for
from app.dossiers.results import declared_results, electronic_results
from app.eforms.render import render_form, render_values
from app.extensions import csrf, db
from app.jobs import payments as payment_jobs
from app.models import Agency, Dossier, Notification, Procedure
from app.models.dossier import STATUSES
from app.procedures import search
from app.web import audited
from app.web.actions import act_and_return, viewed_dossier
from app.web.audited import viewed
from app.web.documents import agency_side, attachment_response, pdf_response, visible_documents
from app.web.errors import answers_errors_as
from app.web.forms import apply_action, attachment_url, errors_by_path, read_posted_form, ui_for
from app.web.lists import list_query

bp = Blueprint("portal", __name__)


@bp.app_template_global("fee_rules")
def fee_rules(manifest: Mapping[str, Any], channel: int) -> list[str]:
    """A procedure's fee rules in words, from the same data the fee is computed from."""
    return fees.describe_fee(manifest, channel)


@bp.app_template_global("fee_lines")
def dossier_fee_lines(dossier: Dossier) -> list[fees.FeeLine]:
    """What a dossier's fee is made of: the lines of the computation that gave its fee_amount."""
    return fees.shown_fee_lines(dossier.procedure_version, dossier.channel, dossier.form_data,
                                int(dossier.fee_amount or 0))


@bp.app_template_global("processing_rule")
def processing_rule(manifest: Mapping[str, Any], agency: Agency, channel: int) -> services.ProcessingRule:
    """The processing time in words, from the data and calendar the appointment is computed with."""
    return services.processing_rule(manifest, agency, channel, services.now_utc())


# The answers to a question shown with why each matched (the others listed after them, plainly).
EXPLAINED = 3


@bp.route("/")
def catalogue() -> ResponseReturnValue:
    """The catalogue; with a question (?q=), the procedures that answer it, best first (app.procedures.search)."""
    q = request.args.get("q", "").strip()[:200]
    procedures = services.listed_procedures()
    answers: list[tuple[Procedure, search.Answer, list[Agency]]] = []
    corrections: list[tuple[str, str]] = []
    if q:
        by_code = {p.code: p for p in procedures}
        found = search.index_of(procedures).search(q, explained=EXPLAINED)
        answers = [(by_code[a.code], a, services.offering_agencies(by_code[a.code])) for a in found]
        corrections = found[0].corrections if found else []
    return render_template("portal/catalogue.html", procedures=procedures, answers=answers, q=q,
                           corrections=corrections, explained=EXPLAINED)


@bp.route("/phan-anh-kien-nghi")
def published() -> ResponseReturnValue:
    """The answers to feedback (phản ánh, kiến nghị) their askers agreed to publish: the question and the answer,
    never who asked."""
    return render_template("portal/published.html", answers=publications.published_answers())


@bp.route("/thu-tuc/<code>", methods=["GET", "POST"])
def procedure(code: str) -> ResponseReturnValue:
    try:
        proc, version = services.find_procedure(code)
    except NotFound:
        abort(404)
    if services.is_periodic(version):  # an agency's own periodic procedure: nobody applies for it
        abort(404)
    manifest = version.manifest
    schema = version.forms[manifest["start_form"]]
    ui = ui_for(version, manifest["start_form"])
    data: dict[str, Any] = {}
    errors: dict[str, str] = {}
    summary_error = None
    if request.method == "POST":
        if not current_user.is_authenticated:
            return redirect(url_for("auth.login", next=request.path))
        posted = read_posted_form(request, schema, current_user, ui)  # commits the files just uploaded
        data, errors = posted.data, posted.errors
        if posted.action:
            data = apply_action(data, posted.action)
        elif not errors:
            try:
                dossier = services.submit_dossier(code, data, applicant=current_user, channel=2,
                                                  agency_code=request.form.get("co_quan") or None)
                # Read before the commit, which would expire the dossier.
                fault, receipt = workflow_incidents.notice(dossier), url_for("portal.receipt", code=dossier.code)
                db.session.commit()
                if fault:
                    flash(fault, "error")
                return redirect(receipt)
            except Invalid as exc:
                db.session.rollback()
                errors = errors_by_path(exc.details)
                summary_error = exc.message
            except Forbidden as exc:
                if exc.code != "loa_too_low":
                    raise
                db.session.rollback()
                summary_error = exc.message
        if errors and not summary_error:
            summary_error = gettext("Tờ khai có thông tin chưa hợp lệ; vui lòng sửa các trường được đánh dấu.")
    prefill = Prefill()
    if request.method == "GET" and current_user.is_authenticated:
        prefill = prefill_for(current_user, manifest, current_app.extensions["motcua_prefill_registry"],
                              schema, ui)
        db.session.commit()  # the look-up's log entry
        data = prefill.data
    if current_user.is_authenticated and not summary_error:
        summary_error = assurance_problem(manifest, current_user)  # said before the applicant fills the form in
    fields = render_form(schema, ui, data, errors, prefill_sources=prefill.sources, file_url=attachment_url,
                         stored=store_offers(version) if current_user.is_authenticated else None)
    # Published for several agencies: the applicant chooses where to file (portal/_agency_choice.html).
    offered = services.offering_agencies(proc)
    status = 422 if errors else 403 if request.method == "POST" and summary_error else 200
    return render_template("portal/procedure.html", proc=proc, version=version, manifest=manifest,
                           agencies=offered, chosen=request.form.get("co_quan", ""), choice_error=errors.get("co_quan"),
                           fields=fields, summary_error=summary_error, errors=errors,
                           prefill_notice=prefill.notice), status


def store_offers(version: Any) -> dict[str, list[tuple[str, str]]]:
    """The signed-in person's stored documents the start form's file fields may take, each with what it is and
    where it came from (app.dossiers.docstore)."""
    return {path: [(str(d.id), offer_label(d)) for d in found]
            for path, found in docstore.offers(current_user, version).items()}


def offer_label(d: docstore.StoredDocument) -> str:
    origin = (gettext("kết quả điện tử đã xác minh") if d.document.origin == "result"
              else gettext("bản số hóa đã tiếp nhận"))
    return gettext("%(title)s — %(origin)s của hồ sơ %(code)s (%(agency)s, %(date)s)", title=d.document.title,
                   origin=origin, code=d.dossier_code, agency=d.agency_name,
                   date=formats.local_date(d.document.issued_at, local_tz()))


@bp.route("/kho-giay-to")
@login_required
def my_documents() -> ResponseReturnValue:
    """The person's document store: results of their dossiers and components digitized at reception."""
    return render_template("portal/my_documents.html", documents=docstore.documents_of(current_user))


@bp.app_template_global("reused_files")
def reused_files(dossier: Dossier) -> list[docstore.Reused]:
    """The dossier's files taken from its applicant's store, with where each came from."""
    return docstore.reused_in(dossier, current_user if current_user.is_authenticated else None)


@bp.route("/ho-so/<code>/bien-nhan")
@login_required
def receipt(code: str) -> ResponseReturnValue:
    dossier = viewed_dossier(code)
    page = render_template("portal/receipt.html", d=dossier, manifest=dossier.procedure_version.manifest,
                           components=received_components(dossier))
    _viewed_by_another(dossier, "receipt")
    return page


def _viewed_by_another(dossier: Dossier, kind: str) -> None:
    """An officer reading a dossier on the applicant's pages is a view of their data; the applicant's own is not."""
    if dossier.applicant_user_id is None or dossier.applicant_user_id != current_user.id:
        viewed(dossier, kind)


@bp.app_template_global("issued_documents")
def issued_documents(dossier: Dossier) -> list[tuple[Any, str]]:
    """The documents issued about the dossier that the reader may download, each with its name."""
    return [(doc, str(documents.KINDS[doc.kind].label)) for doc in visible_documents(current_user, dossier)]


@bp.app_template_global("results_of")
def results_of(dossier: Dossier) -> list[Any]:
    """The electronic result's files the reader may download: the applicant once it is handed back."""
    return electronic_results(dossier, for_applicant=not agency_side(current_user, dossier))


@bp.app_template_global("sees_control_sheet")
def sees_control_sheet(dossier: Dossier) -> bool:
    return agency_side(current_user, dossier)


@bp.route("/ho-so/<code>/van-ban/<int:document_id>")
@login_required
def document(code: str, document_id: int) -> ResponseReturnValue:
    """An issued document's PDF, for whoever may see the dossier (its applicant: those addressed to them)."""
    dossier = viewed_dossier(code)
    try:
        doc = documents.find_document(dossier, document_id, for_applicant=not agency_side(current_user, dossier))
    except NotFound:
        abort(404)
    response = pdf_response(documents.render(doc), documents.filename(dossier.code, doc.kind, doc.sequence))
    viewed(dossier, "document", ref=doc.id, detail={"document": doc.kind})
    return response


@bp.route("/ho-so/<code>")
@login_required
def dossier_page(code: str) -> ResponseReturnValue:
    dossier = viewed_dossier(code)
    version = dossier.procedure_version
    start_form = version.manifest["start_form"]
    values = render_values(version.forms[start_form], ui_for(version, start_form), dossier.form_data,
                           file_url=attachment_url)
    notes = db.session.scalars(
        select(Notification).where(Notification.dossier_id == dossier.id).order_by(Notification.id)
    ).all()
    own_tasks = [t for t in services.open_tasks(dossier) if t.role == "cong_dan"
                 and dossier.applicant_user_id == current_user.id]
    fee_due = payments.awaiting_call(dossier) is not None and dossier.applicant_user_id == current_user.id
    is_applicant = dossier.applicant_user_id is not None and dossier.applicant_user_id == current_user.id
    page = render_template("portal/dossier.html", d=dossier, values=values, is_applicant=is_applicant,
                           supplement=desk.open_supplement(dossier) if dossier.status == 5 else None,
                           may_withdraw=is_applicant and dossier.status in desk.WITHDRAW_UNTIL,
                           steps=_steps(dossier), results=declared_results(dossier),
                           rating=ratings.rating_of(dossier), may_rate=is_applicant and ratings.may_rate(dossier),
                           criteria=ratings.CRITERIA, scale=ratings.SCALE,
                           events=listings.history(dossier, current_user, list_query()),
                           tasks=services.open_tasks(dossier),
                           own_tasks=own_tasks, notes=notes, payments=payments.payments_of(dossier),
                           fee_due=fee_due, open_payment=payments.open_payment(dossier),
                           receipt_of=payments.receipt_of, may_refund=payments.may_refund(current_user, dossier))
    if not is_applicant:
        viewed(dossier, "dossier")
    return page


def _steps(dossier: Dossier) -> list[dict[str, Any]]:
    """The applicant's step list: the steps done (and returns), in order, then where the dossier is now."""
    out: list[dict[str, Any]] = []
    for e in services.history(dossier, actions=("completed", "returned")):
        out.append({"title": e.task_title, "at": e.at, "state": e.action})
    for t in services.open_tasks(dossier):
        out.append({"title": t.title, "at": t.created_at, "state": "now"})
    return out


@bp.route("/ho-so/<code>/bo-sung", methods=["POST"])
@login_required
def supplement(code: str) -> ResponseReturnValue:
    """The applicant hands in what a supplement request asked for: one upload per requested component."""
    dossier = viewed_dossier(code)
    request_row = desk.open_supplement(dossier)

    def act() -> str:
        files = {}
        for index in range(len(request_row.components) if request_row is not None else 0):
            upload = request.files.get(f"tep_{index}")
            if upload is not None and upload.filename:
                files[str(index)] = store_upload(upload.read(), upload.filename, upload.mimetype or "",
                                                 f"bo_sung/{index}", current_user)
        answered = desk.answer_supplement(code, current_user, files=files, note=request.form.get("ghi_chu", ""))
        return gettext("Đã gửi giấy tờ bổ sung. Hồ sơ tiếp tục được xử lý; hạn trả kết quả mới: %(due)s.",
                       due=formats.local_datetime(answered.dossier.due_at.isoformat(), local_tz()))

    return act_and_return(act, url_for("portal.dossier_page", code=code))


@bp.route("/ho-so/<code>/danh-gia", methods=["POST"])
@login_required
def rate(code: str) -> ResponseReturnValue:
    """The applicant rates how the dossier was handled (once, after the result was handed back)."""
    viewed_dossier(code)

    def act() -> str:
        answers = {key: request.form.get(key) for key in ratings.CRITERIA}
        ratings.rate_online(code, current_user, answers, request.form.get("y_kien", ""))
        return gettext("Cảm ơn bạn đã đánh giá việc giải quyết hồ sơ %(code)s.", code=code)

    return act_and_return(act, url_for("portal.dossier_page", code=code) + "#rating")


@bp.route("/ho-so/<code>/rut", methods=["POST"])
@login_required
def withdraw(code: str) -> ResponseReturnValue:
    """The applicant withdraws the dossier."""
    viewed_dossier(code)

    def act() -> str:
        desk.withdraw(code, current_user, request.form.get("ly_do", ""))
        return gettext("Đã rút hồ sơ %(code)s.", code=code)

    return act_and_return(act, url_for("portal.dossier_page", code=code))


@bp.route("/ho-so/<code>/thanh-toan/<int:payment_id>/hoan-tien", methods=["POST"])
@login_required
def refund(code: str, payment_id: int) -> ResponseReturnValue:
    """An officer of the dossier's agency refunds (part of) a paid fee; the refund itself runs as a job."""
    dossier = viewed_dossier(code)
    try:
        amount = int(request.form.get("so_tien", ""))
    except ValueError:
        flash(gettext("Số tiền hoàn phải là số nguyên (đồng)."), "error")
        return redirect(url_for("portal.dossier_page", code=code)), 303
    try:
        payment = payments.refund(payment_id, current_user, amount, request.form.get("ly_do", ""))
        if payment.dossier_id != dossier.id:
            raise NotFound("Không tìm thấy giao dịch.")
        db.session.commit()
    except NotFound:
        db.session.rollback()
        abort(404)
    except (Invalid, Conflict) as exc:
        db.session.rollback()
        flash(exc.message, "error")
        return redirect(url_for("portal.dossier_page", code=code)), 303
    flash(gettext("Đã gửi yêu cầu hoàn %(amount)s cho giao dịch %(transaction)s.", amount=formats.vnd(amount),
                  transaction=payment.transaction_id))
    return redirect(url_for("portal.dossier_page", code=code)), 303


@bp.route("/ho-so/<code>/thanh-toan", methods=["POST"])
@login_required
def pay(code: str) -> ResponseReturnValue:
    """Send the payer to the payment platform's page (a new transaction if the last one was cancelled)."""
    dossier = viewed_dossier(code)
    try:
        payment = payments.new_payment(dossier, current_user)
        db.session.commit()  # the transaction id is ours before the platform hears of it
        if not payment.pay_url:
            payments.open_for_payer(payment)
            db.session.commit()
    except NotFound:
        abort(404)
    except Conflict as exc:
        db.session.rollback()
        flash(exc.message, "error")
        return redirect(url_for("portal.dossier_page", code=code)), 303
    return redirect(payment.pay_url), 303


@bp.route("/ho-so/<code>/thanh-toan/ket-qua")
def payment_return(code: str) -> ResponseReturnValue:
    """The payer's browser comes back with the signed result; it counts as much as the platform's callback."""
    try:
        outcome, payment = payment_jobs.receive_callback(request.args, "return")
    except Invalid as exc:
        flash(gettext("Kết quả thanh toán không hợp lệ: %(reason)s", reason=exc.message), "error")
        return redirect(url_for("portal.dossier_page", code=code)), 303
    if outcome == "duplicate" and payment is not None and payment.state == "paid":
        outcome = "applied"  # the platform's own callback was first: for the payer it is the same success
    messages = {"applied": gettext("Thanh toán thành công. Hồ sơ được chuyển tới bộ phận tiếp nhận."),
                "duplicate": gettext("Kết quả giao dịch này đã được ghi nhận trước đó."),
                "cancelled": gettext("Bạn đã hủy giao dịch; có thể thanh toán lại trên trang hồ sơ."),
                "double_charge": gettext("Khoản phí này đã được nộp; số tiền vừa trả sẽ được hoàn lại.")}
    flash(messages.get(outcome, gettext("Đã nhận kết quả thanh toán.")), "error" if outcome == "unknown" else "info")
    return redirect(url_for("portal.dossier_page", code=code)), 303


def _callback_error(status: int, code: str, message: str, details: Mapping[str, Any]) -> Response:
    """A refusal made before the callback's view runs (too large, too many, bad text) in the callback's own
    shape; "99" is the payment platform's "other error"."""
    return jsonify(error_code="99", message=message)


@bp.route(payments.CALLBACK_PATH, methods=["POST"])
@csrf.exempt
@answers_errors_as(_callback_error)
def payment_ipn() -> ResponseReturnValue:
    """The payment platform's server-to-server callback. Answers {"error_code": "0"} once it is recorded."""
    try:
        body = request.form or request.get_json(silent=True) or {}
        if not isinstance(body, Mapping):
            return jsonify(error_code="97", message="Nội dung thông báo không hợp lệ."), 400
        outcome, _ = payment_jobs.receive_callback(body, "ipn")
    except Invalid as exc:
        return jsonify(error_code="97", message=exc.message), 400
    refusals = {"unknown": ("01", "Không tìm thấy giao dịch."), "amount_mismatch": ("04", "Số tiền không khớp."),
                "dossier_mismatch": ("05", "Mã hồ sơ không khớp với giao dịch.")}
    if outcome in refusals:
        code, message = refusals[outcome]
        return jsonify(error_code=code, message=message), 400
    return jsonify(error_code="0", message="Đã ghi nhận.")


@bp.route("/ho-so-cua-toi")
@login_required
def my_dossiers() -> ResponseReturnValue:
    query = list_query(listings.DOSSIER_SORTS)
    return render_template("portal/my_dossiers.html", dossiers=listings.my_dossiers(current_user, query),
                           query=query, sorts=listings.DOSSIER_SORTS, procedures=listings.procedure_choices(),
                           statuses=list(STATUSES.items()))


@bp.route("/ho-so-cua-toi/ai-da-xem")
@login_required
def data_access() -> ResponseReturnValue:
    """Who looked at my data and why: the registry look-ups about me (by my personal ID) and the views of my
    dossiers by officers and systems, newest first (app.audit.seen_query)."""
    page = request.args.get("trang", "1")
    number = int(page) if page.isdigit() and 0 < int(page) <= 10000 else 1
    rows, more = audited.page_of(current_user, number)
    return render_template("portal/data_access.html", rows=rows, more=more, page=number, what=audited.what,
                           who=audited.who, why=audited.why)


@bp.route("/tra-cuu")
def lookup() -> ResponseReturnValue:
    code = request.args.get("ma", "").strip()[:100]
    result, error = None, None
    if code:
        try:
            result = services.public_status(code)
        except NotFound as exc:
            error = exc.message
    return render_template("portal/lookup.html", code=code, result=result, error=error), 404 if error else 200


@bp.route("/tep/<token>")
@login_required
def attachment(token: str) -> ResponseReturnValue:
    """A dossier's file for anyone entitled to the dossier (404 for everyone else): a verified PDF or image
    inline, anything else as a download, always under a name and type the platform chose."""
    try:
        att, path = open_attachment(token, current_user, services.may_view)
    except ServiceError:
        abort(404)
    response = attachment_response(att, path)
    if att.dossier_id is not None:
        dossier = db.session.get(Dossier, att.dossier_id)
        assert dossier is not None
        viewed(dossier, "attachment", ref=att.id, detail={"field": att.field_path or ""})
    return response
