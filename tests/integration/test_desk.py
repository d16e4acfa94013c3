"""The desk (app.dossiers.desk): supplement, return, refusal, stop, withdrawal and the hand-over of tasks, on a
procedure whose diagram models none of them (khai-sinh), through the service layer."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from app.dossiers import desk, events, progress, services
from app.dossiers.errors import Conflict, Forbidden, Invalid
from app.dossiers.listings import ListQuery, inbox
from app.dossiers.workflow_runs import load_run
from app.extensions import db
from app.jobs import sweeper
from app.models import AuditEvent, Dossier, HumanTask, SupplementRequest, User
from tests.conftest import user
from tests.samples import PDF_BYTES, start_data, task_data, with_stored_uploads

VN = ZoneInfo("Asia/Ho_Chi_Minh")
OFFICERS = {"tiep_nhan": "tiepnhan", "chuyen_vien": "hotich", "lanh_dao_ky": "chutich", "tra_ket_qua": "traketqua"}


def _submit() -> Dossier:
    applicant = user("congdan")
    return services.submit_dossier("1.001193", with_stored_uploads(start_data("khai-sinh"), applicant),
                                   applicant=applicant)


def _open(dossier: Dossier) -> HumanTask:
    tasks = progress.open_tasks(dossier)
    assert len(tasks) == 1, tasks
    return tasks[0]


def _do(dossier: Dossier) -> HumanTask:
    """Complete the dossier's waiting step as its officer."""
    task = _open(dossier)
    return services.complete_task(task.id, user(OFFICERS[task.role]), task_data("khai-sinh", task.form))


def _at_signing() -> Dossier:
    dossier = _submit()
    _do(dossier)  # reception
    _do(dossier)  # examination
    assert _open(dossier).spec_name == "Task_KyGiayKhaiSinh"
    return dossier


class _Clock:
    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.monkeypatch = monkeypatch

    def set(self, moment: datetime) -> None:
        for module in (desk, progress):
            self.monkeypatch.setattr(module, "now_utc", lambda moment=moment: moment)


@pytest.fixture()
def clock(monkeypatch: pytest.MonkeyPatch) -> _Clock:
    return _Clock(monkeypatch)


@pytest.fixture()
def heard(app: Any) -> Any:
    """What the desk's signals published, by signal name."""
    got: dict[str, list[dict[str, Any]]] = {}
    signals = [events.supplement_requested, events.supplement_received, events.dossier_returned,
               events.dossier_refused, events.processing_stopped, events.processing_resumed,
               events.dossier_withdrawn, events.task_handed_over]
    receivers = []
    for signal in signals:
        def receive(sender: Any, signal: Any = signal, **data: Any) -> None:
            got.setdefault(signal.name, []).append(data)
        signal.connect(receive, sender=app, weak=False)
        receivers.append((signal, receive))
    yield got
    for signal, receive in receivers:
        signal.disconnect(receive, sender=app)


# ---------------------------------------------------------------- supplement


