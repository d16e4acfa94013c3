"""Platform deadlines without modelling (app.dossiers.watch): the warning 4 working hours before a step is due,
escalation of overdue steps and dossiers to the head of department, exactly once; on khai-sinh, whose diagram
models none of it."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from app.dossiers import progress, services, watch
from app.extensions import db
from app.jobs import sweeper
from app.jobs import watch as watch_jobs
from app.models import AuditEvent, DeadlineNotice, Dossier, HumanTask
from app.models.watch import DOSSIER_OVERDUE, STEP_OVERDUE, WARNING
from connectors import build_registry
from sandbox.smtp import Mailbox, start_smtp_sink
from tests.conftest import login, user
from tests.samples import start_data, task_data, with_stored_uploads

VN = ZoneInfo("Asia/Ho_Chi_Minh")
OFFICERS = {"tiep_nhan": "tiepnhan", "chuyen_vien": "hotich", "lanh_dao_ky": "chutich", "tra_ket_qua": "traketqua"}
# A week with no public holiday: Friday 5 and Monday 8 March 2027.
FRIDAY, MONDAY = datetime(2027, 3, 5, tzinfo=VN), datetime(2027, 3, 8, tzinfo=VN)


def at_signing() -> tuple[Dossier, HumanTask]:
    """A khai-sinh dossier received and examined: its signing step waits for the leader (lanh_dao_ky)."""
    applicant = user("congdan")
    dossier = services.submit_dossier("1.001193", with_stored_uploads(start_data("khai-sinh"), applicant),
                                      applicant=applicant)
    for _ in range(2):
        [task] = progress.open_tasks(dossier)
        services.complete_task(task.id, user(OFFICERS[task.role]), task_data("khai-sinh", task.form))
    [signing] = progress.open_tasks(dossier)
    assert signing.role == "lanh_dao_ky"
    return dossier, signing


def notices(dossier: Dossier, kind: str | None = None) -> list[DeadlineNotice]:
    stmt = select(DeadlineNotice).where(DeadlineNotice.dossier_id == dossier.id)
    if kind is not None:
        stmt = stmt.where(DeadlineNotice.kind == kind)
    return list(db.session.scalars(stmt.order_by(DeadlineNotice.id)))


def at(day: datetime, hour: int, minute: int = 0) -> datetime:
    return day.replace(hour=hour, minute=minute)


@pytest.fixture()
def mailbox(app: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Mailbox]:
    controller, box = start_smtp_sink()
    registry = build_registry({"SMTP_HOST": "127.0.0.1", "SMTP_PORT": controller.port,
                               "MAIL_SENDER": "motcua@example.vn", "CONNECTOR_TIMEOUT": 2})
    monkeypatch.setitem(app.extensions, "motcua_connectors", registry)
    yield box
    controller.stop()


# ---------------------------------------------------------------- the warning


def test_a_step_due_monday_10_00_is_warned_4_working_hours_before_on_friday_across_the_weekend(db_session, client,
                                                                                                 mailbox):
    dossier, signing = at_signing()
    leader = user("chutich")
    leader.email = "chutich@example.vn"
    services.claim_task(signing.id, leader)
    signing.due_at = at(MONDAY, 10)
    dossier.due_at = datetime(2027, 3, 19, 17, tzinfo=VN)  # the dossier itself is far from due
    db_session.flush()
    # The agency's office hours (the practice's default): 07:00–11:30 and 13:30–17:00. Four working hours before
    # Monday 10:00 are Monday 07:00–10:00 (3 h) and Friday 16:00–17:00 (1 h): the weekend does not count.
    assert watch.scan(at(FRIDAY, 15, 59), 100) == [] and notices(dossier) == []
    [warning] = watch.scan(at(FRIDAY, 16), 100)
    assert (warning.kind, warning.human_task_id, warning.due_at) == (WARNING, signing.id, at(MONDAY, 10))
    assert warning.recipients == [leader.id]  # the officer holding the step
    for later in (at(FRIDAY, 16, 1), datetime(2027, 3, 6, 10, tzinfo=VN), at(MONDAY, 9, 59)):
        assert watch.scan(later, 100) == []  # once per step and due time
    assert [n.kind for n in notices(dossier)] == [WARNING]
    db_session.commit()

    # Delivered by email to the officer, once.
    assert watch_jobs.deliver_notice(warning.id) == "sent"
    [mail] = mailbox.read()
    assert mail["to"] == ["chutich@example.vn"] and "Sắp đến hạn" in mail["subject"]
    assert dossier.code in mail["body"] and f"/cong-viec/{signing.id}" in mail["body"]
    assert watch_jobs.deliver_notice(warning.id) == "sent" and mailbox.read() == [mail]

    # Shown in the officer's inbox: a notice and a badge on the step.
    login(client, "chutich")
    page = client.get("/can-bo/").get_data(as_text=True)
    assert 'id="deadline-warnings"' in page and f'data-warned="{signing.id}"' in page
    client.post("/dang-xuat")
    login(client, "hotich")  # not the holder: nothing
    assert 'id="deadline-warnings"' not in client.get("/can-bo/").get_data(as_text=True)


def test_with_office_hours_08_to_17_monday_10_00_is_warned_from_friday_15_00(db_session):
    dossier, signing = at_signing()
    dossier.agency.office_hours = [["08:00", "12:00"], ["13:00", "17:00"]]
    db_session.info.pop("motcua_calendars", None)  # the session's calendars, read again with these hours
    signing.due_at = at(MONDAY, 10)
    dossier.due_at = datetime(2027, 3, 19, 17, tzinfo=VN)
    db_session.flush()
    assert watch.scan(at(FRIDAY, 14, 59), 100) == []
    [warning] = watch.scan(at(FRIDAY, 15), 100)  # Monday 08:00–10:00 and Friday 15:00–17:00
    # Nobody holds the step: every officer of the agency who may take it is warned.
    takers = [u.id for u in db.session.scalars(select(type(user("chutich"))).where(
        type(user("chutich")).agency_id == dossier.agency_id)) if u.has_role("lanh_dao_ky") and u.active]
    assert warning.recipients == takers and takers


def test_a_step_whose_deadline_moves_is_warned_again_and_a_held_step_is_not(db_session):
    dossier, signing = at_signing()
    signing.due_at = at(MONDAY, 10)
    dossier.due_at = datetime(2027, 3, 19, 17, tzinfo=VN)
    db_session.flush()
    assert len(watch.scan(at(FRIDAY, 16), 100)) == 1
    signing.due_at = at(MONDAY, 11)  # moved (a pause): a new deadline
    signing.state = "held"  # … but while the clock is paused the step is in nobody's inbox
    db_session.flush()
    assert watch.scan(at(MONDAY, 8), 100) == []
    signing.state = "ready"
    db_session.flush()
    [again] = watch.scan(at(MONDAY, 8), 100)
    assert again.due_at == at(MONDAY, 11) and len(notices(dossier, WARNING)) == 2


# ---------------------------------------------------------------- escalation


def test_an_overdue_step_and_dossier_are_escalated_to_the_head_once_with_history(db_session, client, mailbox):
    dossier, signing = at_signing()
    head = user("truongphong")
    head.email = "truongphong@example.vn"
    now = datetime.now(VN)
    signing.due_at = now - timedelta(hours=2)
    dossier.due_at = now - timedelta(hours=1)
    db_session.flush()
    made = watch.scan(now, 100)
    assert sorted(n.kind for n in made) == [DOSSIER_OVERDUE, STEP_OVERDUE]
    assert all(n.recipients == [head.id] for n in made)
    assert watch.scan(now + timedelta(minutes=5), 100) == []  # once per step, once per dossier
    history = list(db.session.scalars(select(AuditEvent).where(AuditEvent.dossier_id == dossier.id,
                                                               AuditEvent.action == "escalated")))
    assert len(history) == 2 and all("lãnh đạo phòng" in e.note_text for e in history)
    assert any(e.task_title == signing.title for e in history)
    db_session.commit()

    # The head's emails, through the sweeper's own source (after its commit), each once.
    assert sweeper.sweep() is not None
    for n in made:
        watch_jobs.deliver_notice(n.id)
    mails = mailbox.read()
    assert len(mails) == 2 and {m["to"][0] for m in mails} == {"truongphong@example.vn"}
    assert any("Quá hạn" in m["subject"] for m in mails) and any("Hồ sơ quá hạn" in m["subject"] for m in mails)

    # The head's page lists the overdue step and the dossier, which has no apology yet.
    login(client, "truongphong")
    page = client.get("/can-bo/phong").get_data(as_text=True)
    assert 'id="overdue-steps"' in page and f'data-task="{signing.id}"' in page
    assert f'data-dossier="{dossier.code}"' in page and "data-no-apology" in page
    # The applicant's history does not show the platform's escalations.
    client.post("/dang-xuat")
    seen = [e.action for e in services.history(dossier, user("congdan"))]
    assert "escalated" not in seen


def test_the_sweeper_source_makes_and_queues_each_notice_once(db_session, jobs):
    dossier, signing = at_signing()
    now = datetime.now(VN)
    signing.due_at = now - timedelta(minutes=1)
    db_session.commit()
    jobs.jobs.clear()
    assert watch_jobs.sweep(now, now - timedelta(seconds=30), 100) == 1
    db_session.commit()  # the delivery goes out after the sweeper's commit
    [notice] = notices(dossier)
    [job] = [j for j in jobs.jobs if j.func.endswith("watch.deliver_notice")]
    assert job.job_id == f"deadline-notice-{notice.id}"
    jobs.run_all()
    db.session.refresh(notice)
    assert notice.sent_at is not None  # settled (no mail connector here: the head's page shows it)
    assert watch_jobs.sweep(now + timedelta(minutes=1), now, 100) == 0


# ---------------------------------------------------------------- two sweeps at once


def test_two_sweeps_racing_make_each_warning_and_escalation_once(live_server):
    """Two sessions sweep the same due step and overdue dossier at once: the second one's INSERT waits on the
    first's uncommitted notice row, then finds it; one warning, one escalation, one history entry."""
    app = live_server.app
    with app.app_context():
        dossier, signing = at_signing()
        now = datetime.now(VN)
        signing.due_at = now + timedelta(minutes=30)  # within 4 working hours (or the next morning's)
        dossier.due_at = now - timedelta(minutes=1)
        db.session.commit()
        dossier_id, task_id = dossier.id, signing.id
        # A sweep moment inside office hours, so the step is surely within the window.
        moment = now
        db.session.remove()

    first_made = threading.Event()
    results: dict[str, list[tuple[str, int | None]]] = {}
    errors: list[BaseException] = []

    def run(name: str, wait: threading.Event | None) -> None:
        try:
            with app.app_context():
                if wait is not None:
                    wait.wait(10)
                made = watch.scan(moment, 500)
                results[name] = [(n.kind, n.human_task_id) for n in made if n.dossier_id == dossier_id]
                if wait is None:
                    first_made.set()
                    # Hold the uncommitted rows while the other sweep runs into them.
                    threading.Event().wait(0.5)
                db.session.commit()
                db.session.remove()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
            first_made.set()

    threads = [threading.Thread(target=run, args=("a", None)), threading.Thread(target=run, args=("b", first_made))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors, errors
    assert sorted(results["a"]) == sorted([(DOSSIER_OVERDUE, None), (WARNING, task_id)])
    assert results["b"] == []
    with app.app_context():
        rows = db.session.execute(select(DeadlineNotice.kind, func.count()).where(
            DeadlineNotice.dossier_id == dossier_id).group_by(DeadlineNotice.kind)).all()
        assert dict(rows) == {DOSSIER_OVERDUE: 1, WARNING: 1}
        escalated = db.session.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.dossier_id == dossier_id, AuditEvent.action == "escalated"))
        assert escalated == 1
        # Settle the live database for the other tests: this dossier owes nothing more.
        db.session.get_one(Dossier, dossier_id).status = 10
        db.session.execute(DeadlineNotice.__table__.update().where(DeadlineNotice.dossier_id == dossier_id)
                           .values(sent_at=moment))
        db.session.commit()
        db.session.remove()


