"""JSON API v1 with bearer tokens. Every error is {"error": {"code", "message", "details"}}.

Each view is declared with :func:`app.web.api.spec.operation`: the models of its ``json``/``form``/``query``
parameters (app/web/api/models.py) validate what it reads, and with its response models they generate the
OpenAPI document served at /api/v1/openapi.json. A new field in an answer needs its field in the model (the
tests check every answer against it)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext
from sqlalchemy import select

from app import documents
from app.administration import services as administration
from app.dossiers import (
    desk,
    docstore,
    indicators,
    lateness,
    leave,
    listings,
    messages,
    payments,
    ratings,
    service_calls,
    services,
    stalls,
    version_moves,
    watch,
    workflow_incidents,
)
from app.dossiers.access import design_scope, operating_scope
from app.dossiers.attachments import TYPES, open_attachment, reference, store_upload
from app.dossiers.calendar import classify_in_progress
from app.dossiers.clock import local_tz, now_utc
from app.dossiers.components import received_components
from app.dossiers.errors import Forbidden, Invalid, NotFound, ServiceError
from app.dossiers.results import declared_results, electronic_results
from app.extensions import csrf, db
from app.models import (
    Agency,
    Department,
    Dossier,
    HumanTask,
    Payment,
    Procedure,
    ServiceCall,
    SupplementRequest,
    User,
)
from app.models.integration import WorkflowIncident
from app.procedures import search, versions
from app.procedures.convert import convert_package
from app.procedures.deploy import DeployRefused, deploy
from app.procedures.package import PackageError, PackageReport, check_package, load_upload
from app.web import audited
from app.web.api import models as m
from app.web.api.openapi import openapi_document
from app.web.api.spec import api_user, error, file_responses, operation, pdf_responses, responses, zip_responses
from app.web.audited import viewed
from app.web.documents import agency_side, attachment_response, pdf_response, visible_documents
from app.web.studio import package_download
from app.web.version_moves import move_all

bp = Blueprint("api", __name__, url_prefix="/api/v1")
csrf.exempt(bp)  # bearer tokens, not cookies: no cross-site request can carry them


@bp.errorhandler(ServiceError)
def service_error(exc: ServiceError) -> ResponseReturnValue:
    db.session.rollback()
    return error(exc.status, exc.code, exc.message, exc.details)


def procedure_json(proc: Procedure, with_forms: bool = False) -> dict[str, Any]:
    version = proc.current_version
    assert version is not None
    m = version.manifest
    out: dict[str, Any] = {
        "code": proc.code, "name": proc.name, "agency": {"code": proc.agency.code, "name": proc.agency.name},
        "agencies": [{"code": a.code, "name": a.name} for a in services.offering_agencies(proc)],
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
            "service_calls": calls_json(service_calls.calls_of(d)),
            "payments": [payment_json(p) for p in payments.payments_of(d)],
            "components_received": received_components(d),
            "results": [{"href": url_for("api.get_attachment", token=a.token), "content_type": a.content_type,
                         "size": a.size, "sha256": a.sha256}
                        for a in electronic_results(d, for_applicant=not agency_side(api_user(), d))],
            "declared_results": declared_results(d),
            "history": [{"at": e.at.isoformat(), "actor": e.actor_label, "action": e.action,
                         "task": e.task_title or None, "outcome": e.outcome or None, "status_from": e.status_from,
                         "status_to": e.status_to, "note": e.note_text or None}
                        for e in services.history(d, api_user())],
            "supplements": [supplement_json(r) for r in desk.supplements_of(d)],
        })
    return out


def supplement_json(r: SupplementRequest) -> dict[str, Any]:
    return {"id": r.id, "state": r.state, "reason": r.reason, "components": r.components,
            "requested_at": r.requested_at.isoformat(), "deadline_at": r.deadline_at.isoformat(),
            "answered_at": r.answered_at.isoformat() if r.answered_at else None, "channel": r.answered_channel,
            "received": r.received}


def dossier_state(d: Dossier) -> dict[str, Any]:
    """A command's answer about its dossier (DossierState): where it stands, and where the rest is."""
    waiting = services.open_tasks(d)
    out = services.public_view(d, waiting)
    del out["applicant"]  # the public look-up's initials: the applicant's own view is at href
    out.update({"href": url_for("api.get_dossier", code=d.code), "tasks": [task_json(t) for t in waiting]})
    return out


def task_json(t: HumanTask) -> dict[str, Any]:
    return {"id": t.id, "title": t.title, "dossier_code": t.dossier.code, "lane": t.lane, "role": t.role,
            "state": t.state, "form": t.form, "claimed_by": t.claimed_by_id,
            "created_at": t.created_at.isoformat(), "due_at": t.due_at.isoformat() if t.due_at else None,
            "dossier_due_at": t.dossier.due_at.isoformat(),
            "legal_time": classify_in_progress(t.due_at or t.dossier.due_at, now_utc())}


def calls_json(calls: list[ServiceCall]) -> list[dict[str, Any]]:
    """Calls as the API shows them, whether each is stalled judged for the whole list in one query."""
    stalled = stalls.stalled_among(calls)
    return [call_json(c, stalled=c.id in stalled) for c in calls]


def call_json(c: ServiceCall, *, stalled: bool | None = None) -> dict[str, Any]:
    if stalled is None:
        stalled = stalls.is_stalled(c)
    return {"id": c.id, "dossier_code": c.dossier.code, "title": c.title, "operation": c.operation,
            "state": c.state, "stalled": stalled, "attempts": c.attempts, "rounds": c.rounds,
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
        "conversions": [{"file": c.file, "line": c.line, "code": c.code, "message": c.message}
                        for c in convert_package(report.files).changes],
    }


def list_query(query: m.ListQueryModel) -> listings.ListQuery:
    """A list's query from the API's query model (the same fields as the pages' URLs, in English)."""
    return listings.ListQuery(**query.model_dump(exclude_none=True))


def paging_json(page: listings.Page[Any]) -> dict[str, Any]:
    return {"page": page.page, "size": page.size, "has_next": page.has_next, "total": page.total,
            "total_capped": page.capped}


CODE = {"code": "Procedure code (mã TTHC), e.g. 1.001193"}
DOSSIER_CODE = {"code": "Dossier code <agency>-<YYMMDD>-<NNNN>"}


@bp.get("/openapi.json")
@operation("openapi", responses({200: (m.OpenAPIDocument, "OpenAPI document")}))
def openapi() -> ResponseReturnValue:
    """This document, generated from the operations' models"""
    return jsonify(openapi_document())


@bp.get("/procedures")
@operation("listProcedures", responses({200: (m.ProcedureList, "Procedures")}))
def list_procedures() -> ResponseReturnValue:
    """Procedure catalogue"""
    rows = db.session.scalars(
        select(Procedure).where(Procedure.current_version_id.is_not(None)).order_by(Procedure.code)
    ).all()
    return jsonify(items=[procedure_json(p) for p in rows])