def test_a_supplement_pause_over_a_weekend_and_tet_moves_the_appointment_by_working_time(db_session, clock, heard):
    dossier = _at_signing()
    signing = _open(dossier)
    services.claim_task(signing.id, user("chutich"))
    # Appointment Friday 12/2/2027 17:00. The pause runs from Wednesday 3/2 15:00 to Thursday 11/2 09:00: Tết
    # (29 Tết Thursday 4/2 to Wednesday 10/2, a weekend inside) costs nothing; 2 h on Wednesday, 2 h on Thursday.
    dossier.due_at = datetime(2027, 2, 12, 17, 0, tzinfo=VN)
    signing.due_at = datetime(2027, 2, 4, 9, 0, tzinfo=VN)
    db_session.flush()
    clock.set(datetime(2027, 2, 3, 15, 0, tzinfo=VN))
    request = desk.request_supplement(
        dossier.code, user("chutich"), reason="Giấy chứng sinh bị mờ, không đọc được số.",
        components=[{"code": "GCS", "note": "bản rõ nét"}, {"name": "Văn bản xác nhận của bệnh viện"}],
        deadline=date(2027, 2, 26))
    assert dossier.status == 5 and dossier.paused_at == datetime(2027, 2, 3, 15, 0, tzinfo=VN)
    assert request.deadline_at == datetime(2027, 2, 26, 17, 0, tzinfo=VN)
    assert [c["name"] for c in request.components] == [
        "Giấy chứng sinh (hoặc văn bản của người làm chứng xác nhận về việc sinh)", "Văn bản xác nhận của bệnh viện"]
    db.session.refresh(signing)
    assert signing.state == "held" and progress.open_tasks(dossier) == []  # out of every inbox
    told = db.session.scalar(select(AuditEvent).where(AuditEvent.dossier_id == dossier.id, AuditEvent.status_to == 5))
    assert "Giấy chứng sinh" in told.note_text and "Giấy chứng sinh bị mờ" in told.note_text
    assert "26/02/2027" in told.note_text  # the deadline, in the applicant's notification
    [sent] = heard["supplement-requested"]
    assert sent["deadline_at"] == request.deadline_at and sent["components"] == request.components
    assert sent["reason"] == "Giấy chứng sinh bị mờ, không đọc được số." and sent["event"] is told

    # The applicant uploads the certificate online.
    applicant = user("congdan")
    from app.dossiers.attachments import store_upload
    upload = store_upload(PDF_BYTES, "giay-chung-sinh.pdf", "application/pdf", "bo_sung/0", applicant)
    clock.set(datetime(2027, 2, 11, 9, 0, tzinfo=VN))
    desk.answer_supplement(dossier.code, applicant, files={"0": f"{upload.token}/{upload.filename}"})
    assert dossier.status == 4 and dossier.paused_at is None
    # 4 working hours after Friday 17:00: Monday 15/2 07:00 + 4 h = 11:00.
    assert dossier.due_at == datetime(2027, 2, 15, 11, 0, tzinfo=VN)
    db.session.refresh(signing)
    assert signing.state == "claimed" and signing.claimed_by_id == user("chutich").id  # back to its holder
    assert signing.due_at == datetime(2027, 2, 11, 11, 0, tzinfo=VN)  # its step deadline moved by the same 4 h
    assert request.state == "answered" and request.answered_channel == "online"
    assert request.received[0]["reference"] == f"{upload.token}/{upload.filename}" and upload.dossier_id == dossier.id
    assert request.received[1]["reference"] is None
    [back] = heard["supplement-received"]
    assert back["old_due_at"] == datetime(2027, 2, 12, 17, 0, tzinfo=VN) and back["new_due_at"] == dossier.due_at
    assert "15/02/2027" in back["event"].note_text


def test_only_the_applicant_answers_online_and_an_officer_records_it_at_the_desk(db_session):
    dossier = _at_signing()
    desk.request_supplement(dossier.code, user("chutich"), reason="Thiếu giấy tờ.",
                            components=[{"code": "GTTT"}], deadline=date.today() + timedelta(days=30))
    with pytest.raises(Forbidden):
        desk.answer_supplement(dossier.code, user("hotich"), files={})
    with pytest.raises(Invalid):  # online, something must be uploaded
        desk.answer_supplement(dossier.code, user("congdan"), files={})
    with pytest.raises(Forbidden):  # at the desk: an officer of the agency
        desk.answer_supplement(dossier.code, user("ca.tiepnhan"), at_desk=True)
    request = desk.answer_supplement(dossier.code, user("tiepnhan"), at_desk=True, note="Nộp bản sao tại quầy.")
    assert request.answered_channel == "desk" and dossier.status == 4
    assert _open(dossier).spec_name == "Task_KyGiayKhaiSinh"
    with pytest.raises(Conflict):
        desk.answer_supplement(dossier.code, user("tiepnhan"), at_desk=True)


