"""The access-control matrix, generated from the application's own routes: every page and API endpoint whose URL
names a dossier, task, document, attachment, incident, payment, refund, leave, procedure version or draft, for every
kind of person — each role of two agencies, two citizens, a business, a designer, an administrator, nobody signed
in — against one khai sinh dossier of agency 1 (its applicant: the demo citizen) and a designer's draft.

- Every route with such a parameter must be listed here (a new route fails the test until its rule is written).
- GET: who is due access gets 200 (which also proves the URL is right); an outsider never does (401, 403, 404, or a
  redirect to the login page). A guessed code, id or token gives nobody a 200.
- POST: only outsiders are sent (an insider's request would change the dossier); each is refused, and afterwards
  nothing about the dossier, its steps, payments or the procedures has changed.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, select

from app.accounts import issue_token, set_password
from app.dossiers.attachments import reference_token
from app.dossiers.services import complete_task, submit_dossier
from app.extensions import db
from app.models import (
    AuditEvent,
    Dossier,
    HumanTask,
    IssuedDocument,
    OfficerLeave,
    PersonalDocument,
    ProcedureDraft,
    ProcedureVersion,
    User,
    WorkflowInstance,
)
from app.models.integration import Payment, Refund
from app.procedures import drafts
from tests.samples import start_data, task_data, with_stored_uploads

AGENCY_1 = ["tiepnhan", "hotich", "chutich", "traketqua", "truongphong"]
AGENCY_2 = ["ca.tiepnhan", "ca.cutru", "ca.truong"]
OTHERS = ["congdan2", "doanhnghiep", "thietke", "thietke.ca", "quantri"]
EVERYONE = ["anon", "congdan", *AGENCY_1, *AGENCY_2, *OTHERS]
# Outsiders of the dossier: nothing of it is theirs to see or do.
DOSSIER_OUTSIDERS = {"anon", "congdan2", "doanhnghiep", "thietke", "thietke.ca", *AGENCY_2}
# Outsiders of the procedures' design: nothing of the studio is theirs.
# (thietke.ca designs the police's procedures: agency 1's are not theirs.)
DESIGN_OUTSIDERS = {"anon", "congdan", "congdan2", "doanhnghiep", "thietke.ca", *AGENCY_1, *AGENCY_2}
VIEWERS = {"congdan", *AGENCY_1, "quantri"}  # the applicant, the agency's officers, the administrator
OFFICE = {*AGENCY_1, "quantri"}  # the agency's own pages about the dossier
DESK = set(AGENCY_1)  # the desk's page is for officers (an administrator acts through the API: not judged)
EXAMINER = {"hotich"}  # the open step (examination) is the civil-status officer's
DESIGNERS = {"thietke", "quantri"}
GUESSED_CODE = "000.00.01.H26-261201-9999"
GUESSED_ID = 99999


class Scene:
    code: str
    task_id: int
    document_id: int
    attachment: str
    draft_id: int
    leave_id: int
    payment_id: int
    refund_id: int
    personal_document_id: int
    ids: dict[str, Any]


def _person(username: str, full_name: str, roles: list[str], agency_id: int | None = None) -> User:
    """The account, created unless the seed has it (the seed's break-glass administrator, for one)."""
    existing = db.session.scalar(select(User).where(User.username == username))
    if existing is not None:
        set_password(existing, "demo123")
        return existing
    person = User(username=username, full_name=full_name, roles=roles, agency_id=agency_id)
    set_password(person, "demo123")
    db.session.add(person)
    db.session.flush()
    return person


@pytest.fixture()
def scene(db_session: Any) -> Scene:
    from tests.conftest import user

    _person("congdan2", "Trần Thị Hai", ["cong_dan"])
    _person("doanhnghiep", "Công ty TNHH An Khang", ["cong_dan"])  # a business account (its own dossiers only)
    _person("quantri", "Quản Trị Viên", ["quan_tri"])
    _person("thietke.ca", "Đinh Thiết Kế", ["thiet_ke"], user("ca.tiepnhan").agency_id)
    dossier = submit_dossier("1.001193", with_stored_uploads(start_data("khai-sinh"), user("congdan")),
                             applicant=user("congdan"))
    reception = db.session.scalar(select(HumanTask).where(HumanTask.dossier_id == dossier.id))
    complete_task(reception.id, user("tiepnhan"), task_data("khai-sinh", reception.form))
    task = db.session.scalar(select(HumanTask).where(HumanTask.dossier_id == dossier.id,
                                                     HumanTask.state == "ready"))
    document = db.session.scalar(select(IssuedDocument).where(IssuedDocument.dossier_id == dossier.id))
    draft = drafts.blank("9.900401", "Thủ tục thử quyền", "000.00.01.H26", "thietke")
    leave = OfficerLeave(officer_id=user("hotich").id, agency_id=user("hotich").agency_id,
                         starts_at=datetime(2030, 1, 6, 1, tzinfo=UTC), ends_at=datetime(2030, 1, 8, 1, tzinfo=UTC),
                         reason="Nghỉ phép", created_by_id=user("truongphong").id)
    db.session.add(leave)
    payment = Payment(dossier_id=dossier.id, transaction_id=f"T{uuid.uuid4().hex[:12]}", amount=8000,
                      state="paid", description="Lệ phí")
    db.session.add(payment)
    db.session.flush()
    refund = Refund(payment_id=payment.id, request_key=uuid.uuid4().hex, amount=8000, state="pending",
                    reason="Thử")
    db.session.add(refund)
    db_session.commit()
    s = Scene()
    s.code, s.task_id, s.draft_id, s.leave_id = dossier.code, task.id, draft.id, leave.id
    s.document_id = document.id
    s.payment_id, s.refund_id = payment.id, refund.id
    s.attachment = start_data_token(dossier)
    # the birth certificate, digitized at reception, is in the applicant's document store
    s.personal_document_id = db.session.scalar(select(PersonalDocument.id).where(
        PersonalDocument.dossier_id == dossier.id))
    return s


def start_data_token(dossier: Dossier) -> str:
    """The stored token of the birth certificate the applicant uploaded (a file field of the start form)."""
    token = reference_token(dossier.form_data["giay_chung_sinh"])
    assert token is not None
    return token


# Each route: (endpoint, method, URL builder, who is due access). For POST routes only outsiders are sent.
Builder = Callable[[Scene], str]
RULES: list[tuple[str, str, Builder, set[str] | None, set[str]]] = [
    # endpoint, method, url, due access (None: public, not judged here), outsiders
    ("portal.dossier_page", "GET", lambda s: f"/ho-so/{s.code}", VIEWERS, DOSSIER_OUTSIDERS),
    ("portal.receipt", "GET", lambda s: f"/ho-so/{s.code}/bien-nhan", VIEWERS, DOSSIER_OUTSIDERS),
    ("portal.document", "GET", lambda s: f"/ho-so/{s.code}/van-ban/{s.document_id}", VIEWERS, DOSSIER_OUTSIDERS),
    ("portal.attachment", "GET", lambda s: f"/tep/{s.attachment}", VIEWERS, DOSSIER_OUTSIDERS),
    ("portal.payment_return", "GET", lambda s: f"/ho-so/{s.code}/thanh-toan/ket-qua", None, set()),
    ("portal.procedure", "GET", lambda s: "/thu-tuc/1.001193", None, set()),
    ("statistics.transparency", "GET", lambda s: "/cong-khai/000.00.01.H26", None, set()),  # public by design
    ("portal.supplement", "POST", lambda s: f"/ho-so/{s.code}/bo-sung", set(), DOSSIER_OUTSIDERS),
    ("portal.withdraw", "POST", lambda s: f"/ho-so/{s.code}/rut", set(), DOSSIER_OUTSIDERS),
    ("portal.rate", "POST", lambda s: f"/ho-so/{s.code}/danh-gia", set(), DOSSIER_OUTSIDERS),
    ("inbox.kiosk_rating", "GET", lambda s: f"/can-bo/ho-so/{s.code}/danh-gia", OFFICE, DOSSIER_OUTSIDERS),
    ("portal.pay", "POST", lambda s: f"/ho-so/{s.code}/thanh-toan", set(), DOSSIER_OUTSIDERS),
    ("portal.refund", "POST", lambda s: f"/ho-so/{s.code}/thanh-toan/{s.payment_id}/hoan-tien", set(),
     DOSSIER_OUTSIDERS),
    ("inbox.dossier_desk", "GET", lambda s: f"/can-bo/ho-so/{s.code}", DESK, DOSSIER_OUTSIDERS),
    ("inbox.control_sheet", "GET", lambda s: f"/can-bo/ho-so/{s.code}/phieu-kiem-soat", OFFICE, DOSSIER_OUTSIDERS),
    ("inbox.diagram_xml", "GET", lambda s: f"/can-bo/ho-so/{s.code}/so-do.bpmn", OFFICE, DOSSIER_OUTSIDERS),
    ("inbox.diagram_progress", "GET", lambda s: f"/can-bo/ho-so/{s.code}/so-do.json", OFFICE, DOSSIER_OUTSIDERS),
    ("inbox.task", "GET", lambda s: f"/cong-viec/{s.task_id}", EXAMINER, DOSSIER_OUTSIDERS),
    *[(f"inbox.{e}", "POST", (lambda p: lambda s: f"/can-bo/ho-so/{s.code}/{p}")(p), set(), DOSSIER_OUTSIDERS)
      for e, p in [("request_supplement", "bo-sung"), ("stop", "dung"), ("receive_supplement", "nhan-bo-sung"),
                   ("resume", "tiep-tuc"), ("refuse", "tu-choi"), ("apologise", "xin-loi")]],
    *[(f"inbox.{e}", "POST", (lambda p: lambda s: f"/cong-viec/{s.task_id}{p}")(p), set(), DOSSIER_OUTSIDERS)
      for e, p in [("complete", ""), ("claim", "/nhan"), ("reassign", "/phan-cong"), ("return_task", "/tra-lai"),
                   ("release", "/tra-ve-nhom"), ("delegate", "/uy-quyen")]],
    ("inbox.cancel_leave", "POST", lambda s: f"/can-bo/nghi-phep/{s.leave_id}/huy", set(),
     {"anon", "congdan", "congdan2", "doanhnghiep", "thietke", "thietke.ca", *AGENCY_2}),
    ("inbox.retry_incident", "POST", lambda s: f"/can-bo/su-co/{GUESSED_ID}/thu-lai", set(), DOSSIER_OUTSIDERS),
    ("inbox.resend_sync", "POST", lambda s: f"/can-bo/su-co/dong-bo/{s.ids['dossier']}/gui-lai", set(),
     DOSSIER_OUTSIDERS),
    ("inbox.retry_refund", "POST", lambda s: f"/can-bo/su-co/hoan-tien/{s.refund_id}/thu-lai", set(),
     DOSSIER_OUTSIDERS),
    ("inbox.retry_workflow_incident", "POST", lambda s: f"/can-bo/su-co/quy-trinh/{GUESSED_ID}/thu-lai", set(),
     DOSSIER_OUTSIDERS),
    # The API, with each person's bearer token.
    ("api.get_dossier", "GET", lambda s: f"/api/v1/dossiers/{s.code}", VIEWERS, DOSSIER_OUTSIDERS),
    ("api.list_documents", "GET", lambda s: f"/api/v1/dossiers/{s.code}/documents", VIEWERS, DOSSIER_OUTSIDERS),
    ("api.get_document", "GET", lambda s: f"/api/v1/dossiers/{s.code}/documents/{s.document_id}", VIEWERS,
     DOSSIER_OUTSIDERS),
    ("api.get_control_sheet", "GET", lambda s: f"/api/v1/dossiers/{s.code}/control-sheet", OFFICE,
     DOSSIER_OUTSIDERS),
    ("api.dossier_steps", "GET", lambda s: f"/api/v1/dossiers/{s.code}/steps", OFFICE, DOSSIER_OUTSIDERS),
    ("api.get_attachment", "GET", lambda s: f"/api/v1/attachments/{s.attachment}", VIEWERS, DOSSIER_OUTSIDERS),
    ("api.public_dossier", "GET", lambda s: f"/api/v1/public/dossiers/{s.code}", None, set()),
    ("api.get_task", "GET", lambda s: f"/api/v1/tasks/{s.task_id}", EXAMINER, DOSSIER_OUTSIDERS),
    ("api.get_procedure", "GET", lambda s: "/api/v1/procedures/1.001193", None, set()),
    ("api.submit", "POST", lambda s: "/api/v1/procedures/1.001193/dossiers", None, set()),
    *[(f"api.{e}", "POST", (lambda p: lambda s: f"/api/v1/dossiers/{s.code}/{p}")(p), set(), DOSSIER_OUTSIDERS)
      for e, p in [("apologise", "apology"), ("deliver_message", "messages"), ("pay_fee", "payments"),
                   ("rate_dossier", "rating"),
                   ("resend_portal_sync", "portal-sync/resend"), ("refuse_dossier", "refuse"),
                   ("resume_dossier", "resume"), ("stop_dossier", "stop"),
                   ("request_supplement", "supplement-requests"),
                   ("answer_supplement", "supplement-requests/answer"), ("withdraw_dossier", "withdraw")]],
    *[(f"api.{e}", "POST", (lambda p: lambda s: f"/api/v1/tasks/{s.task_id}/{p}")(p), set(), DOSSIER_OUTSIDERS)
      for e, p in [("claim", "claim"), ("complete", "complete"), ("delegate_task", "delegate"),
                   ("reassign_task", "reassign"), ("release_task", "release"), ("return_task", "return")]],
    ("api.retry_incident", "POST", lambda s: f"/api/v1/incidents/{GUESSED_ID}/retry", set(), DOSSIER_OUTSIDERS),
    ("api.retry_workflow_incident", "POST", lambda s: f"/api/v1/workflow-incidents/{GUESSED_ID}/retry", set(),
     DOSSIER_OUTSIDERS),
    ("api.refund_payment", "POST", lambda s: f"/api/v1/payments/{s.payment_id}/refund", set(), DOSSIER_OUTSIDERS),
    ("api.retry_refund", "POST", lambda s: f"/api/v1/refunds/{s.refund_id}/retry", set(), DOSSIER_OUTSIDERS),
    ("api.cancel_leave", "POST", lambda s: f"/api/v1/leaves/{s.leave_id}/cancel", set(),
     {"anon", "congdan", "congdan2", "doanhnghiep", "thietke", "thietke.ca", *AGENCY_2}),
    # The applicant's document store: the owner only; revoked by the agency that received or issued the document.
    ("api.get_my_document", "GET", lambda s: f"/api/v1/my-documents/{s.personal_document_id}", {"congdan"},
     set(EVERYONE) - {"congdan"}),
    ("api.revoke_personal_document", "POST", lambda s: f"/api/v1/personal-documents/{s.personal_document_id}/revoke",
     set(), DOSSIER_OUTSIDERS | {"congdan"}),
    ("inbox.revoke_document", "POST", lambda s: f"/can-bo/kho-giay-to/{s.personal_document_id}/thu-hoi", set(),
     DOSSIER_OUTSIDERS | {"congdan"}),
    # The studio: designers only.
    ("studio.procedure", "GET", lambda s: "/thiet-ke/thu-tuc/1.001193", DESIGNERS, DESIGN_OUTSIDERS),
    ("studio.version", "GET", lambda s: "/thiet-ke/thu-tuc/1.001193/phien-ban/1", DESIGNERS, DESIGN_OUTSIDERS),
    ("studio.version_xml", "GET", lambda s: "/thiet-ke/thu-tuc/1.001193/phien-ban/1/so-do.bpmn", DESIGNERS,
     DESIGN_OUTSIDERS),
    ("studio.download", "GET", lambda s: "/thiet-ke/thu-tuc/1.001193/phien-ban/1/tai-ve", DESIGNERS,
     DESIGN_OUTSIDERS),
    ("studio.form_preview", "GET", lambda s: "/thiet-ke/thu-tuc/1.001193/phien-ban/1/bieu-mau/to-khai.schema.json",
     DESIGNERS, DESIGN_OUTSIDERS),
    ("studio.compare", "GET", lambda s: "/thiet-ke/thu-tuc/1.001193/so-sanh", None, DESIGN_OUTSIDERS),
    ("studio.move", "GET", lambda s: "/thiet-ke/thu-tuc/1.001193/chuyen-phien-ban", None, DESIGN_OUTSIDERS),
    ("studio.retire", "POST", lambda s: "/thiet-ke/thu-tuc/1.001193/phien-ban/1/ngung", set(), DESIGN_OUTSIDERS),
    ("drafts.edit", "GET", lambda s: f"/thiet-ke/ban-nhap/{s.draft_id}", DESIGNERS, DESIGN_OUTSIDERS),
    ("drafts.package", "GET", lambda s: f"/thiet-ke/ban-nhap/{s.draft_id}/goi.json", DESIGNERS, DESIGN_OUTSIDERS),
    ("drafts.form_preview", "GET", lambda s: f"/thiet-ke/ban-nhap/{s.draft_id}/bieu-mau/to-khai.schema.json",
     DESIGNERS, DESIGN_OUTSIDERS),
    *[(f"drafts.{e}", "POST", (lambda p: lambda s: f"/thiet-ke/ban-nhap/{s.draft_id}/{p}")(p), set(),
       DESIGN_OUTSIDERS)
      for e, p in [("check", "kiem-tra"), ("save", "luu"), ("deploy", "trien-khai"), ("discard", "xoa")]],
    ("drafts.from_version", "POST", lambda s: "/thiet-ke/ban-nhap/tu-phien-ban/1.001193/1", set(),
     DESIGN_OUTSIDERS),
    ("api.list_versions", "GET", lambda s: "/api/v1/procedures/1.001193/versions", DESIGNERS, DESIGN_OUTSIDERS),
    ("api.download_version", "GET", lambda s: "/api/v1/procedures/1.001193/versions/1/package", DESIGNERS,
     DESIGN_OUTSIDERS),
    ("api.compare_versions", "GET", lambda s: "/api/v1/procedures/1.001193/versions/compare?from=1&to=1", None,
     DESIGN_OUTSIDERS),
    ("api.retire_version", "POST", lambda s: "/api/v1/procedures/1.001193/versions/1/retire", set(),
     DESIGN_OUTSIDERS),
    ("api.move_dossiers", "POST", lambda s: "/api/v1/procedures/1.001193/versions/1/moves?to=1", set(),
     DESIGN_OUTSIDERS),
]
# The administration area: administrators only.
ADMIN = {"quantri"}
NOT_ADMIN = set(EVERYONE) - ADMIN
RULES += [
    ("admin.officer", "GET", lambda s: f"/quan-tri/can-bo/{s.ids['hotich']}", ADMIN, NOT_ADMIN),
    ("admin.agency", "GET", lambda s: f"/quan-tri/co-quan/{s.ids['agency']}", ADMIN, NOT_ADMIN),
    ("admin.procedure", "GET", lambda s: "/quan-tri/thu-tuc/1.001193", ADMIN, NOT_ADMIN),
    *[(f"admin.{e}", "POST", (lambda p: lambda s: p.format(**s.ids))(p), set(), NOT_ADMIN) for e, p in [
        ("move_officer", "/quan-tri/can-bo/{hotich}/phong-ban"), ("officer_roles", "/quan-tri/can-bo/{hotich}/vai-tro"),
        ("agency_calendar", "/quan-tri/co-quan/{agency}/lich"),
        ("add_department", "/quan-tri/co-quan/{agency}/phong-ban"),
        ("confirm_code", "/quan-tri/co-quan/{agency}/xac-nhan-ma"),
        ("delete_calendar_day", "/quan-tri/lich/99999/xoa"),
        ("revoke_api_client", "/quan-tri/he-thong-ket-noi/99999/thu-hoi")]],
    *[(f"api.{e}", "POST", (lambda p: lambda s: p.format(**s.ids))(p), set(), NOT_ADMIN) for e, p in [
        ("admin_update_agency", "/api/v1/admin/agencies/{agency}"),
        ("admin_set_calendar_day", "/api/v1/admin/agencies/{agency}/calendar"),
        ("admin_add_department", "/api/v1/admin/agencies/{agency}/departments"),
        ("admin_move_officer", "/api/v1/admin/officers/{hotich}/department"),
        ("admin_set_roles", "/api/v1/admin/officers/{hotich}/roles"),
        ("admin_publish", "/api/v1/admin/procedures/1.001193/agencies/000.00.02.H26"),
        ("admin_unpublish", "/api/v1/admin/procedures/1.001193/agencies/000.00.01.H26/withdraw"),
        ("admin_revoke_api_client", "/api/v1/admin/api-clients/99999/revoke")]],
]
# The leaders' dashboard of an agency: its leaders (head of department, signing leader) and the administrator.
LEADERS = {"chutich", "truongphong", "quantri"}
NOT_LEADERS = set(EVERYONE) - LEADERS
RULES += [
    ("statistics.dashboard_agency", "GET", lambda s: f"/can-bo/chi-so/co-quan/{s.ids['agency']}", LEADERS,
     NOT_LEADERS),
    ("statistics.dashboard_late", "GET", lambda s: f"/can-bo/chi-so/co-quan/{s.ids['agency']}/tre-han", LEADERS,
     NOT_LEADERS),
]
NOT_JUDGED = {"static", "vendor.asset"}  # public assets


def test_every_route_naming_a_resource_has_a_rule(app):
    judged = {rule[0] for rule in RULES}
    named = {r.endpoint for r in app.url_map.iter_rules() if r.arguments - {"lang"}} - NOT_JUDGED
    assert named - judged == set(), "write the access rule of these routes"


def _fingerprint() -> tuple[Any, ...]:
    """What any accepted request would change: the history, the steps, payments, the versions, the drafts."""
    db.session.expire_all()
    return (
        db.session.scalar(select(func.count()).select_from(AuditEvent)),
        tuple(db.session.execute(select(HumanTask.id, HumanTask.state, HumanTask.claimed_by_id)
                                 .order_by(HumanTask.id)).all()),
        tuple(db.session.execute(select(Dossier.id, Dossier.status, Dossier.appointment_at)
                                 .order_by(Dossier.id)).all()),
        tuple(db.session.execute(select(Payment.id, Payment.state)).all()),
        tuple(db.session.execute(select(Refund.id, Refund.state, Refund.refunded, Refund.next_attempt_at)).all()),
        tuple(db.session.execute(select(ProcedureVersion.id, ProcedureVersion.retired_at)).all()),
        tuple(db.session.execute(select(ProcedureDraft.id, ProcedureDraft.revision, ProcedureDraft.deployed_at)).all()),
        tuple(db.session.execute(select(OfficerLeave.id, OfficerLeave.ends_at)).all()),
        tuple(db.session.execute(select(WorkflowInstance.id, WorkflowInstance.version)).all()),
        tuple(db.session.execute(select(PersonalDocument.id, PersonalDocument.revoked_at)).all()),
    )


def _clients(app: Any) -> tuple[dict[str, Any], dict[str, dict[str, str]]]:
    from tests.conftest import login, user

    web: dict[str, Any] = {}
    api: dict[str, dict[str, str]] = {}
    for name in EVERYONE:
        client = app.test_client()
        if name != "anon":
            login(client, name)
            api[name] = {"Authorization": f"Bearer {issue_token(user(name), 1)}"}
        else:
            api[name] = {}
        web[name] = client
    db.session.commit()
    return web, api


def _as(client: Any) -> Any:
    """The client, with the signed-in user of the previous request forgotten: requests made inside the test's app
    context share its `g`, where the login manager keeps the user it loaded."""
    from flask import g

    g.pop("_login_user", None)
    return client


def _refused(status: int, location: str) -> bool:
    return status in (401, 403, 404) or (status in (302, 303) and "/dang-nhap" in location)


def test_the_matrix(app, scene: Scene, db_session) -> None:
    from tests.conftest import user

    scene.ids = {"dossier": db.session.scalar(select(Dossier.id).where(Dossier.code == scene.code)),
                 "hotich": user("hotich").id, "agency": user("hotich").agency_id}
    web, api = _clients(app)
    wrong: list[str] = []
    before = _fingerprint()
    for endpoint, method, build, due, outsiders in RULES:
        url = build(scene)
        headers_for = (lambda n: api[n]) if url.startswith("/api/") else (lambda n: {})
        if method == "GET":
            for name in EVERYONE:
                response = _as(web[name]).get(url, headers=headers_for(name))
                if due is not None and name in due and response.status_code != 200:
                    wrong.append(f"{endpoint}: {name} is due access, got {response.status_code}")
                if name in outsiders and not _refused(response.status_code, response.headers.get("Location", "")):
                    wrong.append(f"{endpoint}: outsider {name} got {response.status_code}")
        else:
            for name in sorted(outsiders):
                response = _as(web[name]).post(url, headers=headers_for(name), json={}) if url.startswith("/api/") \
                    else _as(web[name]).post(url, data={})
                status, location = response.status_code, response.headers.get("Location", "")
                # A web form's refusal may come back as a redirect with the reason flashed: the state check decides.
                if not (_refused(status, location) or status in (400, 409, 422)
                        or (not url.startswith("/api/") and status in (302, 303))):
                    wrong.append(f"{endpoint} POST: outsider {name} got {status}")
    after = _fingerprint()
    if after != before:
        new = db.session.execute(select(AuditEvent.action, AuditEvent.actor_name, AuditEvent.note)
                                 .order_by(AuditEvent.id.desc()).limit(after[0] - before[0])).all()
        changed = [i for i, (a, b) in enumerate(zip(before, after, strict=True)) if a != b]
        raise AssertionError(f"an outsider's request changed something: parts {changed}, new history {new}")
    assert not wrong, "\n".join(wrong)


def test_guessed_codes_ids_and_tokens_give_nobody_anything(app, scene: Scene, db_session) -> None:
    from tests.conftest import user

    scene.ids = {"dossier": GUESSED_ID, "hotich": user("hotich").id, "agency": user("hotich").agency_id}
    web, api = _clients(app)
    guessed = Scene()
    guessed.code, guessed.task_id, guessed.document_id = GUESSED_CODE, GUESSED_ID, GUESSED_ID
    guessed.attachment, guessed.draft_id, guessed.leave_id = uuid.uuid4().hex, GUESSED_ID, GUESSED_ID
    guessed.payment_id, guessed.refund_id, guessed.personal_document_id = GUESSED_ID, GUESSED_ID, GUESSED_ID
    guessed.ids = {"dossier": GUESSED_ID, "hotich": GUESSED_ID, "agency": GUESSED_ID}
    wrong = []
    for endpoint, method, build, due, _ in RULES:
        if method != "GET" or due is None:
            continue
        url = build(guessed)
        if url == build(scene):
            continue  # names no resource of its own (a procedure's pages)
        for name in EVERYONE:
            response = _as(web[name]).get(url, headers=api[name] if url.startswith("/api/") else {})
            if response.status_code == 200:
                wrong.append(f"{endpoint}: {name} got 200 for a guessed {url}")
    assert not wrong, "\n".join(wrong)


def test_a_designer_deploys_and_drafts_for_their_own_agency_only(client, db_session):
    """The police's designer cannot deploy a new version of the commune's procedure, by upload or by the API, nor
    open a draft of a new procedure for another agency."""
    import io
    import zipfile
    from pathlib import Path

    from tests.conftest import login, user

    _person("thietke.ca", "Đinh Thiết Kế", ["thiet_ke"], user("ca.tiepnhan").agency_id)
    db_session.commit()
    root = Path(__file__).resolve().parents[2]
    files = [(p.name, p.read_bytes()) for folder in ("bpmn", "forms")
             for p in sorted((root / folder / "khai-sinh").iterdir())]
    versions_before = db.session.scalar(select(func.count()).select_from(ProcedureVersion))
    login(client, "thietke.ca")
    old, new = "Kiểm tra thành phần hồ sơ".encode(), "Kiểm tra kỹ thành phần hồ sơ".encode()
    changed = [(n, d.replace(old, new)) for n, d in files]  # a new version's content
    page = client.post("/thiet-ke/tai-len", content_type="multipart/form-data",
                       data={"action": "deploy", "files": [(io.BytesIO(d), n) for n, d in changed]})
    assert page.status_code == 422 and "agency_not_yours" in page.get_data(as_text=True)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in changed:
            archive.writestr(name, data)
    api = client.post("/api/v1/procedures", content_type="multipart/form-data",
                      headers={"Authorization": f"Bearer {issue_token(user('thietke.ca'), 1)}"},
                      data={"files": (io.BytesIO(buffer.getvalue()), "khai-sinh.zip")})
    assert api.status_code == 422, api.data[:300]
    assert db.session.scalar(select(func.count()).select_from(ProcedureVersion)) == versions_before
    refused = client.post("/thiet-ke/ban-nhap/moi", data={"code": "9.900402", "name": "Thủ tục của xã",
                                                        "agency": "000.00.01.H26"})
    assert refused.status_code == 422
    assert client.get("/thiet-ke/").status_code == 200
    listed = client.get("/thiet-ke/").get_data(as_text=True)
    assert "1.001193" not in listed and "1.004222" in listed  # the police's own procedure only
