"""BPMN timers through the platform: submit and complete as people do, move the platform's clock, run the timer
host's drain (what the sweeper's `timers` source enqueues), and read what the dossier shows.

Each diagram is khai sinh's forms and lanes with a process of the test's own (tests/timer_support.py).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import lxml.html
import pytest
from sqlalchemy import select

import app.clock as platform_clock
from app.dossiers import services
from app.extensions import db
from app.jobs import timers as timer_jobs
from app.models import AuditEvent, Dossier, HumanTask, WorkflowInstance
from tests.breadth_support import open_tasks
from tests.conftest import login, user
from tests.samples import start_data, task_data, with_stored_uploads
from tests.timer_support import MovedClock, deploy_khai_sinh, diagram, timer, user_task

OFFICERS = {"tiep_nhan": "tiepnhan", "chuyen_vien": "hotich", "lanh_dao_ky": "chutich", "tra_ket_qua": "traketqua"}
VN = platform_clock.ZoneInfo("Asia/Ho_Chi_Minh")


def submit(db_session: Any) -> Dossier:
    dossier = services.submit_dossier("1.001193", with_stored_uploads(start_data("khai-sinh"), user("congdan")),
                                      applicant=user("congdan"))
    db_session.commit()
    return dossier




def complete(db_session: Any, task: HumanTask) -> None:
    officer = OFFICERS[task.role]
    services.claim_task(task.id, user(officer))
    db_session.commit()
    services.complete_task(task.id, user(officer), task_data("khai-sinh", task.form))
    db_session.commit()
    db_session.expire_all()


def instance(dossier_id: int) -> WorkflowInstance:
    db.session.expire_all()
    return db.session.scalar(select(WorkflowInstance).where(WorkflowInstance.dossier_id == dossier_id))


def fired(dossier_id: int) -> list[tuple[str, datetime | None]]:
    return [(e.task_title, e.step_due_at) for e in db.session.scalars(
        select(AuditEvent).where(AuditEvent.dossier_id == dossier_id, AuditEvent.action == "timer_fired")
        .order_by(AuditEvent.id))]


def close(a: datetime | None, b: datetime) -> bool:
    return a is not None and abs(a - b) < timedelta(seconds=5)


def drain() -> int:
    return timer_jobs.drain(seconds=30)


def reception_then(body: str, lanes: dict[str, list[str]], flows: list[tuple[str, str, str]]) -> str:
    """Start → reception (the one-stop desk) → what the test adds, from Task_TiepNhan on."""
    return diagram(
        '<bpmn:startEvent id="Start_1"/>'
        + user_task("Task_TiepNhan", "Tiếp nhận hồ sơ", "mot_cua", status=1, receives=True) + body,
        {"mot_cua": ["Start_1", "Task_TiepNhan", *lanes.pop("mot_cua", [])], **lanes},
        [("Flow_Start", "Start_1", "Task_TiepNhan"), *flows])


# ---------------------------------------------------------------- intermediate catch


def test_an_intermediate_timer_waits_then_fires_once_through_the_timer_host(db_session, client, clock):
    deploy_khai_sinh(reception_then(
        f'<bpmn:intermediateCatchEvent id="Timer_Cho" name="Chờ 2 giờ">{timer("timeDuration", "PT2H")}'
        "</bpmn:intermediateCatchEvent>"
        + user_task("Task_ThamDinh", "Thẩm định", "ho_tich", status=4)
        + '<bpmn:endEvent id="End_1"/>',
        {"ho_tich": ["Timer_Cho", "Task_ThamDinh", "End_1"]},
        [("F1", "Task_TiepNhan", "Timer_Cho"), ("F2", "Timer_Cho", "Task_ThamDinh"), ("F3", "Task_ThamDinh", "End_1")]))
    db_session.commit()
    dossier = submit(db_session)
    assert instance(dossier.id).next_due_at is None  # nothing armed before reception
    [reception] = open_tasks(dossier.id)
    armed_at = clock.now()
    complete(db_session, reception)
    due = instance(dossier.id).next_due_at
    assert due is not None and abs(due - (armed_at + timedelta(hours=2))) < timedelta(seconds=30)
    assert open_tasks(dossier.id) == []

    clock.advance(hours=1)
    assert drain() == 0  # not due yet: nothing is picked
    assert open_tasks(dossier.id) == [] and fired(dossier.id) == []

    clock.advance(hours=1, minutes=1)
    assert drain() == 1
    [review] = open_tasks(dossier.id)
    assert review.title == "Thẩm định"
    assert [name for name, _ in fired(dossier.id)] == ["Chờ 2 giờ"]
    assert fired(dossier.id)[0][1] == due
    assert instance(dossier.id).next_due_at is None
    assert drain() == 0 and len(fired(dossier.id)) == 1  # once
    # Officers see it in the dossier's history; the applicant does not (the platform's machinery).
    login(client, "tiepnhan")
    page = lxml.html.fromstring(client.get(f"/ho-so/{dossier.code}").data)
    [row] = page.find_class("event-timer_fired")
    assert "Đến hạn hẹn giờ: Chờ 2 giờ" in row.text_content() and "Chờ 2 giờ" in row.text_content()
    login(client, "congdan")
    own = client.get(f"/ho-so/{dossier.code}")
    assert own.status_code == 200
    page = lxml.html.fromstring(own.data)
    assert page.find_class("event-submitted") and page.find_class("event-timer_fired") == []


# ---------------------------------------------------------------- boundary timers on a user task

FRIDAY_10 = datetime(2026, 12, 4, 10, 0, tzinfo=VN)  # a working Friday, 10:00 in Vietnam


def review_with_boundary(boundary: str, after: str, flows: list[tuple[str, str, str]], lanes: list[str]) -> str:
    """Reception → review (half a working day) with a boundary timer → the end; the boundary's path is the test's."""
    review = user_task("Task_ThamDinh", "Thẩm định", "ho_tich", status=4).replace(
        '<spiffworkflow:property name="dossierStatus" value="4"/>',
        '<spiffworkflow:property name="dossierStatus" value="4"/>'
        '<spiffworkflow:property name="allottedTime" value="0.5"/>')
    return reception_then(
        review + boundary + after + '<bpmn:endEvent id="End_1"/>',
        {"ho_tich": ["Task_ThamDinh", "End_1"], "lanh_dao": lanes},
        [("F1", "Task_TiepNhan", "Task_ThamDinh"), ("F2", "Task_ThamDinh", "End_1"), *flows])


ESCALATION = user_task("Task_DonDoc", "Đôn đốc hồ sơ quá hạn", "lanh_dao") + '<bpmn:endEvent id="End_2"/>'
ESCALATION_FLOWS = [("F3", "Timer_QuaHan", "Task_DonDoc"), ("F4", "Task_DonDoc", "End_2")]


def deploy_escalation(kind: str, value: str, name: str = "Quá hạn thẩm định") -> None:
    """Reception → review with a non-interrupting boundary timer (kind, value) that gives the head a follow-up."""
    deploy_khai_sinh(review_with_boundary(
        f'<bpmn:boundaryEvent id="Timer_QuaHan" name="{name}" cancelActivity="false" '
        f'attachedToRef="Task_ThamDinh">{timer(kind, value)}</bpmn:boundaryEvent>',
        ESCALATION, ESCALATION_FLOWS, ["Task_DonDoc", "End_2"]))


def armed_at(db_session: Any, clock: MovedClock, when: datetime) -> Any:
    """A dossier whose review (and its boundary timer) started at `when`."""
    clock.set(when - timedelta(minutes=5))
    dossier = submit(db_session)
    [reception] = open_tasks(dossier.id)
    clock.set(when)
    complete(db_session, reception)
    assert [t.title for t in open_tasks(dossier.id)] == ["Thẩm định"]
    return dossier


def test_worked_example_a_review_overdue_by_one_working_day_is_escalated_to_the_head(db_session, clock):
    """Non-interrupting boundary timer `working_days(1.5)` on a review allotted half a working day: the head gets a
    follow-up task once the review is one working day overdue, counted on the agency's calendar (office hours
    07:00–11:30, 13:30–17:00, weekends off); the review stays with its officer."""
    deploy_escalation("timeDate", "working_days(1.5)", "Quá hạn một ngày làm việc")
    db_session.commit()
    dossier = armed_at(db_session, clock, FRIDAY_10)
    [review] = open_tasks(dossier.id)
    # Allotted half a day: due Friday 16:00; one working day overdue: Monday 16:00 (the weekend does not count).
    assert close(review.due_at, datetime(2026, 12, 4, 16, 0, tzinfo=VN))
    escalation_due = datetime(2026, 12, 7, 16, 0, tzinfo=VN)
    assert close(instance(dossier.id).next_due_at, escalation_due)

    for moment in (datetime(2026, 12, 5, 16, 1, tzinfo=VN), datetime(2026, 12, 6, 23, 0, tzinfo=VN),
                   escalation_due - timedelta(minutes=1)):
        clock.set(moment)
        assert drain() == 0
    assert [t.title for t in open_tasks(dossier.id)] == ["Thẩm định"]

    clock.set(escalation_due + timedelta(seconds=30))
    assert drain() == 1
    tasks = open_tasks(dossier.id)
    assert [(t.title, t.role) for t in tasks] == [("Thẩm định", "chuyen_vien"),
                                                  ("Đôn đốc hồ sơ quá hạn", "lanh_dao_ky")]
    [(name, was_due)] = fired(dossier.id)
    assert name == "Quá hạn một ngày làm việc" and close(was_due, escalation_due)
    assert instance(dossier.id).next_due_at is None  # fired once: nothing more to wait for
    # The officer finishes the review later; the head's follow-up stays until done.
    complete(db_session, tasks[0])
    assert [t.title for t in open_tasks(dossier.id)] == ["Đôn đốc hồ sơ quá hạn"]
    assert drain() == 0 and len(fired(dossier.id)) == 1


def test_a_paused_dossier_s_timers_wait_until_it_resumes(db_session, clock):
    """The desk stopped processing (status 8): the steps are held and the clock stands still, so the escalation
    timer due meanwhile does not fire; when the dossier resumes, the timer keeps the time it had left (two hours:
    tests/integration/test_timer_pauses.py has the rule) and fires once then."""
    from app.dossiers import desk

    deploy_escalation("timeDuration", "PT2H", "Quá hạn")
    db_session.commit()
    dossier = armed_at(db_session, clock, FRIDAY_10)
    desk.stop(dossier.code, user("hotich"), "Chờ xác minh của công an.")
    db_session.commit()
    clock.set(FRIDAY_10 + timedelta(hours=3))  # the timer's time has passed while the dossier is stopped
    drain()
    assert fired(dossier.id) == [] and open_tasks(dossier.id) == []
    desk.resume(dossier.code, user("hotich"), "Đã có kết quả xác minh.")
    db_session.commit()
    clock.set(FRIDAY_10 + timedelta(hours=3, minutes=2))  # past the pause's retry time, not the moved timer's
    assert drain() == 0 and fired(dossier.id) == []
    clock.set(FRIDAY_10 + timedelta(hours=5, minutes=1))  # stopped with two hours left, resumed at 13:00
    assert drain() == 1
    assert [t.title for t in open_tasks(dossier.id)] == ["Thẩm định", "Đôn đốc hồ sơ quá hạn"]
    assert len(fired(dossier.id)) == 1


def review_with_a_takeover(db_session: Any) -> tuple[Any, Any]:
    """A dossier at its review, which an interrupting 4-hour boundary timer hands to the leader (status 5)."""
    deploy_khai_sinh(review_with_boundary(
        '<bpmn:boundaryEvent id="Timer_HetHan" name="Hết hạn thẩm định" attachedToRef="Task_ThamDinh">'
        f'{timer("timeDuration", "PT4H")}</bpmn:boundaryEvent>',
        user_task("Task_XuLyThay", "Lãnh đạo xử lý thay", "lanh_dao", status=5) + '<bpmn:endEvent id="End_2"/>',
        [("F3", "Timer_HetHan", "Task_XuLyThay"), ("F4", "Task_XuLyThay", "End_2")],
        ["Task_XuLyThay", "End_2"]))
    db_session.commit()
    dossier = submit(db_session)
    [reception] = open_tasks(dossier.id)
    complete(db_session, reception)
    [review] = open_tasks(dossier.id)
    return dossier, review


def test_an_interrupting_boundary_timer_takes_the_task_away_and_changes_the_status(db_session, clock):
    dossier, review = review_with_a_takeover(db_session)
    assert db.session.get(Dossier, dossier.id).status == 4

    clock.advance(hours=4, minutes=1)
    assert drain() == 1
    [takeover] = open_tasks(dossier.id)
    assert (takeover.title, takeover.role) == ("Lãnh đạo xử lý thay", "lanh_dao_ky")
    assert db.session.get(HumanTask, review.id).state == "cancelled"
    assert db.session.get(Dossier, dossier.id).status == 5
    assert [name for name, _ in fired(dossier.id)] == ["Hết hạn thẩm định"]
    # The officer who still had the page open cannot complete the review any more.
    with pytest.raises(services.Conflict):
        services.complete_task(review.id, user("hotich"), task_data("khai-sinh", review.form))
    db_session.rollback()


def test_an_officer_step_after_the_due_time_fires_the_timer_in_that_step(db_session, clock):
    """Any step fires the timers that are due (SpiffWorkflow fires them only when asked): the completion of a
    parallel branch after the due time records the timer and runs its branch, without waiting for the host."""
    deploy_khai_sinh(reception_then(
        '<bpmn:parallelGateway id="Gw_Tach"/>'
        f'<bpmn:intermediateCatchEvent id="Timer_Cho" name="Chờ 1 giờ">{timer("timeDuration", "PT1H")}'
        "</bpmn:intermediateCatchEvent>"
        + user_task("Task_ThamDinh", "Thẩm định", "ho_tich", status=4)
        + user_task("Task_Ky", "Ký", "lanh_dao")
        + '<bpmn:parallelGateway id="Gw_Nhap"/><bpmn:endEvent id="End_1"/>',
        {"ho_tich": ["Gw_Tach", "Timer_Cho", "Task_ThamDinh", "Gw_Nhap", "End_1"], "lanh_dao": ["Task_Ky"]},
        [("F1", "Task_TiepNhan", "Gw_Tach"), ("F2", "Gw_Tach", "Timer_Cho"), ("F3", "Gw_Tach", "Task_ThamDinh"),
         ("F4", "Timer_Cho", "Task_Ky"), ("F5", "Task_ThamDinh", "Gw_Nhap"), ("F6", "Task_Ky", "Gw_Nhap"),
         ("F7", "Gw_Nhap", "End_1")]))
    db_session.commit()
    dossier = submit(db_session)
    [reception] = open_tasks(dossier.id)
    complete(db_session, reception)
    [review] = open_tasks(dossier.id)
    clock.advance(hours=1, minutes=1)
    complete(db_session, review)  # the host has not run: the officer's step fires the timer
    assert [t.title for t in open_tasks(dossier.id)] == ["Ký"]
    assert [name for name, _ in fired(dossier.id)] == ["Chờ 1 giờ"]
    assert drain() == 0 and len(fired(dossier.id)) == 1


def test_completing_a_task_after_its_boundary_timer_came_due_fires_the_timer_first(db_session, clock):
    """The review is completed 2 h after its 1 h escalation came due, before the timer host came by: the step fires
    the escalation first (a timer due before a step fires before it), so the completion does not cancel it unfired;
    its effect does not depend on how soon the host passes. Done before the due time, nothing fires."""
    deploy_escalation("timeDuration", "PT1H", "Quá hạn")
    db_session.commit()
    late, early = submit(db_session), submit(db_session)
    for dossier in (late, early):
        [reception] = open_tasks(dossier.id)
        complete(db_session, reception)
    [on_time] = open_tasks(early.id)
    complete(db_session, on_time)  # within the hour
    assert fired(early.id) == [] and instance(early.id).next_due_at is None
    clock.advance(hours=2)
    [review] = open_tasks(late.id)
    complete(db_session, review)
    assert [name for name, _ in fired(late.id)] == ["Quá hạn"]
    assert [t.title for t in open_tasks(late.id)] == ["Đôn đốc hồ sơ quá hạn"]
    assert drain() == 0 and len(fired(late.id)) == 1 and fired(early.id) == []


def test_an_interrupting_timer_due_before_the_completion_takes_the_task_first(db_session, clock):
    """Due and not yet fired when the officer completes: the deadline passed, so the task is taken away (the
    officer is told it is no longer waiting) and the timer host's pass then moves the dossier on, once."""
    dossier, review = review_with_a_takeover(db_session)
    services.claim_task(review.id, user("hotich"))
    db_session.commit()
    clock.advance(hours=4, minutes=1)
    with pytest.raises(services.Conflict):
        services.complete_task(review.id, user("hotich"), task_data("khai-sinh", review.form))
    db_session.rollback()
    assert fired(dossier.id) == []
    assert drain() == 1
    assert [t.title for t in open_tasks(dossier.id)] == ["Lãnh đạo xử lý thay"]
    assert [name for name, _ in fired(dossier.id)] == ["Hết hạn thẩm định"]