def test_an_unanswered_supplement_closes_the_dossier_when_swept(db_session, heard):
    dossier = _at_signing()
    request = desk.request_supplement(dossier.code, user("chutich"), reason="Thiếu giấy chứng sinh.",
                                      components=[{"code": "GCS"}], deadline=date.today() + timedelta(days=1))
    db_session.commit()
    assert sweeper.sweep().get("supplements") == 0  # not due yet
    request.deadline_at = datetime.now(VN) - timedelta(minutes=1)  # the deadline passed
    db_session.commit()
    assert sweeper.sweep()["supplements"] == 1
    db.session.refresh(dossier)
    db.session.refresh(request)
    assert request.state == "expired"
    assert dossier.status == desk.REFUSED_AFTER_RECEIPT and dossier.workflow.completed
    assert progress.open_tasks(dossier) == []
    states = set(db.session.scalars(select(HumanTask.state).where(HumanTask.dossier_id == dossier.id)))
    assert "held" not in states and "cancelled" in states
    [refused] = heard["dossier-refused"]
    assert refused["actor"] is None and refused["supplement"].id == request.id
    assert refused["missing_components"][0]["code"] == "GCS" and "Quá hạn bổ sung" in refused["reason"]
    assert sweeper.sweep()["supplements"] == 0  # once


# ---------------------------------------------------------------- return to an earlier step


def test_a_return_with_a_reason_puts_the_previous_step_back_in_its_officer_s_inbox(db_session, heard):
    dossier = _at_signing()
    signing = _open(dossier)
    assert [t.spec_name for t in desk.return_targets(signing)] == ["Task_ThamDinh"]  # not the reception
    reopened = desk.return_task(signing.id, user("chutich"), "Sai tên cha trong sổ hộ tịch.")
    db.session.refresh(signing)
    assert signing.state == "cancelled"
    assert reopened.spec_name == "Task_ThamDinh" and reopened.state == "claimed"
    assert reopened.claimed_by_id == user("hotich").id  # the officer who examined it
    page = inbox(user("hotich"), ListQuery())
    assert [t.id for t in page.items if t.dossier_id == dossier.id] == [reopened.id]
    back = desk.desk_return(reopened)
    assert back is not None and back["reason"] == "Sai tên cha trong sổ hộ tịch." and back["task"] == signing.title
    entry = db.session.scalar(select(AuditEvent).where(AuditEvent.dossier_id == dossier.id,
                                                       AuditEvent.action == "returned"))
    assert entry.note == "Sai tên cha trong sổ hộ tịch." and entry.outcome == f"Trả lại «{reopened.title}»"
    assert heard["dossier-returned"][0]["to_step"] == reopened.title
    # The control sheet shows the step returned from, who returned it, when and why, then the re-opened step.
    from app import documents
    rows = documents.control_content(dossier)["rows"]
    assert [(r["step"], r["returned"]) for r in rows][-2:] == [(signing.title, True), (reopened.title, False)]
    assert rows[-2]["taken_by"] == "Lê Minh Chủ" and rows[-2]["done_at"] == entry.at.isoformat()
    assert rows[-2]["note"] == "Sai tên cha trong sổ hộ tịch." and rows[-1]["handed_by"] == "Lê Minh Chủ"
    # The engine really went back: the examination completes again and signing comes anew.
    services.complete_task(reopened.id, user("hotich"), task_data("khai-sinh", "tham-dinh.schema.json"))
    again = _open(dossier)
    assert again.spec_name == "Task_KyGiayKhaiSinh" and again.id != signing.id
    run = load_run(dossier.workflow, progress.bundle_for(dossier.procedure_version))
    assert [t.spec_name for t in run.ready_user_tasks()] == ["Task_KyGiayKhaiSinh"]


def test_a_return_needs_a_reason_and_someone_who_may_take_the_step(db_session):
    dossier = _at_signing()
    signing = _open(dossier)
    with pytest.raises(Invalid):
        desk.return_task(signing.id, user("chutich"), "  ")
    with pytest.raises(Exception) as refused:
        desk.return_task(signing.id, user("hotich"), "Không phải việc của tôi.")
    assert getattr(refused.value, "status", None) == 404
    reception = _submit()
    with pytest.raises(Invalid):  # nothing before the reception
        desk.return_task(_open(reception).id, user("tiepnhan"), "Trả lại.")