@bp.get("/procedures/search")
@operation("searchProcedures", responses({200: (m.ProcedureSearchAnswers, "Answers, best first")}, 422))
def search_procedures(query: m.ProcedureSearchQuery) -> ResponseReturnValue:
    """Procedures that answer a plain question, each with why it matched

    The catalogue's search (the portal's page answers the same way): the procedures citizens apply for, ranked
    by BM25 over their names, everyday names, descriptions, components and fields, accents ignored."""
    procedures = services.listed_procedures()
    by_code = {p.code: p for p in procedures}
    found = search.index_of(procedures).search(query.q, limit=query.limit)
    return jsonify(q=query.q, corrections=[{"asked": a, "read_as": r} for a, r in (found[0].corrections if found
                                                                                     else [])],
                   items=[{"rank": i, "score": round(a.score, 4), "explanation": a.explanation(),
                           "matches": [{"field": mt.field, "label": mt.label, "words": mt.words,
                                        "texts": [{"text": text, "highlights": [{"start": b, "end": e}
                                                                                for b, e in spans]}
                                                  for text, spans in mt.texts]} for mt in a.matches],
                           "procedure": procedure_json(by_code[a.code])}
                          for i, a in enumerate(found, start=1)])


@bp.get("/procedures/<code>")
@operation("getProcedure", responses({200: (m.ProcedureDetail, "Procedure")}, 404), params=CODE)
def get_procedure(code: str) -> ResponseReturnValue:
    """One procedure with its start-form schema"""
    proc, _ = services.find_procedure(code)
    return jsonify(procedure_json(proc, with_forms=True))


@bp.post("/procedures")
@operation("deployProcedure", responses(
    {201: (m.DeployedProcedure, "New version deployed"),
     200: (m.DeployAnswer, "Identical content already deployed (DeployedProcedure), or the dry-run report of a "
                           "deployable package (PackageReport)")}, 401, 403, 413,
    described={422: (m.DeployRefusal, "The package cannot be deployed: with dry_run, its report (PackageReport); "
                                      "otherwise an Error whose details hold the report, or an unreadable upload")}),
    auth=True)
def upload_procedure(query: m.DeployQuery, form: m.DeployForm) -> ResponseReturnValue:
    """Deploy a procedure package (multipart field `files`: BPMN, procedure.json, *.schema.json, or one zip)"""
    if not api_user().is_designer:
        raise Forbidden(gettext("Chỉ người thiết kế quy trình được triển khai thủ tục."))
    try:
        pkg = load_upload([(f.filename or "", f.read()) for f in form.files], slug=form.slug or None)
    except PackageError as exc:
        return error(422, exc.code, exc.message)
    if query.dry_run:
        report = check_package(pkg)
        return jsonify(report_details(report)), 200 if report.ok else 422
    try:
        result = deploy(pkg, deployed_by=api_user().username, agency_id=design_scope(api_user()).agency_id)
        audited.deployed(result, user=api_user())
    except DeployRefused as exc:
        return error(422, "package_invalid", gettext("Gói thủ tục có lỗi; chưa triển khai."),
                     report_details(exc.report))
    body = procedure_json(result.procedure)
    body["created"] = result.created
    body["version"] = result.version.version
    return jsonify(body), 201 if result.created else 200


def _designer() -> None:
    if not api_user().is_designer:
        raise Forbidden(gettext("Chỉ người thiết kế quy trình được quản lý các phiên bản của thủ tục."))


def _procedure_version(code: str, number: int | None = None) -> tuple[Procedure, Any]:
    proc = versions.find_procedure(code)
    if proc is None or not design_scope(api_user()).allows_agency(proc.agency_id):
        raise NotFound(gettext("Không tìm thấy thủ tục có mã «%(code)s».", code=code), code="procedure_not_found")
    if number is None:
        return proc, None
    version = versions.find_version(proc, number) if 0 < number < 2**31 else None
    if version is None:
        raise NotFound(gettext("Thủ tục %(code)s không có phiên bản %(version)s.", code=code, version=number),
                       code="version_not_found")
    return proc, version


VERSION = {**CODE, "number": "Version number (1, 2, …)"}


@bp.get("/procedures/<code>/versions")
@operation("listVersions", responses({200: (m.VersionList, "The procedure's versions, newest first")}, 401, 403, 404),
           auth=True, params=CODE)
def list_versions(code: str) -> ResponseReturnValue:
    """A procedure's deployed versions (designers)"""
    _designer()
    proc, _ = _procedure_version(code)
    current = proc.current_version
    items = [{"version": v.version, "content_hash": v.content_hash, "deployed_at": v.deployed_at.isoformat(),
              "deployed_by": v.deployed_by, "current": v.id == proc.current_version_id,
              "retired": v.retired_at is not None, "retired_at": v.retired_at.isoformat() if v.retired_at else None,
              "package_href": url_for("api.download_version", code=code, number=v.version)}
             for v in versions.versions_of(proc)]
    return jsonify(code=proc.code, current_version=current.version if current else None, items=items)


@bp.get("/procedures/<code>/versions/<int:number>/package")
@operation("downloadVersion", zip_responses(
    "downloadVersion", "The version's package (zip: bpmn/<slug>/procedure.json, *.bpmn, forms/<slug>/*.json); "
    "deploying it gives the same content hash when the header X-Content-Hash-Exact is true", 401, 403, 404),
    auth=True, params=VERSION)
def download_version(code: str, number: int) -> ResponseReturnValue:
    """Download a deployed version's package (designers)"""
    _designer()
    proc, version = _procedure_version(code, number)
    return package_download(proc, version)


@bp.get("/procedures/<code>/versions/compare")
@operation("compareVersions", responses({200: (m.VersionComparison, "What changed")}, 401, 403, 404, 422),
           auth=True, params=CODE)
def compare_versions(code: str, query: m.CompareQuery) -> ResponseReturnValue:
    """Compare two versions: diagram elements, form fields and manifest fields added, removed or changed"""
    _designer()
    proc, old = _procedure_version(code, query.from_)
    _, new = _procedure_version(code, query.to)
    return jsonify(versions.compare(old, new))


@bp.post("/procedures/<code>/versions/<int:number>/retire")
@operation("retireVersion", responses({200: (m.RetiredVersion, "Retired (again: unchanged)")}, 401, 403, 404),
           auth=True, params=VERSION)
def retire_version(code: str, number: int) -> ResponseReturnValue:
    """Retire a version: no new dossier starts on it; its running dossiers go on (the current version moves to the
    newest one not retired; with none, the procedure stops accepting dossiers)"""
    _designer()
    _, version = _procedure_version(code, number)
    proc = versions.retire(version, api_user().username)
    audited.retired(proc, version, user=api_user())
    current = proc.current_version
    return jsonify(version=version.version, retired_at=version.retired_at.isoformat(),
                   current_version=current.version if current else None)