# ---------------------------------------------------------------- event-based gateway with several timers


@pytest.mark.parametrize("first", ["PT3H", "PT1H"])
def test_an_event_based_gateway_honours_each_timer_s_own_time(db_session, clock, first):
    """SpiffWorkflow 3.2 keeps one due time for all of a gateway's timers (the first-listed one's), so with PT3H
    listed first the PT1H branch never fired; here the earlier timer wins whichever is listed first."""
    events = {
        "PT1H": f'<bpmn:intermediateCatchEvent id="Timer_1h" name="Sau 1 giờ">{timer("timeDuration", "PT1H")}'
                "</bpmn:intermediateCatchEvent>",
        "PT3H": f'<bpmn:intermediateCatchEvent id="Timer_3h" name="Sau 3 giờ">{timer("timeDuration", "PT3H")}'
                "</bpmn:intermediateCatchEvent>",
    }
    flows = {"PT1H": ("G1", "Gw_Cho", "Timer_1h"), "PT3H": ("G3", "Gw_Cho", "Timer_3h")}
    second = "PT1H" if first == "PT3H" else "PT3H"
    deploy_khai_sinh(reception_then(
        '<bpmn:eventBasedGateway id="Gw_Cho"/>' + events[first] + events[second]
        + user_task("Task_ThamDinh", "Thẩm định", "ho_tich", status=4)
        + user_task("Task_Ky", "Lãnh đạo xem xét", "lanh_dao")
        + '<bpmn:endEvent id="End_1"/><bpmn:endEvent id="End_2"/>',
        {"ho_tich": ["Gw_Cho", "Timer_1h", "Timer_3h", "Task_ThamDinh", "End_1"], "lanh_dao": ["Task_Ky", "End_2"]},
        [("F1", "Task_TiepNhan", "Gw_Cho"), flows[first], flows[second],
         ("F2", "Timer_1h", "Task_ThamDinh"), ("F3", "Timer_3h", "Task_Ky"),
         ("F4", "Task_ThamDinh", "End_1"), ("F5", "Task_Ky", "End_2")]))
    db_session.commit()
    dossier = submit(db_session)
    [reception] = open_tasks(dossier.id)
    armed_at = clock.now()
    complete(db_session, reception)
    due = instance(dossier.id).next_due_at
    assert due is not None and abs(due - (armed_at + timedelta(hours=1))) < timedelta(seconds=30)

    clock.advance(minutes=59)
    assert drain() == 0 and open_tasks(dossier.id) == []
    clock.advance(minutes=2)
    assert drain() == 1
    assert [t.title for t in open_tasks(dossier.id)] == ["Thẩm định"]
    assert [name for name, _ in fired(dossier.id)] == ["Sau 1 giờ"]
    assert instance(dossier.id).next_due_at is None  # the other timer went with its branch
    clock.advance(hours=3)
    assert drain() == 0 and [t.title for t in open_tasks(dossier.id)] == ["Thẩm định"]