# ---------------------------------------------------------------- refusal, stop, withdrawal


def test_refusal_before_reception_is_status_3_and_cancels_the_workflow(db_session, heard):
    dossier = _submit()
    with pytest.raises(Forbidden):
        desk.refuse(dossier.code, user("hotich"), "Không thuộc thẩm quyền.")  # no step of the dossier is theirs
    desk.refuse(dossier.code, user("tiepnhan"), "Không thuộc thẩm quyền giải quyết của UBND phường.")
    assert dossier.status == 3 and dossier.workflow.completed and progress.open_tasks(dossier) == []
    assert heard["dossier-refused"][0]["at_reception"] is True
    with pytest.raises(Conflict):
        desk.refuse(dossier.code, user("tiepnhan"), "Lần nữa.")


def test_stop_pauses_the_clock_and_resume_moves_the_appointment(db_session, clock, heard):
    dossier = _at_signing()
    dossier.due_at = datetime(2027, 3, 5, 17, 0, tzinfo=VN)  # a Friday
    clock.set(datetime(2027, 3, 4, 16, 0, tzinfo=VN))  # Thursday 16:00
    desk.stop(dossier.code, user("chutich"), "Chờ xác minh của Công an.")
    assert dossier.status == 8 and progress.open_tasks(dossier) == []
    clock.set(datetime(2027, 3, 8, 8, 0, tzinfo=VN))  # Monday 08:00: 1 h Thursday + 8 h Friday + 1 h Monday
    desk.resume(dossier.code, user("chutich"))
    # 10 working hours after Friday 17:00: the whole of Monday (8 h), then Tuesday 07:00 + 2 h.
    assert dossier.status == 4 and dossier.due_at == datetime(2027, 3, 9, 9, 0, tzinfo=VN)
    assert _open(dossier).spec_name == "Task_KyGiayKhaiSinh"
    assert heard["processing-stopped"][0]["reason"] == "Chờ xác minh của Công an."
    assert heard["processing-resumed"][0]["new_due_at"] == dossier.due_at


def test_the_applicant_withdraws_and_nobody_else_can(db_session, heard):
    dossier = _at_signing()
    with pytest.raises(Forbidden):
        desk.withdraw(dossier.code, user("chutich"), "")
    desk.withdraw(dossier.code, user("congdan"), "Gia đình nộp lại tại nơi cư trú khác.")
    assert dossier.status == 7 and progress.open_tasks(dossier) == [] and dossier.workflow.completed
    assert heard["dossier-withdrawn"][0]["reason"] == "Gia đình nộp lại tại nơi cư trú khác."


# ---------------------------------------------------------------- who holds a task


def _head() -> User:
    model = user("tiepnhan")
    head = User(username="truongphong.t", full_name="Trưởng Phòng Thử", roles=["lanh_dao_phong"],
                agency_id=model.agency_id)
    db.session.add(head)
    db.session.flush()
    return head


def _colleague(username: str) -> User:
    model = user(username)
    other = User(username=f"{username}.2", full_name="Đồng Nghiệp", roles=list(model.roles), agency_id=model.agency_id)
    db.session.add(other)
    db.session.flush()
    return other