@bp.post("/procedures/<code>/versions/<int:number>/moves")
@operation("moveDossiers", responses({200: (m.VersionMoves, "Per running dossier: where it lands or why it cannot "
                                                                "move (dry run), or what was moved")},
                                     401, 403, 404, 409, 422), auth=True, params=VERSION)
def move_dossiers(code: str, number: int, query: m.MoveQuery) -> ResponseReturnValue:
    """Move the running dossiers of a version to another one (dry run by default); each dossier is moved in its own
    transaction, those that cannot move stay as they are; a dossier stopped on an engine error is repaired"""
    _designer()
    _, source = _procedure_version(code, number)
    _, target = _procedure_version(code, query.to)
    source_version, target_version = source.version, target.version
    items = version_moves.plan(source, target) if query.dry_run else move_all(source, target, api_user())
    return jsonify({"from": source_version, "to": target_version, "dry_run": query.dry_run,
                    "items": [i.as_json() for i in items]})


@bp.post("/procedures/<code>/dossiers")
@operation("submitDossier", responses(
    {201: (m.SubmittedDossier, "Dossier created (`workflow_error`: the workflow then stopped on an engine error, "
                               "reported to operators as a workflow incident)")}, 400, 401, 403, 404, 422),
    auth=True, params=CODE)
def submit(code: str, query: m.SubmitQuery, json: m.FormData) -> ResponseReturnValue:
    """Submit a dossier: the body is the start-form data (a file field may hold `{"kho_giay_to": id}`: a document
    of the caller's store, listMyDocuments)"""
    dossier = services.submit_dossier(code, json.root, applicant=api_user(), channel=2,
                                      agency_code=query.co_quan or None)
    # The answer is read in the transaction that wrote it, before the commit (spec.operation commits it with the
    # answer): what it shows is what the commit makes durable.
    body = dossier_state(dossier)
    body["workflow_error"] = workflow_incidents.notice(dossier)
    return jsonify(body), 201, {"Location": body["href"]}


@bp.get("/dossiers/<path:code>")
@operation("getDossier", responses({200: (m.Dossier, "Dossier")}, 401, 403, 404), auth=True, params=DOSSIER_CODE)
def get_dossier(code: str) -> ResponseReturnValue:
    """A dossier with data, open tasks and history (applicant or its agency)"""
    dossier = services.view_dossier(code, api_user())
    body = jsonify(dossier_json(dossier, full=True))
    viewed(dossier, "api_dossier", user=api_user())
    return body


@bp.get("/dossiers/<path:code>/documents")
@operation("listDocuments", responses({200: (m.IssuedDocuments, "Documents")}, 401, 403, 404), auth=True,
           params=DOSSIER_CODE)
def list_documents(code: str) -> ResponseReturnValue:
    """The documents issued about a dossier that the caller may download (its applicant: those addressed to them)"""
    dossier = services.view_dossier(code, api_user())
    found = [{"id": d.id, "kind": d.kind, "title": documents.KINDS[d.kind].title, "sequence": d.sequence,
              "number": d.number, "issued_at": d.issued_at.isoformat(), "issued_by": d.issued_by_name,
              "href": url_for("api.get_document", code=dossier.code, document_id=d.id)}
             for d in visible_documents(api_user(), dossier)]
    control = url_for("api.get_control_sheet", code=dossier.code) if agency_side(api_user(), dossier) else None
    return jsonify(documents=found, control_sheet_href=control)


@bp.get("/dossiers/<path:code>/documents/<int:document_id>")
@operation("getDocument", pdf_responses("getDocument", "The document's PDF", 401, 403, 404), auth=True,
           params={**DOSSIER_CODE, "document_id": "Id of an issued document (listDocuments)"})
def get_document(code: str, document_id: int) -> ResponseReturnValue:
    """An issued document as PDF, the same bytes each time it is downloaded"""
    dossier = services.view_dossier(code, api_user())
    doc = documents.find_document(dossier, document_id, for_applicant=not agency_side(api_user(), dossier))
    response = pdf_response(documents.render(doc), documents.filename(dossier.code, doc.kind, doc.sequence))
    viewed(dossier, "document", user=api_user(), ref=doc.id, detail={"document": doc.kind})
    return response


@bp.get("/dossiers/<path:code>/control-sheet")
@operation("getControlSheet", pdf_responses("getControlSheet", "The control sheet's PDF", 401, 403, 404),
           auth=True, params=DOSSIER_CODE)
def get_control_sheet(code: str) -> ResponseReturnValue:
    """The control sheet (Phiếu kiểm soát quá trình giải quyết hồ sơ) as the dossier stands now (its agency)"""
    dossier = services.view_dossier(code, api_user())
    if not agency_side(api_user(), dossier):
        raise Forbidden(gettext("Phiếu kiểm soát chỉ dành cho cán bộ của cơ quan giải quyết hồ sơ."),
                        code="control_sheet_forbidden")
    response = pdf_response(documents.control_sheet(dossier), documents.filename(dossier.code, "control"))
    viewed(dossier, "control_sheet", user=api_user())
    return response


@bp.get("/public/dossiers/<path:code>")
@operation("publicDossier", responses({200: (m.PublicDossier, "Public status")}, 404), params=DOSSIER_CODE)
def public_dossier(code: str) -> ResponseReturnValue:
    """Public status of a dossier by its code"""
    return jsonify(services.public_status(code))


@bp.get("/tasks")
@operation("listTasks", responses({200: (m.TaskList, "Tasks")}, 401, 422), auth=True)
def tasks(query: m.TaskListQuery) -> ResponseReturnValue:
    """The caller's inbox, a page at a time, most urgent first unless sorted otherwise

    The same filters and orders as the officer's inbox page; without parameters, the first 25 tasks."""
    page = listings.inbox(api_user(), list_query(query))
    return jsonify(items=[task_json(t) for t in page.items], paging=paging_json(page))


@bp.get("/tasks/<int:task_id>")
@operation("getTask", responses({200: (m.TaskDetail, "Task")}, 401, 404), auth=True)
def get_task(task_id: int) -> ResponseReturnValue:
    """One task with its form schema"""
    t = services.get_task(task_id, api_user())
    body = task_json(t)
    body["form_schema"] = services.task_form_schema(t)
    # A step done before in this dossier: what was submitted last time and the return that re-opened it.
    body["previous_data"], returned = services.reopened_from(t)
    if returned is None and t.state in services.OPEN_TASK_STATES:
        returned = desk.desk_return(t)  # a return made at the desk, whatever the diagram models
    if returned is not None and returned["at"] is not None:
        returned = {**returned, "at": returned["at"].isoformat()}
    body["returned"] = returned
    dossier, answer = t.dossier, jsonify(body)
    viewed(dossier, "api_task", user=api_user(), ref=task_id, detail={"step": t.title})
    return answer