def test_warnings_escalations_and_the_apology_on_the_embedded_sqlite_database(sqlite_app):
    """The embedded default: the same notices, once each (INSERT … ON CONFLICT DO NOTHING on SQLite's partial
    unique indexes), and an apology, on the migrated schema."""
    from datetime import date

    from app.documents import render
    from app.models import IssuedDocument

    dossier, signing = at_signing()
    services.claim_task(signing.id, user("chutich"))
    signing.due_at = at(MONDAY, 10)
    dossier.due_at = at(MONDAY, 9)
    db.session.flush()
    assert [n.kind for n in watch.scan(at(FRIDAY, 16), 100)] == [WARNING]
    assert sorted(n.kind for n in watch.scan(at(MONDAY, 11), 100)) == [DOSSIER_OVERDUE, STEP_OVERDUE]
    assert watch.scan(at(FRIDAY, 16), 100) == [] and watch.scan(at(MONDAY, 11), 100) == []
    assert len(notices(dossier)) == 3
    event = watch.apologise(dossier.code, user("chutich"), new_date=date(2027, 3, 10), reason="Chờ xác minh.")
    [letter] = db.session.scalars(select(IssuedDocument).where(IssuedDocument.dossier_id == dossier.id,
                                                               IssuedDocument.kind == "apology"))
    assert render(letter).startswith(b"%PDF") and event.step_due_at == dossier.appointment_at
    db.session.commit()


