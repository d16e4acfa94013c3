"""A dossier the desk paused keeps its timers waiting; when it resumes, the timers that count its time move so that
each keeps the time it had left (app.dossiers.timers `shift_for_pause`): a working-time timer by the office time the
pause took (a weekend or Tết inside it costs nothing), a duration by the pause's elapsed length, a fixed date not
at all. Each test moves the platform's clock and drains the timer host as the sweeper's jobs do."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import lxml.html
import pytest
from sqlalchemy import select

import app.clock as platform_clock
from app.dossiers import desk
from app.extensions import db
from app.models import AuditEvent
from tests.breadth_support import open_tasks
from tests.conftest import login, user
from tests.integration.test_timers import (
    armed_at,
    close,
    deploy_escalation,
    drain,
    fired,
    instance,
)
from tests.timer_support import MovedClock

VN = platform_clock.ZoneInfo("Asia/Ho_Chi_Minh")
SHOWN = "%H:%M %d/%m/%Y"  # how the history shows a time
def supplement(db_session: Any, clock: MovedClock, dossier: Any, asked: datetime, answered: datetime) -> None:
    """The reviewer asks for a supplement at `asked`; the applicant brings it to the desk at `answered`."""
    clock.set(asked)
    desk.request_supplement(dossier.code, user("hotich"), reason="Giấy chứng sinh bị mờ.",
                            components=[{"code": "GCS", "note": "bản rõ nét"}], deadline=date(2027, 12, 31))
    db_session.commit()
    clock.set(answered)
    desk.answer_supplement(dossier.code, user("tiepnhan"), at_desk=True, note="Nộp tại quầy.")
    db_session.commit()


def escalated(dossier_id: int) -> bool:
    return "Đôn đốc hồ sơ quá hạn" in [t.title for t in open_tasks(dossier_id)]


def moved_entries(dossier_id: int) -> list[AuditEvent]:
    db.session.expire_all()
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.dossier_id == dossier_id,
                                                            AuditEvent.action == "timer_moved")))


def fires_only_at(clock: MovedClock, dossier_id: int, due: datetime, not_before: list[datetime]) -> None:
    """The escalation does not fire at any of `not_before` (each before `due`), then fires once just after `due`."""
    for moment in not_before:
        assert moment < due
        clock.set(moment)
        assert drain() == 0, moment
        assert not escalated(dossier_id) and fired(dossier_id) == []
    clock.set(due + timedelta(seconds=30))
    assert drain() == 1
    assert escalated(dossier_id)
    [(name, was_due)] = fired(dossier_id)
    assert name == "Quá hạn thẩm định" and close(was_due, due)
    assert drain() == 0 and len(fired(dossier_id)) == 1


@pytest.mark.parametrize(("start", "asked", "answered", "due", "shifted"), [
    pytest.param(  # Friday 4/12/2026: 1.5 working days from 10:00 is Monday 16:00. The supplement takes Friday
        # 11:00 to Monday 09:00: 0.5 h + 3.5 h on Friday, 2 h on Monday (the weekend costs nothing) = 6 h, so the
        # escalation moves from Monday 16:00 to Tuesday 14:00 (1 h on Monday, 07:00–11:30 and 13:30–14:00).
        datetime(2026, 12, 4, 10, 0, tzinfo=VN), datetime(2026, 12, 4, 11, 0, tzinfo=VN),
        datetime(2026, 12, 7, 9, 0, tzinfo=VN), datetime(2026, 12, 7, 16, 0, tzinfo=VN),
        datetime(2026, 12, 8, 14, 0, tzinfo=VN), id="weekend"),
    pytest.param(  # Wednesday 3/2/2027 10:00 + 1.5 working days, Tết (Thursday 4/2 to Wednesday 10/2, a weekend
        # inside) skipped: Thursday 11/2 16:00. The pause takes Wednesday 15:00 to Thursday 11/2 09:00: 2 h + 2 h,
        # so the escalation moves to Friday 12/2 10:00.
        datetime(2027, 2, 3, 10, 0, tzinfo=VN), datetime(2027, 2, 3, 15, 0, tzinfo=VN),
        datetime(2027, 2, 11, 9, 0, tzinfo=VN), datetime(2027, 2, 11, 16, 0, tzinfo=VN),
        datetime(2027, 2, 12, 10, 0, tzinfo=VN), id="weekend-and-tet"),
])
def test_worked_example_a_working_day_escalation_moves_by_the_office_time_a_supplement_took(
        db_session, client, clock, start, asked, answered, due, shifted):
    deploy_escalation("timeDate", "working_days(1.5)")
    db_session.commit()
    dossier = armed_at(db_session, clock, start)
    assert close(instance(dossier.id).next_due_at, due)

    supplement(db_session, clock, dossier, asked, answered)
    assert close(instance(dossier.id).next_due_at, shifted)
    [entry] = moved_entries(dossier.id)
    assert entry.task_title == "Quá hạn thẩm định" and close(entry.step_due_at, shifted)
    assert [t.title for t in open_tasks(dossier.id)] == ["Thẩm định"]  # the review is back with its officer

    # Not at its old time, nor a minute before its new one; once just after it.
    fires_only_at(clock, dossier.id, shifted, [due + timedelta(minutes=1), shifted - timedelta(minutes=1)])

    # Officers read where the escalation went in the dossier's history; the applicant does not see the machinery.
    login(client, "hotich")
    page = lxml.html.fromstring(client.get(f"/ho-so/{dossier.code}").data)
    [row] = page.find_class("event-timer_moved")
    text = " ".join(row.text_content().split())
    assert "Dời hẹn giờ: Quá hạn thẩm định" in text
    # The clock moved in steps runs on by milliseconds between them: an instant may show a minute early.
    shown = [(t.strftime(SHOWN), (t - timedelta(minutes=1)).strftime(SHOWN)) for t in (due, shifted)]
    assert f"được dời từ {shown[0][0]}" in text or f"được dời từ {shown[0][1]}" in text
    assert f"đến {shown[1][0]}" in text or f"đến {shown[1][1]}" in text


def test_a_duration_escalation_keeps_the_elapsed_time_it_had_left(db_session, clock):
    """PT4H armed Friday 10:00 is due at 14:00; paused 11:00 Friday to 09:00 Monday it had 3 h left, so it fires at
    Monday 12:00. Moved by office time (6 h) it would have fired at Monday 10:00, 1 h after the resumption."""
    deploy_escalation("timeDuration", "PT4H")
    db_session.commit()
    start = datetime(2026, 12, 4, 10, 0, tzinfo=VN)
    dossier = armed_at(db_session, clock, start)
    supplement(db_session, clock, dossier, datetime(2026, 12, 4, 11, 0, tzinfo=VN),
               datetime(2026, 12, 7, 9, 0, tzinfo=VN))
    shifted = datetime(2026, 12, 7, 12, 0, tzinfo=VN)
    assert close(instance(dossier.id).next_due_at, shifted)
    fires_only_at(clock, dossier.id, shifted, [datetime(2026, 12, 4, 14, 1, tzinfo=VN),
                                               datetime(2026, 12, 7, 10, 1, tzinfo=VN),
                                               shifted - timedelta(minutes=1)])


def test_a_fixed_date_does_not_move_and_fires_at_the_first_pass_after_the_resumption(db_session, clock):
    """A timeDate instant is a point in time, not an amount of it: due during the pause, it fires as soon as the
    dossier resumes, not later."""
    due = datetime(2026, 12, 4, 14, 0, tzinfo=VN)
    deploy_escalation("timeDate", "2026-12-04T14:00:00+07:00")
    db_session.commit()
    dossier = armed_at(db_session, clock, datetime(2026, 12, 4, 10, 0, tzinfo=VN))
    clock.set(datetime(2026, 12, 4, 11, 0, tzinfo=VN))
    desk.request_supplement(dossier.code, user("hotich"), reason="Giấy chứng sinh bị mờ.",
                            components=[{"code": "GCS"}], deadline=date(2027, 12, 31))
    db_session.commit()
    clock.set(datetime(2026, 12, 5, 9, 0, tzinfo=VN))  # Saturday: due, but the dossier is paused
    drain()
    assert fired(dossier.id) == [] and not escalated(dossier.id)
    clock.set(datetime(2026, 12, 7, 9, 0, tzinfo=VN))
    desk.answer_supplement(dossier.code, user("tiepnhan"), at_desk=True)
    db_session.commit()
    assert moved_entries(dossier.id) == []
    assert close(instance(dossier.id).next_due_at, due)  # no longer the paused dossier's retry time
    assert drain() == 1 and escalated(dossier.id)
    [(_, was_due)] = fired(dossier.id)
    assert close(was_due, due)


def test_a_timer_already_due_when_the_pause_began_does_not_move(db_session, clock):
    """Stopped after its timer came due but before the timer host's pass: nothing was left to keep, so it fires at
    the first pass after the resumption."""
    deploy_escalation("timeDuration", "PT1H")
    db_session.commit()
    start = datetime(2026, 12, 4, 10, 0, tzinfo=VN)
    dossier = armed_at(db_session, clock, start)
    clock.set(start + timedelta(hours=1, minutes=5))
    desk.stop(dossier.code, user("hotich"), "Chờ xác minh.")
    db_session.commit()
    clock.set(datetime(2026, 12, 7, 9, 0, tzinfo=VN))
    desk.resume(dossier.code, user("hotich"), "Đã xác minh.")
    db_session.commit()
    assert moved_entries(dossier.id) == []
    assert drain() == 1 and escalated(dossier.id)