@bp.post("/tasks/<int:task_id>/claim")
@operation("claimTask", responses({200: (m.Task, "Claimed")}, 401, 404, 409), auth=True)
def claim(task_id: int) -> ResponseReturnValue:
    """Claim a task"""
    t = services.claim_task(task_id, api_user())
    return jsonify(task_json(t))  # committed by spec.operation once answered


@bp.post("/tasks/<int:task_id>/complete")
@operation("completeTask", responses({200: (m.Completed, "Completed")}, 400, 401, 404, 409, 422), auth=True)
def complete(task_id: int, json: m.FormData) -> ResponseReturnValue:
    """Complete a task with its form data; the workflow moves on"""
    t = services.complete_task(task_id, api_user(), json.root)
    # The step is saved even when the workflow then stopped on an engine error; `workflow_error` says so. The
    # answer is read in the transaction that wrote it; spec.operation commits both.
    return jsonify(task=task_json(t), dossier=dossier_state(t.dossier),
                   workflow_error=workflow_incidents.notice(t.dossier))


@bp.get("/incidents")
@operation("listIncidents", responses({200: (m.Incidents, "Incidents")}, 401, 422), auth=True)
def incidents(query: m.IncidentListQuery) -> ResponseReturnValue:
    """Service calls that failed with nothing to catch the error, portal updates not sent, refunds not carried out
    and workflows stopped on an engine error: they wait for an operator

    Each kind a page at a time (`page` applies to each), with the incidents page's filters and orders; without
    parameters, the first 25 of each kind, oldest first."""
    found = listings.incidents(api_user(), list_query(query))
    empty: listings.Page[Any] = listings.Page(items=[], page=1, size=query.size, has_next=False, total=0)
    calls, sync, refunds, workflow = (found.get(kind, empty) for kind in ("calls", "sync", "refunds", "workflow"))
    return jsonify(
        items=calls_json(list(calls.items)),
        portal_sync=[{"dossier_code": d.code, "outbox_id": row.id, "kind": row.kind, "attempts": row.attempts,
                      "error": row.last_error or None,
                      "refused": bool(row.last_error) and row.next_attempt_at is None,
                      "since": row.created_at.isoformat()} for d, row in sync.items],
        refunds=[{"id": r.id, "dossier_code": r.payment.dossier.code, "transaction_id": r.payment.transaction_id,
                  "amount": r.amount or None, "reason": r.reason, "requested_at": r.requested_at.isoformat()}
                 for r in refunds.items],
        workflow=[workflow_incident_json(i) for i in workflow.items],
        paging={kind: paging_json(found[kind]) if kind in found else None
                for kind in ("calls", "sync", "refunds", "workflow")})


def workflow_incident_json(incident: WorkflowIncident) -> dict[str, Any]:
    return {"id": incident.id, "dossier_code": incident.dossier.code, "task": incident.task_title,
            "spec_name": incident.spec_name, "code": incident.code, "message": incident.message,
            "state": incident.state, "attempts": incident.attempts, "since": incident.created_at.isoformat()}


@bp.post("/workflow-incidents/<int:incident_id>/retry")
@operation("retryWorkflowIncident", responses({200: (m.WorkflowIncident, "Retried")}, 400, 401, 404, 409, 422),
           auth=True)
def retry_workflow_incident(incident_id: int, json: m.WorkflowRetryBody) -> ResponseReturnValue:
    """Run a workflow's failed step again, optionally with values its condition needed (`du_lieu`)

    `state` says whether it moved on (resolved) or failed again (open); the body may be left out."""
    incident = workflow_incidents.retry(incident_id, api_user(), json.du_lieu)
    return jsonify(workflow_incident_json(incident))


@bp.post("/refunds/<int:refund_id>/retry")
@operation("retryRefund", responses({202: (m.RefundQueued, "Queued")}, 401, 404, 409), auth=True)
def retry_refund(refund_id: int) -> ResponseReturnValue:
    """Queue a refund that has not been carried out again"""
    request_row = payments.retry_refund(refund_id, api_user())
    return jsonify(id=request_row.id, state=request_row.state), 202


@bp.post("/dossiers/<path:code>/portal-sync/resend")
@operation("resendPortalSync", responses({202: (m.SyncQueued, "Queued")}, 401, 404, 409), auth=True,
           params=DOSSIER_CODE)
def resend_portal_sync(code: str) -> ResponseReturnValue:
    """Send a dossier's owed national-portal updates again now (after a refusal or a long wait)"""
    dossier = services.get_dossier(code)
    service_calls.resend_sync(dossier, api_user())
    return jsonify(dossier_code=dossier.code, queued=True), 202


@bp.post("/incidents/<int:call_id>/retry")
@operation("retryIncident", responses({202: (m.ServiceCall, "Queued")}, 401, 404, 409), auth=True)
def retry_incident(call_id: int) -> ResponseReturnValue:
    """Try a failed service call again (a new round of attempts, run as a job)"""
    call = service_calls.retry_call(call_id, api_user())
    return jsonify(call_json(call)), 202


@bp.post("/dossiers/<path:code>/payments")
@operation("payFee", responses({200: (m.Payment, "The payment to pay: its pay_url is the platform's page")},
                               401, 403, 404, 409), auth=True, params=DOSSIER_CODE)
def pay_fee(code: str) -> ResponseReturnValue:
    """Pay the dossier's fee (its applicant): the payment waiting for the payer, or a new one when the last was
    cancelled or expired unpaid — the same as the dossier page's button"""
    payment = payments.new_payment(services.view_dossier(code, api_user()), api_user())
    if not payment.pay_url:
        # Our transaction id is committed before the platform hears of it: a payment it knows, we know.
        db.session.commit()
        payments.open_for_payer(payment)
    return jsonify(payment_json(payment))


@bp.post("/payments/<int:payment_id>/refund")
@operation("refundPayment", responses({202: (m.Payment, "Queued")}, 400, 401, 404, 409, 422), auth=True)
def refund_payment(payment_id: int, json: m.RefundBody) -> ResponseReturnValue:
    """Refund (part of) a paid fee; the refund runs as a job with an idempotency key"""
    payment = payments.refund(payment_id, api_user(), json.so_tien, json.ly_do)
    return jsonify(payment_json(payment)), 202


@bp.post("/attachments")
@operation("uploadAttachment", responses({201: (m.StoredAttachment, "Stored")}, 401, 413, 422), auth=True)
def upload_attachment(form: m.AttachmentForm) -> ResponseReturnValue:
    """Upload a file for a form field; returns the reference to put in the form data"""
    upload = form.file
    att = store_upload(upload.read(), upload.filename or "", upload.mimetype or "", form.field, api_user())
    return jsonify(reference=reference(att), filename=att.filename, size=att.size, sha256=att.sha256,
                   content_type=att.content_type), 201


