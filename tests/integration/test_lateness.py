"""Lateness attributed to the step and the officer who held it (app.dossiers.lateness): a worked example checked
through the function, the officer's dossier page, the control sheet and the statistics' SQL grouping."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from app.documents.content import control_content
from app.dossiers import desk, lateness, leave, progress, services
from app.dossiers.calendar import QUA_HAN
from app.extensions import db
from app.jobs import sweeper
from app.models import AuditEvent, Dossier, HumanTask, LatenessOwed, StepHolding, User
from tests.conftest import colleague, login, user
from tests.samples import start_data, task_data, with_stored_uploads

VN = ZoneInfo("Asia/Ho_Chi_Minh")
OFFICERS = {"tiep_nhan": "tiepnhan", "chuyen_vien": "hotich", "lanh_dao_ky": "chutich", "tra_ket_qua": "traketqua"}


class Clock:
    """The platform's clock, as the dossier core's modules read it, set by the test."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.monkeypatch = monkeypatch

    def set(self, moment: datetime) -> None:
        for module in (services, progress, desk, lateness, leave):
            self.monkeypatch.setattr(module, "now_utc", lambda moment=moment: moment)


@pytest.fixture()
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    return Clock(monkeypatch)


def _open(dossier: Dossier) -> HumanTask:
    [task] = progress.open_tasks(dossier)
    return task


def worked_example(clock: Clock) -> tuple[Dossier, HumanTask, HumanTask, User]:
    """Khai sinh, week of Monday 1 March 2027 (no holiday). Reception done at once by the desk, on time. The
    examination, due Tuesday 10:00, is claimed by hotich on Monday 09:00, reassigned by the head of department to a
    colleague on Monday 14:00, and done by the colleague on Wednesday 09:00: late by Tuesday 10:00–11:30 and
    13:30–17:00 and Wednesday 07:00–09:00, 7 working hours, all of them in the colleague's holding."""
    clock.set(datetime(2027, 3, 1, 8, 0, tzinfo=VN))
    applicant = user("congdan")
    dossier = services.submit_dossier("1.001193", with_stored_uploads(start_data("khai-sinh"), applicant),
                                      applicant=applicant)
    reception = _open(dossier)
    clock.set(datetime(2027, 3, 1, 8, 30, tzinfo=VN))
    services.complete_task(reception.id, user("tiepnhan"), task_data("khai-sinh", reception.form))
    examination = _open(dossier)
    examination.due_at = datetime(2027, 3, 2, 10, 0, tzinfo=VN)
    db.session.flush()
    clock.set(datetime(2027, 3, 1, 9, 0, tzinfo=VN))
    services.claim_task(examination.id, user("hotich"))
    other = colleague("hotich")
    clock.set(datetime(2027, 3, 1, 14, 0, tzinfo=VN))
    desk.reassign_task(examination.id, user("truongphong"), other.id, "Cân đối công việc.")
    clock.set(datetime(2027, 3, 3, 9, 0, tzinfo=VN))
    services.complete_task(examination.id, other, task_data("khai-sinh", examination.form))
    return dossier, reception, examination, other


def test_the_step_late_by_seven_working_hours_is_the_colleague_s_after_the_reassignment(db_session, clock):
    dossier, reception, examination, other = worked_example(clock)
    steps = {s.task.id: s for s in lateness.steps_of(dossier, datetime(2027, 3, 3, 9, 30, tzinfo=VN))}

    first = steps[reception.id]
    assert not first.late and first.late_by == timedelta(0)
    assert first.holder is not None and first.holder.officer_id == user("tiepnhan").id  # done without a claim

    step = steps[examination.id]
    assert step.verdict == QUA_HAN and step.finished
    assert step.late_by == timedelta(hours=7) and step.late_hours == Decimal("7.00")
    held = [(h.officer_id, h.held_from, h.held_until, h.late) for h in step.holdings]
    assert held == [
        (None, datetime(2027, 3, 1, 8, 30, tzinfo=VN), datetime(2027, 3, 1, 9, 0, tzinfo=VN), timedelta(0)),
        (user("hotich").id, datetime(2027, 3, 1, 9, 0, tzinfo=VN), datetime(2027, 3, 1, 14, 0, tzinfo=VN),
         timedelta(0)),
        (other.id, datetime(2027, 3, 1, 14, 0, tzinfo=VN), datetime(2027, 3, 3, 9, 0, tzinfo=VN),
         timedelta(hours=7)),
    ]
    assert [h.officer_name for h in step.late_holders] == ["Đồng Nghiệp"]

    # The control sheet says the same: the step is late by 7 working hours, held last by the colleague.
    rows = {r["step"]: r for r in control_content(dossier, datetime(2027, 3, 3, 9, 30, tzinfo=VN))["rows"]}
    sheet = rows[examination.title]
    assert sheet["verdict"] == "Quá hạn" and sheet["late_hours"] == "7.00" and sheet["taken_by"] == "Đồng Nghiệp"
    assert [h["name"] for h in sheet["holders"]] == ["Trần Văn Hộ", "Đồng Nghiệp"]
    assert rows[reception.title]["late_hours"] == ""