# ---------------------------------------------------------------- a repeating reminder, and catching up after downtime


def test_a_non_interrupting_cycle_reminds_each_time_and_catches_up_missed_occurrences_once(db_session, clock):
    """R3/PT1H on a non-interrupting boundary: a reminder task an hour after the review opened, and the two that
    were due while nothing ran come together at the next pass — each once; then the timer is spent."""
    deploy_khai_sinh(review_with_boundary(
        '<bpmn:boundaryEvent id="Timer_Nhac" name="Nhắc xử lý" cancelActivity="false" '
        f'attachedToRef="Task_ThamDinh">{timer("timeCycle", "R3/PT1H")}</bpmn:boundaryEvent>',
        user_task("Task_Nhac", "Nhắc lãnh đạo", "lanh_dao") + '<bpmn:endEvent id="End_2"/>',
        [("F3", "Timer_Nhac", "Task_Nhac"), ("F4", "Task_Nhac", "End_2")],
        ["Task_Nhac", "End_2"]))
    db_session.commit()
    dossier = submit(db_session)
    [reception] = open_tasks(dossier.id)
    armed_at = clock.now()
    complete(db_session, reception)
    assert close(instance(dossier.id).next_due_at, armed_at + timedelta(hours=1))

    clock.advance(hours=1, minutes=1)
    assert drain() == 1
    assert [t.title for t in open_tasks(dossier.id)] == ["Thẩm định", "Nhắc lãnh đạo"]
    assert close(instance(dossier.id).next_due_at, armed_at + timedelta(hours=2))

    clock.advance(hours=3)  # the host was down for the other two occurrences
    assert drain() == 1
    assert [t.title for t in open_tasks(dossier.id)] == ["Thẩm định"] + ["Nhắc lãnh đạo"] * 3
    assert [name for name, _ in fired(dossier.id)] == ["Nhắc xử lý"] * 3
    assert instance(dossier.id).next_due_at is None  # spent: it completed in the same step
    clock.advance(hours=5)
    assert drain() == 0 and len(fired(dossier.id)) == 3
    assert len(open_tasks(dossier.id)) == 4