@bp.get("/attachments/<token>")
@operation("getAttachment", file_responses("getAttachment", "The file (a verified PDF or image)", tuple(TYPES),
                                           401, 404), auth=True,
           params={"token": "The token of a file's reference (`<token>/<file name>`), or of a result's href"})
def get_attachment(token: str) -> ResponseReturnValue:
    """A dossier's file (an upload, the electronic result) for anyone entitled to its dossier, or its uploader"""
    att, path = open_attachment(token, api_user(), services.may_view)
    response = attachment_response(att, path, stream=False)
    if att.dossier_id is not None:
        dossier = db.session.get(Dossier, att.dossier_id)
        assert dossier is not None
        viewed(dossier, "attachment", user=api_user(), ref=att.id, detail={"field": att.field_path or ""})
    return response


# ---------------------------------------------------------------- the desk (app.dossiers.desk)


@bp.post("/dossiers/<path:code>/supplement-requests")
@operation("requestSupplement", responses({201: (m.Supplement, "Requested: the dossier is in status 5, its clock "
                                                                 "paused, the applicant notified")},
                                          400, 401, 403, 404, 409, 422), auth=True, params=DOSSIER_CODE)
def request_supplement(code: str, json: m.SupplementBody) -> ResponseReturnValue:
    """Ask the applicant for missing components, with a reason and a deadline to supplement"""
    request_row = desk.request_supplement(code, api_user(), reason=json.ly_do,
                                          components=[c.model_dump() for c in json.thanh_phan],
                                          deadline=json.han_bo_sung)
    return jsonify(supplement_json(request_row)), 201


@bp.post("/dossiers/<path:code>/supplement-requests/answer")
@operation("answerSupplement", responses({200: (m.SupplementAnswer, "Received: the dossier resumes with its new "
                                                                    "appointment date")},
                                         400, 401, 403, 404, 409, 422), auth=True, params=DOSSIER_CODE)
def answer_supplement(code: str, json: m.SupplementAnswerBody) -> ResponseReturnValue:
    """Hand in the supplement (the applicant, files uploaded first) or record it received at the desk (an officer,
    `tai_quay`)"""
    request_row = desk.answer_supplement(code, api_user(), files=json.tep, note=json.ghi_chu, at_desk=json.tai_quay)
    return jsonify(supplement=supplement_json(request_row), dossier=dossier_state(request_row.dossier))


@bp.post("/dossiers/<path:code>/refuse")
@operation("refuseDossier", responses({200: (m.DossierState, "Refused: status 3 before reception, else the refusal "
                                                             "is the result returned (10)")},
                                      400, 401, 403, 404, 409, 422), auth=True, params=DOSSIER_CODE)
def refuse_dossier(code: str, json: m.ReasonBody) -> ResponseReturnValue:
    """Refuse the dossier with a reason; its workflow is cancelled"""
    return jsonify(dossier_state(desk.refuse(code, api_user(), json.ly_do)))


@bp.post("/dossiers/<path:code>/stop")
@operation("stopDossier", responses({200: (m.DossierState, "Stopped (status 8, clock paused)")},
                                    400, 401, 403, 404, 409, 422), auth=True, params=DOSSIER_CODE)
def stop_dossier(code: str, json: m.ReasonBody) -> ResponseReturnValue:
    """Stop processing with a reason; the open steps wait until it resumes"""
    return jsonify(dossier_state(desk.stop(code, api_user(), json.ly_do)))


@bp.post("/dossiers/<path:code>/resume")
@operation("resumeDossier", responses({200: (m.DossierState, "Resumed, the appointment moved by the paused "
                                                             "working time")},
                                      400, 401, 403, 404, 409, 422), auth=True, params=DOSSIER_CODE)
def resume_dossier(code: str, json: m.OptionalReasonBody) -> ResponseReturnValue:
    """Resume a stopped dossier"""
    return jsonify(dossier_state(desk.resume(code, api_user(), json.ly_do)))


@bp.post("/dossiers/<path:code>/withdraw")
@operation("withdrawDossier", responses({200: (m.DossierState, "Withdrawn (status 7)")},
                                        400, 401, 403, 404, 409, 422), auth=True, params=DOSSIER_CODE)
def withdraw_dossier(code: str, json: m.OptionalReasonBody) -> ResponseReturnValue:
    """The applicant withdraws the dossier before its result is ready"""
    return jsonify(dossier_state(desk.withdraw(code, api_user(), json.ly_do)))


@bp.post("/dossiers/<path:code>/messages")
@operation("deliverMessage", responses({200: (m.DossierState, "Delivered: the step waiting for it took the payload and "
                                                           "the workflow moved on")},
                                       400, 401, 403, 404, 409, 422), auth=True, params=DOSSIER_CODE)
def deliver_message(code: str, json: m.MessageBody) -> ResponseReturnValue:
    """A message for a step of the dossier's workflow that waits for it (an inter-agency answer, another system's
    callback): `ten` is the diagram's bpmn:message name, `noi_dung` what the step stores in its message variable.
    409 `message_not_awaited` when no step waits for it now (a replay is refused, never applied twice)"""
    return jsonify(dossier_state(messages.deliver(code, json.ten, json.noi_dung, api_user())))


@bp.post("/messages")
@operation("deliverMessageByKey", responses({200: (m.DeliveredMessages, "Delivered to every dossier with that key's "
                                                                         "value that waited for it")},
                                            400, 401, 403, 404, 409, 422), auth=True)
def deliver_message_by_key(json: m.KeyedMessageBody) -> ResponseReturnValue:
    """A message correlated by a key procedure.json declares for it (`messages`: `{"key": <start-form field>}`)
    instead of a dossier code: 404 `message_key_unknown` when no dossier has that value, 409 when none of them
    waits for the message now"""
    delivered = messages.deliver_by_key(json.ten, json.khoa, json.noi_dung, api_user())
    return jsonify(dossiers=[dossier_state(d) for d in delivered])


@bp.post("/dossiers/<path:code>/rating")
@operation("rateDossier", responses({201: (m.Rating, "Rated")}, 400, 401, 403, 404, 409, 422), auth=True,
           params=DOSSIER_CODE)
def rate_dossier(code: str, json: m.RatingBody) -> ResponseReturnValue:
    """The applicant rates how the dossier was handled, once, after the result was handed back (status 10): each
    criterion of QĐ 766 (`danh_gia`: criterion → 1 không hài lòng, 2 hài lòng, 3 rất hài lòng) and a comment"""
    rating = ratings.rate_online(code, api_user(), json.danh_gia, json.y_kien)
    return jsonify(channel=rating.channel, answers=rating.answers, comment=rating.comment,
                   created_at=rating.created_at.isoformat()), 201


