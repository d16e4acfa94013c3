"""BPMN timers through the platform: submit and complete as people do, move the platform's clock, run the timer
host's drain (what the sweeper's `timers` source enqueues), and read what the dossier shows.

Each diagram is khai sinh's forms and lanes with a process of the test's own (tests/timer_support.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

import app.clock as platform_clock
from app.dossiers import services
from app.extensions import db
from app.jobs import timers as timer_jobs
from app.models import AuditEvent, Dossier, HumanTask, WorkflowInstance
from tests.conftest import user
from tests.samples import start_data, task_data, with_stored_uploads
from tests.timer_support import MovedClock, deploy_khai_sinh, diagram, timer, user_task

OFFICERS = {"tiep_nhan": "tiepnhan", "chuyen_vien": "hotich", "lanh_dao_ky": "chutich", "tra_ket_qua": "traketqua"}
VN = timezone_vn = platform_clock.ZoneInfo("Asia/Ho_Chi_Minh")


@pytest.fixture()
def clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[MovedClock]:
    moved = MovedClock()
    monkeypatch.setattr(platform_clock, "datetime", moved.datetime)
    yield moved


def submit(db_session: Any) -> Dossier:
    dossier = services.submit_dossier("1.001193", with_stored_uploads(start_data("khai-sinh"), user("congdan")),
                                      applicant=user("congdan"))
    db_session.commit()
    return dossier


def open_tasks(dossier_id: int) -> list[HumanTask]:
    db.session.expire_all()
    return list(db.session.scalars(select(HumanTask).where(HumanTask.dossier_id == dossier_id,
                                                           HumanTask.state.in_(("ready", "claimed")))
                                   .order_by(HumanTask.id)))


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


def test_an_intermediate_timer_waits_then_fires_once_through_the_timer_host(db_session, clock):
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
