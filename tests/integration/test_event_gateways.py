"""Event-based gateways with timers through the platform, inside a shared sub-process reached by a call activity
(its timers wait in a sub-workflow of the dossier's workflow document). The timer host (the sweeper's
`timers` drain) fires the earlier timer whichever is listed first, and the branch it opens reaches the right
officers. (The gateway in the main process is tested with the timer host in tests/integration/test_timers.py.)

The checker accepts a gateway whose flows lead to timer events and refuses one leading anywhere else, saying what to
change instead of the engine's failure to build it.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from app.extensions import db
from app.jobs import timers as timer_jobs
from app.models import AuditEvent, Dossier, WorkflowInstance
from tests.breadth_support import (
    MANIFEST,
    checked,
    complete,
    definitions,
    deployed,
    end,
    errors,
    open_tasks,
    process,
    submit,
    user_task,
)
from tests.timer_support import timer

CALLER = "tham_dinh_lien_nganh"
SHARED = "cho_y_kien"
MANIFEST_CALLING = {**MANIFEST, "process_id": CALLER}


def waiting(first: str) -> str:
    """The shared process: wait for the first of two timers (listed in the order `first` says); after one hour a
    specialist's appraisal, after three hours the leader's."""
    events = {
        "PT1H": f'<bpmn:intermediateCatchEvent id="Cho_1h" name="Sau 1 giờ">{timer("timeDuration", "PT1H")}'
                "</bpmn:intermediateCatchEvent>",
        "PT3H": f'<bpmn:intermediateCatchEvent id="Cho_3h" name="Sau 3 giờ">{timer("timeDuration", "PT3H")}'
                "</bpmn:intermediateCatchEvent>",
    }
    edges = {"PT1H": ("G1", "Gw_Cho", "Cho_1h"), "PT3H": ("G3", "Gw_Cho", "Cho_3h")}
    second = "PT3H" if first == "PT1H" else "PT1H"
    return process(
        SHARED,
        '<bpmn:startEvent id="C_Bat_Dau"/><bpmn:eventBasedGateway id="Gw_Cho"/>' + events[first] + events[second]
        + user_task("C_Tham_Dinh", "Thẩm định sau chờ", "tham-dinh", status=4)
        + user_task("C_Lanh_Dao", "Lãnh đạo xem xét sau chờ", "ky", status=4) + end("C_Xong_1") + end("C_Xong_2"),
        {"Chuyên viên": ["C_Bat_Dau", "Gw_Cho", "Cho_1h", "Cho_3h", "C_Tham_Dinh", "C_Xong_1"],
         "Lãnh đạo": ["C_Lanh_Dao", "C_Xong_2"]},
        [("G0", "C_Bat_Dau", "Gw_Cho"), edges[first], edges[second], ("G4", "Cho_1h", "C_Tham_Dinh"),
         ("G5", "Cho_3h", "C_Lanh_Dao"), ("G6", "C_Tham_Dinh", "C_Xong_1"), ("G7", "C_Lanh_Dao", "C_Xong_2")])


def caller() -> str:
    return process(
        CALLER,
        '<bpmn:startEvent id="Bat_Dau"/>'
        + user_task("Tiep_Nhan", "Tiếp nhận hồ sơ", "tiep-nhan", status=1, receives=True)
        + f'<bpmn:callActivity id="Goi_Cho" name="Chờ ý kiến" calledElement="{SHARED}"/>' + end("Ket_Thuc", 10),
        {"Bộ phận một cửa": ["Bat_Dau", "Tiep_Nhan", "Goi_Cho", "Ket_Thuc"]},
        [("F1", "Bat_Dau", "Tiep_Nhan"), ("F2", "Tiep_Nhan", "Goi_Cho"), ("F3", "Goi_Cho", "Ket_Thuc")])


def next_due(dossier_id: int):
    db.session.expire_all()
    return db.session.scalar(select(WorkflowInstance.next_due_at).where(WorkflowInstance.dossier_id == dossier_id))


def fired(dossier_id: int) -> list[str]:
    return list(db.session.scalars(select(AuditEvent.task_title).where(
        AuditEvent.dossier_id == dossier_id, AuditEvent.action == "timer_fired").order_by(AuditEvent.id)))


@pytest.mark.parametrize("first", ["PT1H", "PT3H"])
def test_a_gateway_in_a_called_process_fires_its_earlier_timer_through_the_timer_host(db_session, clock, first):
    deployed({"process.bpmn": definitions(caller()), "cho-y-kien.bpmn": definitions(waiting(first))},
             MANIFEST_CALLING)
    db_session.commit()
    dossier = submit(db_session, {})
    armed_at = clock.now()
    complete(db_session, open_tasks(dossier.id)[0], {})
    due = next_due(dossier.id)  # the called process's earlier timer, read by the host from the stored workflow
    assert due is not None and abs(due - (armed_at + timedelta(hours=1))) < timedelta(seconds=30)
    assert open_tasks(dossier.id) == []

    clock.advance(minutes=59)
    assert timer_jobs.drain(seconds=30) == 0 and open_tasks(dossier.id) == []
    clock.advance(minutes=2)
    assert timer_jobs.drain(seconds=30) == 1
    [appraisal] = open_tasks(dossier.id)
    assert (appraisal.title, appraisal.role) == ("Thẩm định sau chờ", "chuyen_vien")
    assert fired(dossier.id) == ["Sau 1 giờ"] and next_due(dossier.id) is None  # the other timer went
    clock.advance(hours=3)
    assert timer_jobs.drain(seconds=30) == 0
    complete(db_session, appraisal, {"dat": True}, "hotich")
    assert db_session.get(Dossier, dossier.id).status == 10


def gateway_before(target: str, target_id: str = "X") -> str:
    return definitions(process(
        CALLER,
        '<bpmn:startEvent id="Bat_Dau"/>'
        + user_task("Tiep_Nhan", "Tiếp nhận hồ sơ", "tiep-nhan", status=1, receives=True)
        + '<bpmn:eventBasedGateway id="Gw_Cho" name="Chờ"/>'
        + f'<bpmn:intermediateCatchEvent id="Cho_1h" name="Sau 1 giờ">{timer("timeDuration", "PT1H")}'
        "</bpmn:intermediateCatchEvent>" + target + user_task("Ky_Duyet", "Ký duyệt", "ky") + end("E1") + end("E2"),
        {"Bộ phận một cửa": ["Bat_Dau", "Tiep_Nhan", "Gw_Cho", "Cho_1h", target_id], "Lãnh đạo": ["Ky_Duyet", "E1",
                                                                                               "E2"]},
        [("F1", "Bat_Dau", "Tiep_Nhan"), ("F2", "Tiep_Nhan", "Gw_Cho"), ("F3", "Gw_Cho", "Cho_1h"),
         ("F4", "Gw_Cho", target_id), ("F5", "Cho_1h", "Ky_Duyet"), ("F6", "Ky_Duyet", "E1"), ("F7", target_id, "E2")]))


def test_the_checker_accepts_timers_after_a_gateway_and_refuses_anything_else():
    timers = gateway_before(f'<bpmn:intermediateCatchEvent id="X" name="Sau 2 ngày">{timer("timeDuration", "P2D")}'
                            "</bpmn:intermediateCatchEvent>")
    assert checked({"process.bpmn": timers}, MANIFEST_CALLING).ok
    for target, kind in [(user_task("X", "Thẩm định", "tham-dinh"), "tác vụ người dùng «Thẩm định»"),
                         ('<bpmn:intermediateCatchEvent id="X" name="Chờ gì đó"/>', "«Chờ gì đó»"),
                         ('<bpmn:exclusiveGateway id="X"/>', "cổng rẽ nhánh «X»")]:
        report = checked({"process.bpmn": gateway_before(target)}, MANIFEST_CALLING)
        assert not report.ok
        problems = errors(report)
        assert "engine_unsupported" not in problems  # the gateway's real problem, not the engine's failure
        message = problems["event_gateway_target_invalid"]
        assert "«Chờ»" in message and kind in message and "hẹn giờ" in message