@bp.post("/dossiers/<path:code>/apology")
@operation("apologise", responses({201: (m.Apology, "Apologised: the applicant is sent the letter and the new date "
                                                    "by email and SMS")},
                                  400, 401, 403, 404, 409, 422), auth=True, params=DOSSIER_CODE)
def apologise(code: str, json: m.ApologyBody) -> ResponseReturnValue:
    """A late dossier: apologise to the applicant with a new appointment date and the reason for the delay (the
    officer holding it, or the head of department)"""
    event = watch.apologise(code, api_user(), new_date=json.ngay_hen_moi, reason=json.ly_do)
    params = event.note_params or {}
    dossier = db.session.get_one(Dossier, event.dossier_id)
    return jsonify(at=event.at.isoformat(), reason=params.get("reason", ""), old_due_at=params["old_due_at"],
                   new_due_at=params["new_due_at"], dossier=dossier_state(dossier)), 201


def _moved(t: HumanTask) -> ResponseReturnValue:
    return jsonify(task=task_json(t), dossier=dossier_state(t.dossier))


@bp.post("/tasks/<int:task_id>/return")
@operation("returnTask", responses({200: (m.TaskMoved, "Returned: `task` is the earlier step, re-opened")},
                                   400, 401, 404, 409, 422), auth=True)
def return_task(task_id: int, json: m.ReturnBody) -> ResponseReturnValue:
    """Send a waiting step back to an earlier step with a reason (any procedure, modelled or not)"""
    return _moved(desk.return_task(task_id, api_user(), json.ly_do, json.buoc))


@bp.post("/tasks/<int:task_id>/release")
@operation("releaseTask", responses({200: (m.TaskMoved, "Released to the role's common inbox")},
                                    400, 401, 403, 404, 409, 422), auth=True)
def release_task(task_id: int, json: m.OptionalReasonBody) -> ResponseReturnValue:
    """Give a claimed task back (its holder or the head of department)"""
    return _moved(desk.release_task(task_id, api_user(), json.ly_do))


@bp.post("/tasks/<int:task_id>/delegate")
@operation("delegateTask", responses({200: (m.TaskMoved, "Delegated")}, 400, 401, 403, 404, 409, 422), auth=True)
def delegate_task(task_id: int, json: m.AssignBody) -> ResponseReturnValue:
    """Hand one's task to a colleague with its role"""
    return _moved(desk.delegate_task(task_id, api_user(), json.nguoi_nhan, json.ly_do))


@bp.post("/tasks/<int:task_id>/reassign")
@operation("reassignTask", responses({200: (m.TaskMoved, "Reassigned")}, 400, 401, 403, 404, 409, 422), auth=True)
def reassign_task(task_id: int, json: m.AssignBody) -> ResponseReturnValue:
    """The head of department gives a task to an officer with its role"""
    return _moved(desk.reassign_task(task_id, api_user(), json.nguoi_nhan, json.ly_do))


@bp.get("/indicators/progress")
@operation("progressIndicators", responses({200: (m.ProgressIndicators, "Counters per agency and procedure")},
                                           400, 401, 403, 422), auth=True)
def progress_indicators(query: m.IndicatorQuery) -> ResponseReturnValue:
    """QĐ 766's progress counters for the days `tu`..`den` (local): received, carried over, handled before / on /
    after the statutory date, refused, withdrawn, open within / past it, paused, digitized, paid online, ratings — for
    the agency of an officer (an administrator: every agency)"""
    user = api_user()
    scope = operating_scope(user)
    if not scope.everywhere and scope.agency_id is None:
        raise Forbidden(gettext("Chỉ cán bộ của cơ quan (hoặc quản trị viên) xem được số liệu của cơ quan."))
    if query.den < query.tu:
        raise Invalid(gettext("Ngày kết thúc phải từ ngày bắt đầu trở đi."), details={"den": ""})
    rows = indicators.summary(query.tu, query.den,
                              None if scope.everywhere or scope.agency_id is None else [scope.agency_id])
    return jsonify(items=[r.as_dict() for r in rows])


@bp.get("/department/load")
@operation("departmentLoad", responses({200: (m.DepartmentLoad, "Load")}, 401, 403), auth=True)
def department_load() -> ResponseReturnValue:
    """The head of department's view: open tasks per officer of the agency, and those nobody holds"""
    load = desk.department_load(api_user())
    return jsonify(officers=[{"user_id": o.officer.id, "name": o.officer.full_name, "roles": list(o.officer.roles),
                              "claimed": o.claimed, "overdue": o.overdue,
                              "on_leave_until": _local_day(leave.last_day(o.on_leave)) if o.on_leave else None}
                             for o in load.officers],
                   waiting=load.waiting, tasks=[task_json(t) for t in load.tasks])


def _local_day(moment: Any) -> str:
    return str(moment.astimezone(local_tz()).date().isoformat())


def leave_json(entry: Any) -> dict[str, Any]:
    return {"id": entry.id, "officer_id": entry.officer_id, "officer_name": entry.officer.full_name,
            "starts_at": entry.starts_at.isoformat(), "ends_at": entry.ends_at.isoformat(),
            "first_day": _local_day(entry.starts_at), "last_day": _local_day(leave.last_day(entry)),
            "substitute_id": entry.substitute_id,
            "substitute_name": entry.substitute.full_name if entry.substitute else None, "reason": entry.reason,
            "applied_at": entry.applied_at.isoformat() if entry.applied_at else None}


@bp.get("/me/data-access")
@operation("myDataAccess", responses({200: (m.DataAccessLog, "Look-ups about the caller and views of their dossiers")},
                                     401, 422), auth=True)
def my_data_access(query: m.DataAccessQuery) -> ResponseReturnValue:
    """Who looked at the caller's data and why: registry look-ups by their personal ID, others' views of their dossiers

    The same list as the citizen's page «Ai đã xem dữ liệu của tôi», newest first, 50 a page."""
    rows, more = audited.page_of(api_user(), query.page)
    return jsonify(items=[audited.as_json(r) for r in rows], page=query.page, more=more)


def personal_document_json(d: docstore.StoredDocument) -> dict[str, Any]:
    doc = d.document
    return {"id": doc.id, "kind": doc.kind, "title": doc.title, "origin": doc.origin,
            "component_code": doc.component_code, "dossier_code": d.dossier_code, "procedure": d.procedure_name,
            "agency": d.agency_name, "issued_at": doc.issued_at.isoformat(),
            "valid_until": doc.valid_until.isoformat() if doc.valid_until else None, "state": d.state,
            "revoked_reason": doc.revoked_reason if doc.revoked_at else None,
            "content_type": d.attachment.content_type, "size": d.attachment.size,
            "href": url_for("api.get_attachment", token=d.attachment.token)}


