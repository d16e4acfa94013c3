"""JSON API v1 with bearer tokens. Every error is {"error": {"code", "message", "details"}}."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import Blueprint, g, jsonify, request
from flask.typing import ResponseReturnValue
from flask_babel import gettext
from sqlalchemy import select

from app.accounts import user_for_token
from app.dossiers import payments, service_calls, services, workflow_incidents
from app.dossiers.attachments import reference, store_upload
from app.dossiers.components import received_components
from app.dossiers.errors import Forbidden, Invalid, ServiceError
from app.extensions import csrf, db
from app.models import Dossier, HumanTask, Payment, Procedure, ServiceCall, User
from app.models.integration import WorkflowIncident
from app.procedures.deploy import DeployRefused, deploy
from app.procedures.package import PackageError, PackageReport, check_package, load_upload
from app.web.api.openapi import openapi_document
from app.web.guards import JSONValueProblem, UnsafeJSON, loads_checked

bp = Blueprint("api", __name__, url_prefix="/api/v1")
csrf.exempt(bp)  # bearer tokens, not cookies: no cross-site request can carry them


def error(status: int, code: str, message: str, details: Any = None) -> ResponseReturnValue:
    return jsonify(error={"code": code, "message": message, "details": details or {}}), status


@bp.errorhandler(ServiceError)
def service_error(exc: ServiceError) -> ResponseReturnValue:
    db.session.rollback()
    return error(exc.status, exc.code, exc.message, exc.details)


def auth_required(view: Callable[..., Any]) -> Callable[..., Any]:
    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        user = user_for_token(token.strip()) if scheme.lower() == "bearer" else None
        if user is None:
            response = error(401, "unauthorized", gettext("Thiếu hoặc sai mã truy cập (Authorization: Bearer …)."))
            return response[0], 401, {"WWW-Authenticate": 'Bearer realm="motcua"'}  # type: ignore[index]
        g.api_user = user
        return view(*args, **kwargs)

    return wrapper


def api_user() -> User:
    user: User = g.api_user
    return user


def json_body() -> dict[str, Any]:
    raw = request.get_data(cache=True)
    if not raw:
        raise Invalid(gettext("Thiếu nội dung JSON."), code="body_missing",
                      details={"": gettext("Thiếu nội dung JSON.")})
    try:
        body = loads_checked(raw)
    except JSONValueProblem as exc:
        raise Invalid(exc.message, code="invalid_value", details={exc.pointer: exc.message}) from exc
    except UnsafeJSON as exc:
        raise ServiceError(gettext("JSON không hợp lệ: %(reason)s", reason=exc), code="malformed_json") from exc
    if not isinstance(body, dict):
        raise Invalid(gettext("Nội dung phải là một đối tượng JSON."), code="body_not_object",
                      details={"": gettext("Phải là một đối tượng JSON.")})
    return body


def procedure_json(proc: Procedure, with_forms: bool = False) -> dict[str, Any]:
    version = proc.current_version
    assert version is not None
    m = version.manifest
    out: dict[str, Any] = {
        "code": proc.code, "name": proc.name, "agency": {"code": proc.agency.code, "name": proc.agency.name},
        "level": m["level"], "version": version.version, "content_hash": version.content_hash,
        "processing_time": m["processing_time"], "fee": m["fee"], "start_form": m["start_form"],
        "components": m.get("components", []),
    }
    if with_forms:
        out["start_form_schema"] = version.forms[m["start_form"]]
    return out


def dossier_json(d: Dossier, full: bool) -> dict[str, Any]:
    waiting = services.open_tasks(d)
    out = services.public_view(d, waiting)
    if full:
        out.update({
            "applicant": {"name": d.applicant_name, "id_number": d.applicant_id_number, "phone": d.applicant_phone,
                          "email": d.applicant_email, "address": d.applicant_address},
            "channel": d.channel, "fee_amount": d.fee_amount, "summary": d.summary,
            "procedure_version": d.procedure_version.version, "data": d.form_data,
            "tasks": [task_json(t) for t in waiting],
            "service_calls": [call_json(c) for c in service_calls.calls_of(d)],
            "payments": [payment_json(p) for p in payments.payments_of(d)],
            "components_received": received_components(d),
            "history": [{"at": e.at.isoformat(), "actor": e.actor_label, "action": e.action,
                         "task": e.task_title or None, "outcome": e.outcome or None, "status_from": e.status_from,
                         "status_to": e.status_to, "note": e.note_text or None}
                        for e in services.history(d, api_user())],
        })
    return out


def task_json(t: HumanTask) -> dict[str, Any]:
    return {"id": t.id, "title": t.title, "dossier_code": t.dossier.code, "lane": t.lane, "role": t.role,
            "state": t.state, "form": t.form, "claimed_by": t.claimed_by_id,
            "created_at": t.created_at.isoformat(), "due_at": t.due_at.isoformat() if t.due_at else None,
            "dossier_due_at": t.dossier.due_at.isoformat()}


def call_json(c: ServiceCall) -> dict[str, Any]:
    return {"id": c.id, "dossier_code": c.dossier.code, "title": c.title, "operation": c.operation,
            "state": c.state, "stalled": service_calls.is_stalled(c), "attempts": c.attempts, "rounds": c.rounds,
            "error": {"code": c.error_code, "message": c.error_message} if c.error_code else None,
            "next_attempt_at": c.next_attempt_at.isoformat() if c.next_attempt_at else None,
            "created_at": c.created_at.isoformat(), "updated_at": c.updated_at.isoformat()}


def payment_json(p: Payment) -> dict[str, Any]:
    receipt = payments.receipt_of(p)
    return {"id": p.id, "transaction_id": p.transaction_id, "amount": p.amount, "state": p.state,
            "pay_url": p.pay_url if p.state == "pending" else None,
            "paid_at": p.paid_at.isoformat() if p.paid_at else None, "refunded_amount": p.refunded_amount,
            "receipt_url": f"/tep/{receipt}" if receipt else None}


def report_details(report: PackageReport) -> dict[str, Any]:
    return {
        "verdict": report.verdict,
        "reason": report.reason,
        "problems": [{"file": p.file, "line": p.line, "pointer": p.pointer, "code": p.code, "message": p.message,
                      "severity": p.severity} for p in report.problems],
    }


@bp.get("/openapi.json")
def openapi() -> ResponseReturnValue:
    return jsonify(openapi_document())


@bp.get("/procedures")
def list_procedures() -> ResponseReturnValue:
    rows = db.session.scalars(
        select(Procedure).where(Procedure.current_version_id.is_not(None)).order_by(Procedure.code)
    ).all()
    return jsonify(items=[procedure_json(p) for p in rows])


@bp.get("/procedures/<code>")
def get_procedure(code: str) -> ResponseReturnValue:
    proc, _ = services.find_procedure(code)
    return jsonify(procedure_json(proc, with_forms=True))


@bp.post("/procedures")
@auth_required
def upload_procedure() -> ResponseReturnValue:
    if not api_user().is_designer:
        raise Forbidden(gettext("Chỉ người thiết kế quy trình được triển khai thủ tục."))
    files = [(f.filename or "", f.read()) for f in request.files.getlist("files") if f.filename]
    try:
        pkg = load_upload(files, slug=request.form.get("slug") or None)
    except PackageError as exc:
        return error(422, exc.code, exc.message)
    if request.args.get("dry_run") in ("1", "true"):
        report = check_package(pkg)
        return jsonify(report_details(report)), 200 if report.ok else 422
    try:
        result = deploy(pkg, deployed_by=api_user().username)
        db.session.commit()
    except DeployRefused as exc:
        db.session.rollback()
        return error(422, "package_invalid", gettext("Gói thủ tục có lỗi; chưa triển khai."),
                     report_details(exc.report))
    body = procedure_json(result.procedure)
    body["created"] = result.created
    body["version"] = result.version.version
    return jsonify(body), 201 if result.created else 200


@bp.post("/procedures/<code>/dossiers")
@auth_required
def submit(code: str) -> ResponseReturnValue:
    dossier = services.submit_dossier(code, json_body(), applicant=api_user(), channel=2)
    db.session.commit()
    body = dossier_json(dossier, full=True)
    body["workflow_error"] = workflow_incidents.notice(dossier)
    return jsonify(body), 201, {"Location": f"/api/v1/dossiers/{dossier.code}"}


@bp.get("/dossiers/<path:code>")
@auth_required
def get_dossier(code: str) -> ResponseReturnValue:
    return jsonify(dossier_json(services.view_dossier(code, api_user()), full=True))


@bp.get("/public/dossiers/<path:code>")
def public_dossier(code: str) -> ResponseReturnValue:
    return jsonify(services.public_status(code))


@bp.get("/tasks")
@auth_required
def tasks() -> ResponseReturnValue:
    return jsonify(items=[task_json(t) for t in services.inbox(api_user())])


@bp.get("/tasks/<int:task_id>")
@auth_required
def get_task(task_id: int) -> ResponseReturnValue:
    t = services.get_task(task_id, api_user())
    body = task_json(t)
    body["form_schema"] = services.task_form_schema(t)
    # A step done before in this dossier: what was submitted last time and the return that re-opened it.
    body["previous_data"], returned = services.reopened_from(t)
    if returned is not None and returned["at"] is not None:
        returned = {**returned, "at": returned["at"].isoformat()}
    body["returned"] = returned
    return jsonify(body)


@bp.post("/tasks/<int:task_id>/claim")
@auth_required
def claim(task_id: int) -> ResponseReturnValue:
    t = services.claim_task(task_id, api_user())
    db.session.commit()
    return jsonify(task_json(t))


@bp.post("/tasks/<int:task_id>/complete")
@auth_required
def complete(task_id: int) -> ResponseReturnValue:
    t = services.complete_task(task_id, api_user(), json_body())
    db.session.commit()
    # The step is saved even when the workflow then stopped on an engine error; `workflow_error` says so.
    return jsonify({"task": task_json(t), "dossier": dossier_json(t.dossier, full=True),
                    "workflow_error": workflow_incidents.notice(t.dossier)})


@bp.get("/incidents")
@auth_required
def incidents() -> ResponseReturnValue:
    sync = [{"dossier_code": d.code, "outbox_id": row.id, "kind": row.kind, "attempts": row.attempts,
             "error": row.last_error or None, "refused": bool(row.last_error) and row.next_attempt_at is None,
             "since": row.created_at.isoformat()} for d, row in service_calls.sync_problems(api_user())]
    refunds = [{"id": r.id, "dossier_code": r.payment.dossier.code, "transaction_id": r.payment.transaction_id,
                "amount": r.amount or None, "reason": r.reason, "requested_at": r.requested_at.isoformat()}
               for r in payments.stalled_refunds(api_user())]
    workflow = [workflow_incident_json(i) for i in workflow_incidents.incidents(api_user())]
    return jsonify(items=[call_json(c) for c in service_calls.incidents(api_user())], portal_sync=sync,
                   refunds=refunds, workflow=workflow)


def workflow_incident_json(incident: WorkflowIncident) -> dict[str, Any]:
    return {"id": incident.id, "dossier_code": incident.dossier.code, "task": incident.task_title,
            "spec_name": incident.spec_name, "code": incident.code, "message": incident.message,
            "state": incident.state, "attempts": incident.attempts, "since": incident.created_at.isoformat()}


@bp.post("/workflow-incidents/<int:incident_id>/retry")
@auth_required
def retry_workflow_incident(incident_id: int) -> ResponseReturnValue:
    """Run the failed workflow step again; an optional {"du_lieu": {...}} sets values its condition needed."""
    repair = json_body().get("du_lieu") if request.get_data(cache=True) else None
    if repair is not None and not isinstance(repair, dict):
        raise Invalid(gettext("«du_lieu» phải là một đối tượng JSON."),
                      details={"/du_lieu": gettext("Phải là một đối tượng JSON.")})
    incident = workflow_incidents.retry(incident_id, api_user(), repair)
    db.session.commit()
    return jsonify(workflow_incident_json(incident))


@bp.post("/refunds/<int:refund_id>/retry")
@auth_required
def retry_refund(refund_id: int) -> ResponseReturnValue:
    request_row = payments.retry_refund(refund_id, api_user())
    db.session.commit()
    return jsonify(id=request_row.id, state=request_row.state), 202


@bp.post("/dossiers/<path:code>/portal-sync/resend")
@auth_required
def resend_portal_sync(code: str) -> ResponseReturnValue:
    dossier = services.get_dossier(code)
    service_calls.resend_sync(dossier, api_user())
    db.session.commit()
    return jsonify(dossier_code=dossier.code, queued=True), 202


@bp.post("/incidents/<int:call_id>/retry")
@auth_required
def retry_incident(call_id: int) -> ResponseReturnValue:
    call = service_calls.retry_call(call_id, api_user())
    db.session.commit()
    return jsonify(call_json(call)), 202


@bp.post("/payments/<int:payment_id>/refund")
@auth_required
def refund_payment(payment_id: int) -> ResponseReturnValue:
    body = json_body()
    amount, reason = body.get("so_tien"), body.get("ly_do")
    if isinstance(amount, bool) or not isinstance(amount, int) or not isinstance(reason, str):
        raise Invalid(gettext("Cần số tiền hoàn (so_tien, số nguyên) và lý do (ly_do)."),
                      details={"/so_tien": gettext("Phải là số nguyên."), "/ly_do": gettext("Phải là chuỗi.")})
    payment = payments.refund(payment_id, api_user(), amount, reason)
    db.session.commit()
    return jsonify(payment_json(payment)), 202


@bp.post("/attachments")
@auth_required
def upload_attachment() -> ResponseReturnValue:
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        raise Invalid(gettext("Thiếu tệp (trường «file»)."), details={"/file": gettext("Thiếu tệp.")})
    att = store_upload(upload.read(), upload.filename, upload.mimetype or "", request.form.get("field", ""),
                       api_user())
    db.session.commit()
    return jsonify(reference=reference(att), filename=att.filename, size=att.size, sha256=att.sha256,
                   content_type=att.content_type), 201