def test_a_head_of_department_sees_the_load_and_reassigns(db_session, heard):
    dossier = _submit()
    _do(dossier)
    examination = _open(dossier)
    services.claim_task(examination.id, user("hotich"))
    other = _colleague("hotich")
    head = _head()
    load = desk.department_load(head)
    by_name = {entry.officer.username: entry.claimed for entry in load.officers}
    assert by_name["hotich"] >= 1 and by_name["hotich.2"] == 0
    with pytest.raises(Forbidden):
        desk.department_load(user("hotich"))
    with pytest.raises(Forbidden):
        desk.reassign_task(examination.id, user("hotich"), other.id)
    with pytest.raises(Invalid):  # only to an officer with the step's role
        desk.reassign_task(examination.id, head, user("chutich").id)
    desk.reassign_task(examination.id, head, other.id, "Cân đối công việc.")
    assert examination.claimed_by_id == other.id and examination.state == "claimed"
    assert {e.officer.username: e.claimed for e in desk.department_load(head).officers}["hotich.2"] == by_name[
        "hotich.2"] + 1
    assert heard["task-handed-over"][0]["kind"] == "reassigned" and heard["task-handed-over"][0]["to_user"] is other
    # The new holder completes it.
    services.complete_task(examination.id, other, task_data("khai-sinh", "tham-dinh.schema.json"))


def test_release_and_delegate(db_session):
    dossier = _submit()
    _do(dossier)
    examination = _open(dossier)
    services.claim_task(examination.id, user("hotich"))
    other = _colleague("hotich")
    with pytest.raises(Forbidden):
        desk.release_task(examination.id, other)  # not theirs
    desk.release_task(examination.id, user("hotich"))
    assert examination.state == "ready" and examination.claimed_by_id is None
    services.claim_task(examination.id, user("hotich"))
    with pytest.raises(Forbidden):
        desk.delegate_task(examination.id, other, user("hotich").id)
    desk.delegate_task(examination.id, user("hotich"), other.id, "Nghỉ phép.")
    assert examination.claimed_by_id == other.id
    kinds = list(db.session.scalars(select(AuditEvent.action).where(AuditEvent.dossier_id == dossier.id,
                                                                    AuditEvent.action.in_(("released", "delegated")))))
    assert kinds == ["released", "delegated"]


def test_the_supplement_request_row_carries_its_deadline_for_the_sweeper(db_session):
    dossier = _at_signing()
    request = desk.request_supplement(dossier.code, user("chutich"), reason="Thiếu.", components=[{"code": "GCS"}],
                                      deadline=date.today() + timedelta(days=3))
    db_session.flush()
    stored = db.session.scalar(select(SupplementRequest).where(SupplementRequest.id == request.id))
    assert stored.state == "open" and stored.deadline_at > datetime.now(VN)
    with pytest.raises(Invalid):
        desk.request_supplement(_submit().code, user("tiepnhan"), reason="x", components=[{"code": "XX"}],
                                deadline=date.today() + timedelta(days=3))


def test_the_desk_on_the_embedded_sqlite_database(sqlite_app):
    """The embedded default: the same actions without row locks (SQLite has none), on the migrated schema."""
    dossier = _at_signing()
    signing = _open(dossier)
    reopened = desk.return_task(signing.id, user("chutich"), "Sai tên.")
    assert reopened.spec_name == "Task_ThamDinh"
    desk.request_supplement(dossier.code, user("hotich"), reason="Thiếu.", components=[{"code": "GCS"}],
                            deadline=date.today() + timedelta(days=5))
    assert progress.open_tasks(dossier) == []
    desk.answer_supplement(dossier.code, user("tiepnhan"), at_desk=True)
    assert dossier.status == 4 and [t.id for t in progress.open_tasks(dossier)] == [reopened.id]
    db.session.commit()


def test_the_inbox_filters_by_remaining_legal_time(db_session):
    from app.dossiers.calendar import classify_in_progress
    from app.dossiers.clock import now_utc

    now = now_utc()
    tasks = []
    for hours in (-3, 5, 72):  # overdue, due within 24 h, in time
        dossier = _submit()
        _do(dossier)
        task = _open(dossier)
        task.due_at = now + timedelta(hours=hours)
        tasks.append(task)
    db_session.flush()
    mine = {t.id for t in tasks}
    found = {window: [t.id for t in inbox(user("hotich"), ListQuery(due=window, size=100)).items if t.id in mine]
             for window in ("overdue", "soon", "in_time")}
    assert found == {"overdue": [tasks[0].id], "soon": [tasks[1].id], "in_time": [tasks[2].id]}
    assert [classify_in_progress(t.due_at, now_utc()) for t in tasks] == ["qua_han", "sap_het_han", "trong_han"]