@bp.get("/my-documents")
@operation("listMyDocuments", responses({200: (m.PersonalDocuments, "The caller's documents, newest first")}, 401),
           auth=True)
def list_my_documents(query: m.MyDocumentsQuery) -> ResponseReturnValue:
    """The caller's personal document store: results of their dossiers and components digitized at reception"""
    found = docstore.documents_of(api_user(), kinds=[query.loai] if query.loai else None)
    return jsonify(documents=[personal_document_json(d) for d in found
                              if d.state == "valid" or not query.con_hieu_luc])


@bp.get("/my-documents/<int:document_id>")
@operation("getMyDocument", responses({200: (m.PersonalDocument, "The document")}, 401, 404), auth=True,
           params={"document_id": "Id of a document of the caller's store (listMyDocuments)"})
def get_my_document(document_id: int) -> ResponseReturnValue:
    """One document of the caller's store (anyone else's: 404)"""
    return jsonify(personal_document_json(docstore.own_document(document_id, api_user())))


@bp.post("/personal-documents/<int:document_id>/revoke")
@operation("revokePersonalDocument", responses({200: (m.PersonalDocument, "Revoked (its owner can no longer use it)")},
                                               400, 401, 403, 404, 422), auth=True,
           params={"document_id": "Id of a document an applicant's store holds"})
def revoke_personal_document(document_id: int, json: m.RevokeBody) -> ResponseReturnValue:
    """Revoke (thu hồi) a document of an applicant's store: officers of the agency that received or issued it"""
    doc = docstore.revoke(document_id, api_user(), json.ly_do)
    return jsonify(personal_document_json(docstore.own_document(doc.id, db.session.get(User, doc.owner_id))))


@bp.get("/leaves")
@operation("listLeaves", responses({200: (m.Leaves, "Leaves running or to come")}, 401), auth=True)
def list_leaves() -> ResponseReturnValue:
    """The leave calendar: the agency's leaves for its head of department, one's own for an officer"""
    return jsonify(leaves=[leave_json(e) for e in leave.leaves_for(api_user())])


@bp.post("/leaves")
@operation("recordLeave", responses({201: (m.Leave, "Recorded; if it has begun, the officer's claimed steps moved")},
                                    400, 401, 403, 404, 409, 422), auth=True)
def record_leave(json: m.LeaveBody) -> ResponseReturnValue:
    """Enter a leave (oneself, or any officer of the agency for its head of department): while it runs the officer's
    claimed steps are with the substitute (or back in the pool) and nothing is given to the officer"""
    user = api_user()
    entry = leave.record_leave(user, json.can_bo or user.id, json.tu_ngay, json.den_ngay, json.nguoi_thay_the,
                               json.ly_do)
    return jsonify(leave_json(entry)), 201  # committed by spec.operation once answered


@bp.post("/leaves/<int:leave_id>/cancel")
@operation("cancelLeave", responses({200: (m.LeaveCancelled, "Deleted (not begun) or ended now (running)")},
                                    401, 403, 404, 409), auth=True, params={"leave_id": "Id of a leave (listLeaves)"})
def cancel_leave(leave_id: int) -> ResponseReturnValue:
    """Take a leave back: deleted before it begins, ended now while it runs (the steps moved stay where they are)"""
    kept = leave.cancel_leave(api_user(), leave_id)
    return jsonify(leave=leave_json(kept) if kept is not None else None)


@bp.get("/dossiers/<path:code>/steps")
@operation("dossierSteps", responses({200: (m.DossierSteps, "Each step: who held it, due, done, how late")},
                                     401, 403, 404), auth=True, params=DOSSIER_CODE)
def dossier_steps(code: str) -> ResponseReturnValue:
    """Lateness attributed: each step of the dossier with its holders and its lateness in working time (its agency)"""
    dossier = services.view_dossier(code, api_user())
    if not agency_side(api_user(), dossier):
        raise Forbidden(gettext("Chỉ cán bộ của cơ quan giải quyết hồ sơ xem được thời hạn từng bước."),
                        code="steps_forbidden")
    return jsonify(steps=[{
        "task_id": s.task.id, "title": s.task.title, "spec_name": s.task.spec_name, "lane": s.task.lane or "",
        "due_at": s.due_at.isoformat() if s.due_at else None, "done_at": s.done_at.isoformat() if s.done_at else None,
        "verdict": s.verdict, "late_hours": str(s.late_hours),
        "holdings": [{"officer_id": h.officer_id, "officer_name": h.officer_name, "held_from": h.held_from.isoformat(),
                      "held_until": h.held_until.isoformat(), "late_hours": str(h.late_hours)} for h in s.holdings],
    } for s in lateness.steps_of(dossier)])


# ---------------------------------------------------------------- administration (app.administration)


def _admin_agency_json(a: Any) -> dict[str, Any]:
    return {"id": a.id, "code": a.code, "name": a.name, "level": a.level, "parent_id": a.parent_id,
            "unit_code": a.unit_code, "code_provisional": a.code_provisional, "address": a.address or "",
            "office_hours": a.office_hours}


def _admin_officer_json(person: Any, released: list[int]) -> dict[str, Any]:
    return {"id": person.id, "username": person.username, "full_name": person.full_name,
            "agency_id": person.agency_id, "department_id": person.department_id, "roles": list(person.roles or []),
            "released_task_ids": released}


def _released(change: Any) -> list[int]:
    return list((change.after or {}).get("released_task_ids", [])) if change is not None else []


@bp.get("/admin/agencies")
@operation("adminListAgencies", responses({200: (m.AdminAgencies, "At most 50 agencies")}, 401, 403), auth=True)
def admin_agencies(query: m.AdminAgencyQuery) -> ResponseReturnValue:
    """Agencies for an administrator: found by name or code, or the children of one, or the top level"""
    administration.require_admin(api_user())
    found = administration.search_agencies(query.q, query.parent)
    return jsonify(items=[_admin_agency_json(a) for a in found])


@bp.post("/admin/officers/<int:user_id>/department")
@operation("adminMoveOfficer", responses({200: (m.AdminOfficer, "Moved; the steps held follow within the agency")},
                                         401, 403, 404, 422), auth=True, params={"user_id": "Id of the officer"})
def admin_move_officer(user_id: int, json: m.OfficerDepartmentBody) -> ResponseReturnValue:
    """Move an officer to a department (recorded with before and after)"""
    actor = administration.require_admin(api_user())
    person = administration.get_officer(user_id)
    department = db.session.get(Department, json.department_id)
    if department is None:
        raise NotFound(gettext("Không tìm thấy phòng ban."), code="department_not_found")
    administration.move_officer(actor, person, department)
    return jsonify(_admin_officer_json(person, _released(administration.last_change("officer", person.id))))


