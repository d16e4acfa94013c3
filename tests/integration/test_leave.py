"""The leave calendar (app.dossiers.leave): an officer's claimed steps move to the substitute, or back to the pool,
when the leave begins (the sweeper, once) or at once; nothing is given to someone on leave; invalid leaves are
refused with a clear message (service, web page and API); the department's page shows who is away."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from app.clock import local_today
from app.dossiers import desk, leave, progress, services
from app.dossiers.errors import Conflict, Forbidden, Invalid
from app.extensions import db
from app.jobs import sweeper
from app.models import Agency, AuditEvent, Dossier, HumanTask, OfficerLeave, User
from tests.conftest import colleague, login, user
from tests.samples import start_data, task_data, with_stored_uploads

VN = ZoneInfo("Asia/Ho_Chi_Minh")


def examination_claimed_by_hotich() -> tuple[Dossier, HumanTask]:
    applicant = user("congdan")
    dossier = services.submit_dossier("1.001193", with_stored_uploads(start_data("khai-sinh"), applicant),
                                      applicant=applicant)
    [reception] = progress.open_tasks(dossier)
    services.complete_task(reception.id, user("tiepnhan"), task_data("khai-sinh", reception.form))
    [examination] = progress.open_tasks(dossier)
    services.claim_task(examination.id, user("hotich"))
    return dossier, examination


def moves(dossier: Dossier) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.dossier_id == dossier.id,
                                                            AuditEvent.action == leave.ON_LEAVE)))


def test_a_leave_in_the_future_moves_the_steps_when_the_sweeper_reaches_its_start(db_session, app, monkeypatch):
    dossier, examination = examination_claimed_by_hotich()
    other = colleague("hotich")
    monkeypatch.setattr(leave, "now_utc", lambda: datetime(2027, 3, 1, 9, 0, tzinfo=VN))
    entered = leave.record_leave(user("hotich"), user("hotich").id, date(2027, 3, 3), date(2027, 3, 5), other.id,
                                 "Nghỉ phép năm.")
    assert entered.starts_at == datetime(2027, 3, 3, 0, 0, tzinfo=VN)
    assert entered.ends_at == datetime(2027, 3, 6, 0, 0, tzinfo=VN) and entered.applied_at is None
    assert examination.claimed_by_id == user("hotich").id  # not yet
    assert app.extensions[sweeper.SOURCES_KEY]["leaves"] is leave.start_due_leaves
    day_before = datetime(2027, 3, 2, 23, 59, tzinfo=VN)
    assert leave.start_due_leaves(day_before, day_before, 500) == 0
    db.session.refresh(examination)
    assert examination.claimed_by_id == user("hotich").id

    start = datetime(2027, 3, 3, 0, 0, 30, tzinfo=VN)
    assert leave.start_due_leaves(start, start, 500) == 1
    db.session.refresh(examination)
    assert examination.state == "claimed" and examination.claimed_by_id == other.id
    assert entered.applied_at == start
    assert leave.start_due_leaves(start + timedelta(minutes=1), start, 500) == 0  # exactly once
    [entry] = moves(dossier)
    assert entry.actor_id is None and entry.note_params["to_id"] == other.id
    assert entry.note_params["task_id"] == examination.id and entry.task_title == examination.title
    assert "Đồng Nghiệp" in entry.note_text and "Trần Văn Hộ nghỉ phép" in entry.note_text


def test_a_leave_from_today_moves_the_steps_at_once(db_session):
    dossier, examination = examination_claimed_by_hotich()
    other = colleague("hotich")
    entered = leave.record_leave(user("hotich"), user("hotich").id, local_today(), local_today(), other.id)
    assert entered.applied_at is not None
    assert examination.claimed_by_id == other.id and examination.state == "claimed"
    [entry] = moves(dossier)
    assert entry.actor_id == user("hotich").id
    # Nothing is given to someone on leave: not by delegation, not by reassignment, not by a return.
    with pytest.raises(Invalid) as refused:
        desk.delegate_task(examination.id, other, user("hotich").id)
    assert refused.value.code == "assignee_on_leave" and "đang nghỉ phép" in refused.value.message
    with pytest.raises(Invalid):
        desk.reassign_task(examination.id, user("truongphong"), user("hotich").id)
    assert user("hotich").id not in [p.id for p in desk.colleagues_for(examination)]
    load = {o.officer.username: o for o in desk.department_load(user("truongphong")).officers}
    assert load["hotich"].on_leave is entered and load["hotich.2"].on_leave is None


def test_a_return_does_not_give_the_step_back_to_an_officer_on_leave(db_session):
    applicant = user("congdan")
    dossier = services.submit_dossier("1.001193", with_stored_uploads(start_data("khai-sinh"), applicant),
                                      applicant=applicant)
    for username in ("tiepnhan", "hotich"):
        [task] = progress.open_tasks(dossier)
        services.complete_task(task.id, user(username), task_data("khai-sinh", task.form))
    leave.record_leave(user("hotich"), user("hotich").id, local_today(), local_today() + timedelta(days=2))
    [signing] = progress.open_tasks(dossier)
    reopened = desk.return_task(signing.id, user("chutich"), "Cần thẩm định lại.")
    assert reopened.state == "ready" and reopened.claimed_by_id is None  # in the pool, not with hotich


def test_without_a_substitute_the_steps_go_back_to_the_pool(db_session):
    dossier, examination = examination_claimed_by_hotich()
    leave.record_leave(user("truongphong"), user("hotich").id, local_today(), local_today() + timedelta(days=1),
                       None, "Ốm.")
    assert examination.state == "ready" and examination.claimed_by_id is None
    [entry] = moves(dossier)
    assert entry.actor_id == user("truongphong").id and "to_id" not in entry.note_params
    assert "Trả công việc về nhóm" in entry.note_text


def test_a_held_step_moves_and_stays_held(db_session):
    dossier, examination = examination_claimed_by_hotich()
    other = colleague("hotich")
    desk.stop(dossier.code, user("hotich"), "Chờ xác minh.")
    db.session.refresh(examination)
    assert examination.state == "held"
    leave.record_leave(user("hotich"), user("hotich").id, local_today(), local_today(), other.id)
    db.session.refresh(examination)
    assert examination.state == "held" and examination.claimed_by_id == other.id
    desk.resume(dossier.code, user("truongphong"))
    db.session.refresh(examination)
    assert examination.state == "claimed" and examination.claimed_by_id == other.id


def test_invalid_leaves_are_refused_with_a_clear_message(db_session):
    hotich = user("hotich")
    today = local_today()
    with pytest.raises(Invalid) as dates:
        leave.record_leave(hotich, hotich.id, today + timedelta(days=3), today + timedelta(days=2))
    assert dates.value.code == "leave_dates" and dates.value.status == 422
    assert dates.value.details == {"/den_ngay": "Ngày kết thúc nghỉ phải cùng hoặc sau ngày bắt đầu."}
    with pytest.raises(Invalid) as itself:
        leave.record_leave(hotich, hotich.id, today, today, hotich.id)
    assert itself.value.code == "substitute_self"
    elsewhere = db.session.scalar(select(Agency).where(Agency.id != hotich.agency_id).limit(1))
    stranger = User(username="canbo.khac", full_name="Cán Bộ Khác", roles=["chuyen_vien"], agency_id=elsewhere.id)
    db.session.add(stranger)
    db.session.flush()
    with pytest.raises(Invalid) as foreign:
        leave.record_leave(hotich, hotich.id, today, today, stranger.id)
    assert foreign.value.code == "substitute_invalid" and "cùng cơ quan" in foreign.value.message
    with pytest.raises(Forbidden) as not_head:
        leave.record_leave(user("chutich"), hotich.id, today, today)
    assert not_head.value.status == 403 and "lãnh đạo phòng" in not_head.value.message
    with pytest.raises(Invalid):
        leave.record_leave(hotich, hotich.id, today - timedelta(days=3), today - timedelta(days=1))  # over
    leave.record_leave(hotich, hotich.id, today + timedelta(days=10), today + timedelta(days=12))
    with pytest.raises(Conflict) as overlap:
        leave.record_leave(user("truongphong"), hotich.id, today + timedelta(days=12), today + timedelta(days=14))
    assert overlap.value.status == 409 and "Trần Văn Hộ đã có lịch nghỉ" in overlap.value.message
    other = colleague("hotich")
    leave.record_leave(other, other.id, today + timedelta(days=20), today + timedelta(days=21))
    with pytest.raises(Invalid) as busy:
        leave.record_leave(hotich, hotich.id, today + timedelta(days=20), today + timedelta(days=20), other.id)
    assert busy.value.code == "substitute_on_leave"
    assert db.session.scalar(select(OfficerLeave.id).where(OfficerLeave.officer_id == hotich.id,
                                                           OfficerLeave.starts_at >= datetime.now(VN))) is not None


def test_the_leave_page_and_the_department_page(client, db_session):
    dossier, examination = examination_claimed_by_hotich()
    db_session.commit()
    login(client, "truongphong")
    today = local_today()
    page = client.get("/can-bo/nghi-phep")
    assert page.status_code == 200 and 'id="leave-form"' in page.get_data(as_text=True)
    answer = client.post("/can-bo/nghi-phep", data={
        "can_bo": str(user("hotich").id), "tu_ngay": today.isoformat(),
        "den_ngay": (today + timedelta(days=2)).isoformat(), "nguoi_thay_the": "", "ly_do": "Ốm"})
    assert answer.status_code == 303
    db.session.refresh(examination)
    assert examination.claimed_by_id is None and examination.state == "ready"
    listed = client.get("/can-bo/nghi-phep").get_data(as_text=True)
    assert 'data-user="hotich"' in listed.split('id="leaves"', 1)[1]
    load = client.get("/can-bo/phong").get_data(as_text=True)
    row = load.split('data-user="hotich"', 1)[1].split("</tr>", 1)[0]
    assert "Nghỉ phép đến hết" in row and (today + timedelta(days=2)).strftime("%d/%m/%Y") in row
    other_row = load.split('data-user="chutich"', 1)[1].split("</tr>", 1)[0]
    assert "Nghỉ phép" not in other_row
    # The same officer again, overlapping: the form answers 409 with the reason.
    again = client.post("/can-bo/nghi-phep", data={
        "can_bo": str(user("hotich").id), "tu_ngay": today.isoformat(), "den_ngay": today.isoformat()})
    assert again.status_code == 409 and "đã có lịch nghỉ" in again.get_data(as_text=True)
    backwards = client.post("/can-bo/nghi-phep", data={
        "can_bo": str(user("chutich").id), "tu_ngay": (today + timedelta(days=2)).isoformat(),
        "den_ngay": today.isoformat()})
    assert backwards.status_code == 422 and "Ngày kết thúc nghỉ" in backwards.get_data(as_text=True)
    # Ended early from the calendar: no longer shown as away.
    running = db.session.scalar(select(OfficerLeave).where(OfficerLeave.officer_id == user("hotich").id))
    assert "Kết thúc sớm" in listed
    assert client.post(f"/can-bo/nghi-phep/{running.id}/huy").status_code == 303
    load = client.get("/can-bo/phong").get_data(as_text=True)
    assert "Nghỉ phép đến hết" not in load.split('data-user="hotich"', 1)[1].split("</tr>", 1)[0]


def test_an_officer_may_not_enter_someone_else_s_leave_on_the_page(client, db_session):
    login(client, "chutich")
    today = local_today()
    answer = client.post("/can-bo/nghi-phep", data={
        "can_bo": str(user("hotich").id), "tu_ngay": today.isoformat(), "den_ngay": today.isoformat()})
    assert answer.status_code == 403 and "lãnh đạo phòng" in answer.get_data(as_text=True)
    page = client.get("/can-bo/nghi-phep").get_data(as_text=True)
    officers = page.split('id="leave-officer"', 1)[1].split("</select>", 1)[0]
    assert officers.count("<option") == 1  # only themself


def test_the_api_records_leaves_and_refuses_invalid_ones_with_their_status(client, db_session, token):
    dossier, examination = examination_claimed_by_hotich()
    db_session.commit()
    head, officer = token("truongphong"), token("chutich")
    today = local_today()
    made = client.post("/api/v1/leaves", headers=head, json={
        "can_bo": user("hotich").id, "tu_ngay": today.isoformat(), "den_ngay": (today + timedelta(days=1)).isoformat(),
        "nguoi_thay_the": None, "ly_do": "Ốm"})
    assert made.status_code == 201, made.get_json()
    body = made.get_json()
    assert body["officer_name"] == "Trần Văn Hộ" and body["applied_at"] is not None
    assert body["first_day"] == today.isoformat() and body["last_day"] == (today + timedelta(days=1)).isoformat()
    db.session.refresh(examination)
    assert examination.state == "ready" and examination.claimed_by_id is None
    listed = client.get("/api/v1/leaves", headers=head).get_json()["leaves"]
    assert [e["id"] for e in listed] == [body["id"]]
    load = {o["user_id"]: o for o in client.get("/api/v1/department/load", headers=head).get_json()["officers"]}
    assert load[user("hotich").id]["on_leave_until"] == (today + timedelta(days=1)).isoformat()
    assert load[user("chutich").id]["on_leave_until"] is None

    refused = client.post("/api/v1/leaves", headers=officer, json={
        "can_bo": user("hotich").id, "tu_ngay": today.isoformat(), "den_ngay": today.isoformat()})
    assert refused.status_code == 403 and refused.get_json()["error"]["code"] == "leave_forbidden"
    overlap = client.post("/api/v1/leaves", headers=head, json={
        "can_bo": user("hotich").id, "tu_ngay": today.isoformat(), "den_ngay": today.isoformat()})
    assert overlap.status_code == 409 and "đã có lịch nghỉ" in overlap.get_json()["error"]["message"]
    backwards = client.post("/api/v1/leaves", headers=officer, json={
        "tu_ngay": (today + timedelta(days=5)).isoformat(), "den_ngay": (today + timedelta(days=4)).isoformat()})
    assert backwards.status_code == 422 and backwards.get_json()["error"]["details"] == {
        "/den_ngay": "Ngày kết thúc nghỉ phải cùng hoặc sau ngày bắt đầu."}
    itself = client.post("/api/v1/leaves", headers=officer, json={
        "tu_ngay": today.isoformat(), "den_ngay": today.isoformat(), "nguoi_thay_the": user("chutich").id})
    assert itself.status_code == 422 and itself.get_json()["error"]["code"] == "substitute_self"
    own = client.post("/api/v1/leaves", headers=officer, json={
        "tu_ngay": (today + timedelta(days=7)).isoformat(), "den_ngay": (today + timedelta(days=8)).isoformat()})
    assert own.status_code == 201 and own.get_json()["applied_at"] is None
    assert [e["officer_id"] for e in client.get("/api/v1/leaves", headers=officer).get_json()["leaves"]] == [
        user("chutich").id]


def test_a_leave_is_taken_back_before_it_begins_or_ended_early(db_session, client, token):
    hotich = user("hotich")
    today = local_today()
    later = leave.record_leave(hotich, hotich.id, today + timedelta(days=5), today + timedelta(days=6))
    running = leave.record_leave(hotich, hotich.id, today, today + timedelta(days=1))
    with pytest.raises(Forbidden):
        leave.cancel_leave(user("chutich"), later.id)
    later_id = later.id
    assert leave.cancel_leave(hotich, later_id) is None
    assert db.session.get(OfficerLeave, later_id) is None
    ended = leave.cancel_leave(user("truongphong"), running.id)
    assert ended is running and running.ends_at <= datetime.now(VN)
    assert [o.on_leave for o in desk.department_load(user("truongphong")).officers if o.officer.id == hotich.id] == [
        None]  # back at work
    with pytest.raises(Conflict):
        leave.cancel_leave(hotich, running.id)  # over already
    again = leave.record_leave(hotich, hotich.id, today + timedelta(days=9), today + timedelta(days=9))
    db_session.commit()
    answer = client.post(f"/api/v1/leaves/{again.id}/cancel", headers=token("truongphong"))
    assert answer.status_code == 200 and answer.get_json() == {"leave": None}
    assert client.post(f"/api/v1/leaves/{again.id}/cancel", headers=token("truongphong")).status_code == 404