# ---------------------------------------------------------------- the regulation's documents


def _issued(dossier: Dossier) -> list[tuple[str, dict[str, Any]]]:
    from app.models import IssuedDocument

    rows = db.session.scalars(select(IssuedDocument).where(IssuedDocument.dossier_id == dossier.id)
                              .order_by(IssuedDocument.id))
    return [(d.kind, d.content) for d in rows]


def test_the_desk_s_actions_issue_the_regulation_s_documents(db_session):
    """A supplement request issues its form with what is missing and by when; a refusal its refusal form —
    one, at reception or after it, whoever refused (desk or sweeper)."""
    dossier = _at_signing()
    deadline = date.today() + timedelta(days=10)
    desk.request_supplement(dossier.code, user("chutich"), reason="Thiếu giấy chứng sinh bản chính.",
                            components=[{"code": "GCS"}], deadline=deadline)
    db_session.flush()
    kinds = [k for k, _ in _issued(dossier)]
    assert kinds == ["receipt", "supplement"]
    content = _issued(dossier)[1][1]
    assert content["reason"] == "Thiếu giấy chứng sinh bản chính." and content["components_to_add"]
    assert content["deadline"].startswith(deadline.isoformat()) or deadline.isoformat() in content["deadline"]
    desk.refuse(dossier.code, user("chutich"), "Giấy chứng sinh không hợp lệ.")
    db_session.flush()
    assert [k for k, _ in _issued(dossier)] == ["receipt", "supplement", "refusal"]
    assert _issued(dossier)[2][1]["reason"] == "Giấy chứng sinh không hợp lệ."

    at_reception = _submit()
    desk.refuse(at_reception.code, user("tiepnhan"), "Không thuộc thẩm quyền giải quyết.")
    db_session.flush()
    [(kind, refusal)] = _issued(at_reception)
    assert kind == "refusal" and refusal["reason"] == "Không thuộc thẩm quyền giải quyết."


def test_a_component_brought_by_a_supplement_lets_the_reception_tick_it(db_session):
    """A required component with a start-form field that the applicant left empty is sent in answer to a supplement
    request; the reception then counts it as in the dossier (before, only the start form's field counted)."""
    import json

    from app.dossiers.attachments import store_upload
    from app.procedures.deploy import deploy
    from app.procedures.package import load_directory
    from tests.timer_support import ROOT

    pkg = load_directory(ROOT / "bpmn" / "khai-sinh")
    manifest = json.loads(pkg.manifest or b"{}")
    for component in manifest["components"]:
        if component["code"] == "UQ":
            component["required"] = True  # the authorisation, whose upload field is optional in the form
    pkg.manifest = json.dumps(manifest, ensure_ascii=False).encode()
    deploy(pkg, deployed_by="tests")
    dossier = _submit()
    db_session.commit()
    reception = _open(dossier)
    ticked = {**task_data("khai-sinh", reception.form), "thanh_phan_da_nhan": ["TK", "GCS", "GTTT", "UQ"]}
    with pytest.raises(Invalid) as refused:
        services.complete_task(reception.id, user("tiepnhan"), ticked)
    assert "Văn bản ủy quyền" in refused.value.message
    db_session.rollback()
    desk.request_supplement(dossier.code, user("tiepnhan"), reason="Thiếu văn bản ủy quyền.",
                            components=[{"code": "UQ"}], deadline=date(2030, 1, 10))
    upload = store_upload(PDF_BYTES, "uy-quyen.pdf", "application/pdf", "", user("congdan"))
    desk.answer_supplement(dossier.code, user("congdan"), files={"UQ": upload})
    db_session.commit()
    services.complete_task(_open(dossier).id, user("tiepnhan"), ticked)
    db_session.commit()
    assert db.session.get(Dossier, dossier.id).status in (2, 4)