@bp.post("/admin/officers/<int:user_id>/roles")
@operation("adminSetRoles", responses({200: (m.AdminOfficer, "Roles set; waiting steps of a granted role appear at "
                                                              "once in the officer's inbox")},
                                      401, 403, 404, 409, 422), auth=True, params={"user_id": "Id of the officer"})
def admin_set_roles(user_id: int, json: m.OfficerRolesBody) -> ResponseReturnValue:
    """Set an officer's roles in their agency and department (recorded with before and after)"""
    actor = administration.require_admin(api_user())
    person = administration.get_officer(user_id)
    administration.set_roles(actor, person, json.roles)
    return jsonify(_admin_officer_json(person, _released(administration.last_change("officer", person.id))))


def _publication_json(proc: Procedure) -> dict[str, Any]:
    return {"code": proc.code,
            "agencies": [{"code": a.code, "name": a.name} for a in services.offering_agencies(proc)]}


def _agency_by_code(agency_code: str) -> Any:
    agency = db.session.scalar(select(Agency).where(Agency.code == agency_code.strip().upper()))
    if agency is None:
        raise NotFound(gettext("Không tìm thấy cơ quan có mã «%(code)s».", code=agency_code), code="agency_not_found")
    return agency


@bp.post("/admin/procedures/<code>/agencies/<agency_code>")
@operation("adminPublish", responses({200: (m.Publication, "Published for the agency too")}, 401, 403, 404, 409),
           auth=True, params={**CODE, "agency_code": "QCVN 102 identifier of the agency"})
def admin_publish(code: str, agency_code: str) -> ResponseReturnValue:
    """Publish a procedure for one more agency: its applicants then choose the agency (`co_quan`)"""
    actor = administration.require_admin(api_user())
    proc = administration.publish(actor, administration.get_procedure(code), _agency_by_code(agency_code))
    return jsonify(_publication_json(proc))


@bp.post("/admin/procedures/<code>/agencies/<agency_code>/withdraw")
@operation("adminUnpublish", responses({200: (m.Publication, "No longer published for the agency")}, 401, 403, 404),
           auth=True, params={**CODE, "agency_code": "QCVN 102 identifier of the agency"})
def admin_unpublish(code: str, agency_code: str) -> ResponseReturnValue:
    """Stop publishing a procedure for an agency (its own agency stays)"""
    actor = administration.require_admin(api_user())
    proc = administration.unpublish(actor, administration.get_procedure(code), _agency_by_code(agency_code))
    return jsonify(_publication_json(proc))


@bp.post("/admin/agencies/<int:agency_id>")
@operation("adminUpdateAgency", responses({200: (m.AdminAgency, "Changed (recorded with before and after)")},
                                          401, 403, 404, 409, 422), auth=True,
           params={"agency_id": "Id of the agency (adminListAgencies)"})
def admin_update_agency(agency_id: int, json: m.AgencyBody) -> ResponseReturnValue:
    """Change an agency: identifier, name, level, address, office hours, parent"""
    actor = administration.require_admin(api_user())
    agency = administration.save_agency(actor, administration.get_agency(agency_id), code=json.code, name=json.name,
                                        level=json.level, address=json.address, office_hours=json.office_hours,
                                        parent_code=json.parent)
    return jsonify(_admin_agency_json(agency))


@bp.post("/admin/agencies/<int:agency_id>/departments")
@operation("adminAddDepartment", responses({201: (m.AdminDepartment, "Created")}, 401, 403, 404, 422), auth=True,
           params={"agency_id": "Id of the agency (adminListAgencies)"})
def admin_add_department(agency_id: int, json: m.DepartmentBody) -> ResponseReturnValue:
    """Add a department to an agency"""
    actor = administration.require_admin(api_user())
    department = administration.add_department(actor, administration.get_agency(agency_id), json.name)
    return jsonify({"id": department.id, "agency_id": department.agency_id, "name": department.name}), 201


@bp.post("/admin/agencies/<int:agency_id>/calendar")
@operation("adminSetCalendarDay", responses({200: (m.AdminCalendarDay, "Recorded: the agency's deadlines count it")},
                                            401, 403, 404, 422), auth=True,
           params={"agency_id": "Id of the agency (adminListAgencies)"})
def admin_set_calendar_day(agency_id: int, json: m.CalendarDayBody) -> ResponseReturnValue:
    """An agency's extra working day or extra day off (the same day again is changed)"""
    actor = administration.require_admin(api_user())
    entry = administration.set_calendar_day(actor, administration.get_agency(agency_id), json.day, json.working,
                                            json.note)
    return jsonify({"id": entry.id, "agency_id": entry.agency_id, "day": entry.day.isoformat(),
                    "working": entry.working, "note": entry.note})


def _api_client_json(client: Any) -> dict[str, Any]:
    return {"id": client.id, "client_id": client.client_id, "name": client.name, "scopes": list(client.scopes or []),
            "agency_code": client.user.agency.code if client.user.agency else None,
            "roles": list(client.user.roles or []), "created_at": client.created_at.isoformat(),
            "revoked_at": client.revoked_at.isoformat() if client.revoked_at else None}


@bp.get("/admin/api-clients")
@operation("adminListApiClients", responses({200: (m.AdminApiClients, "Live clients first, then revoked ones")},
                                            401, 403), auth=True)
def admin_api_clients() -> ResponseReturnValue:
    """The other systems allowed to call the API"""
    administration.require_admin(api_user())
    return jsonify(items=[_api_client_json(c) for c in administration.api_clients()])


@bp.post("/admin/api-clients")
@operation("adminIssueApiClient", responses({201: (m.IssuedApiClient, "Issued: the secret is in this answer only")},
                                            401, 403, 422), auth=True)
def admin_issue_api_client(json: m.ApiClientBody) -> ResponseReturnValue:
    """Issue a client to another system: it asks tokens at POST /oauth/token with its id and secret"""
    actor = administration.require_admin(api_user())
    client, secret = administration.issue_api_client(actor, json.name, json.scopes, json.agency, json.roles)
    return jsonify({**_api_client_json(client), "client_secret": secret}), 201, {"Cache-Control": "no-store"}


@bp.post("/admin/api-clients/<int:client_pk>/revoke")
@operation("adminRevokeApiClient", responses({200: (m.AdminApiClient, "Revoked: its tokens stop at once")},
                                             401, 403, 404, 409), auth=True,
           params={"client_pk": "Id of the client (adminListApiClients)"})
def admin_revoke_api_client(client_pk: int) -> ResponseReturnValue:
    """Revoke a client"""
    actor = administration.require_admin(api_user())
    client = administration.revoke_api_client(actor, administration.get_api_client(client_pk))
    return jsonify(_api_client_json(client))