def test_after_an_apology_the_portal_and_a_resumption_carry_the_promised_date(db_session):
    """The apology's new date is what the applicant is held to: the national portal's ngày hẹn trả and the
    resumption's note give it (and it moves with the pause), while due_at stays the statutory date."""
    from datetime import date

    from app.dossiers import desk
    from app.dossiers.portal_sync import snapshot

    dossier, signing = at_signing()
    services.claim_task(signing.id, user("chutich"))
    statutory = dossier.due_at
    watch.apologise(dossier.code, user("chutich"), new_date=date(2027, 3, 10), reason="Chờ xác minh.")
    db.session.flush()
    assert dossier.due_at == statutory and dossier.appointment_at is not None
    assert snapshot(dossier, 1)["ngay_hen_tra"] == "20270310170000"  # the portal's yyyyMMddHHmmss, the promise
    desk.stop(dossier.code, user("chutich"), reason="Chờ ý kiến cơ quan khác.")
    desk.resume(dossier.code, user("chutich"), reason="Đã có ý kiến.")
    db.session.flush()
    resumed = db.session.scalar(select(AuditEvent).where(AuditEvent.dossier_id == dossier.id)
                                .order_by(AuditEvent.id.desc()).limit(1))
    assert resumed.note_params["due_at"] == dossier.appointment.isoformat() != dossier.due_at.isoformat()