def test_the_statistics_group_the_late_step_in_sql(db_session, clock, app):
    dossier, reception, examination, other = worked_example(clock)
    # The completion listed both steps as owed (a trigger, in the completion's own statement).
    owed = set(db.session.scalars(select(LatenessOwed.task_id)))
    assert {reception.id, examination.id} <= owed
    assert app.extensions[sweeper.SOURCES_KEY]["lateness"] is lateness.record_owed
    written = lateness.record_owed(datetime(2027, 3, 3, 9, 1, tzinfo=VN), datetime(2027, 3, 3, 9, 0, tzinfo=VN), 500)
    assert written >= 2
    assert not set(db.session.scalars(select(LatenessOwed.task_id))) & {reception.id, examination.id}
    assert lateness.record_owed(datetime(2027, 3, 3, 9, 2, tzinfo=VN), datetime(2027, 3, 3, 9, 1, tzinfo=VN),
                                500) == 0  # written once
    rows = db.session.scalars(select(StepHolding).where(StepHolding.task_id == examination.id)
                              .order_by(StepHolding.held_from)).all()
    assert [(r.officer_id, r.late_seconds, r.step_late) for r in rows] == [
        (None, 0, True), (user("hotich").id, 0, True), (other.id, 7 * 3600, True)]

    week = (datetime(2027, 3, 1, tzinfo=VN), datetime(2027, 3, 8, tzinfo=VN))
    groups = [g for g in lateness.late_steps(*week, agency_id=dossier.agency_id) if g.procedure_code == "1.001193"]
    assert [(g.spec_name, g.officer_id, g.late_steps, g.late_seconds, g.late_hours) for g in groups] == [
        (examination.spec_name, other.id, 1, 7 * 3600, Decimal("7.00"))]
    everyone = {(g.spec_name, g.officer_id): g for g in lateness.late_steps(*week, late_only=False)
                if g.procedure_code == "1.001193"}
    assert everyone[(examination.spec_name, user("hotich").id)].late_steps == 0  # held it, handed it on in time
    assert everyone[(reception.spec_name, user("tiepnhan").id)].late_steps == 0
    assert lateness.late_steps(datetime(2027, 3, 8, tzinfo=VN), datetime(2027, 3, 15, tzinfo=VN)) == []
    # One statement over the table: it groups in the database.
    sql = str(lateness.late_steps_query(*week).compile(db.engine))
    assert "GROUP BY" in sql and "step_holding" in sql


def test_open_steps_past_due_are_counted_by_their_holder_in_sql(db_session, clock):
    dossier, reception, examination, other = worked_example(clock)
    signing = _open(dossier)
    signing.due_at = datetime(2027, 3, 3, 10, 0, tzinfo=VN)
    db.session.flush()
    rows = db.session.execute(lateness.overdue_open_steps_query(datetime(2027, 3, 3, 11, 0, tzinfo=VN),
                                                                dossier.agency_id)).all()
    assert (signing.spec_name, None, 1) in [(r.spec_name, r.officer_id, r.overdue_steps) for r in rows]


def test_the_officer_s_dossier_page_shows_who_held_each_step_and_how_late(client, db_session, clock):
    dossier, reception, examination, other = worked_example(clock)
    db_session.commit()
    login(client, "truongphong")
    page = client.get(f"/can-bo/ho-so/{dossier.code}").get_data(as_text=True)
    table = page.split('id="step-lateness"', 1)[1].split("</table>", 1)[0]
    row = table.split(f'data-step="{examination.spec_name}"', 1)[1].split("</tr>", 1)[0]
    assert "Trần Văn Hộ" in row and "Đồng Nghiệp" in row
    assert "trễ 7.00 giờ làm việc" in row and "Quá hạn" in row
    first = table.split(f'data-step="{reception.spec_name}"', 1)[1].split("</tr>", 1)[0]
    assert "Quá hạn" not in first and "Lê" not in first


def test_a_handover_names_its_receiver_and_step_in_the_history(db_session, clock):
    dossier, reception, examination, other = worked_example(clock)
    entry = db.session.scalar(select(AuditEvent).where(AuditEvent.dossier_id == dossier.id,
                                                       AuditEvent.action == "reassigned"))
    assert entry.note_params["to_id"] == other.id and entry.note_params["task_id"] == examination.id
    assert "Đồng Nghiệp" in entry.note_text and "to_id" not in entry.note_text




def test_the_api_gives_each_step_s_holders_and_lateness(client, db_session, clock, token):
    dossier, reception, examination, other = worked_example(clock)
    db_session.commit()
    steps = client.get(f"/api/v1/dossiers/{dossier.code}/steps", headers=token("truongphong"))
    assert steps.status_code == 200, steps.get_json()
    found = {s["task_id"]: s for s in steps.get_json()["steps"]}
    late = found[examination.id]
    assert late["verdict"] == "qua_han" and late["late_hours"] == "7.00"
    assert [(h["officer_name"], h["late_hours"]) for h in late["holdings"]] == [
        ("", "0.00"), ("Trần Văn Hộ", "0.00"), ("Đồng Nghiệp", "7.00")]
    assert client.get(f"/api/v1/dossiers/{dossier.code}/steps", headers=token("congdan")).status_code == 403
