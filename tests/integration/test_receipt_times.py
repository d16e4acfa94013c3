"""Worked example: a dossier received at 16:59 and one received at 17:01 on a working day.

DOMAIN.md: office hours end at 17:00, and a dossier received after closing counts from the next working morning.
The calendar reads that as: the day counting starts from (day zero) is the receipt day when the dossier came in
before closing, else the next working day; the appointment is the closing time of the N-th working day after it
(app.dossiers.calendar `start_of_counting`, `due_date`). So 17:01 on Monday gives the appointment a dossier received
at 07:00 on Tuesday gets, one working day later than 16:59 on Monday. The receipt (its record and its PDF) states the
moment of receipt as it happened and that appointment.

Khai sinh is deployed again with a processing time of 3 working days and no cut-off of its own (the shipped one is
"same day, after 15:00 the next day", which puts 16:59 and 17:01 on the same side); the platform's clock is moved
to each moment and the one-stop desk receives the dossier then.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

import app.clock as platform_clock
from app import documents
from app.dossiers import services
from app.dossiers.calendar import WorkingCalendar
from app.models import Dossier, HumanTask, IssuedDocument
from tests.conftest import user
from tests.integration.test_documents import flat, pdf_text
from tests.samples import start_data, task_data, with_stored_uploads
from tests.timer_support import ROOT, MovedClock

VN = platform_clock.ZoneInfo("Asia/Ho_Chi_Minh")
MONDAY = (2026, 12, 7)  # an ordinary working week: no holiday from Monday 7 to Friday 11 December 2026


def deploy_three_working_days() -> None:
    from app.procedures.deploy import deploy
    from app.procedures.package import load_directory

    pkg = load_directory(ROOT / "bpmn" / "khai-sinh")
    manifest = json.loads(pkg.manifest or b"{}")
    manifest["processing_time"] = {"amount": 3, "unit": "working_days", "online_amount": 3}
    pkg.manifest = json.dumps(manifest, ensure_ascii=False).encode()
    deploy(pkg, deployed_by="tests")


def received_at(db_session: Any, clock: MovedClock, moment: datetime) -> Dossier:
    """Submitted online half an hour before `moment`, received by the one-stop desk at `moment` (to the second)."""
    clock.set(moment - timedelta(minutes=30))
    applicant = user("congdan")
    dossier = services.submit_dossier("1.001193", with_stored_uploads(start_data("khai-sinh"), applicant),
                                      applicant=applicant)
    task = db_session.scalar(select(HumanTask).where(HumanTask.dossier_id == dossier.id))
    services.claim_task(task.id, user("tiepnhan"))
    clock.set(moment)
    services.complete_task(task.id, user("tiepnhan"), task_data("khai-sinh", task.form))
    db_session.flush()
    return dossier


def receipt_text(db_session: Any, dossier: Dossier) -> tuple[dict[str, Any], str]:
    [receipt] = db_session.scalars(select(IssuedDocument).where(IssuedDocument.dossier_id == dossier.id,
                                                                IssuedDocument.kind == "receipt")).all()
    return receipt.content, flat(pdf_text(documents.render(receipt)))


@pytest.mark.parametrize(("hour", "minute", "due_day", "same_as"), [
    (16, 59, 10, None),  # counted from Monday: Tuesday, Wednesday, Thursday → Thursday 10/12 17:00
    (17, 1, 11, (2026, 12, 8, 7, 0)),  # after closing: from Tuesday, as if received Tuesday 07:00 → Friday 11/12
])
def test_worked_example_received_at_16_59_and_at_17_01(db_session, clock, hour, minute, due_day, same_as):
    deploy_three_working_days()
    moment = datetime(*MONDAY, hour, minute, tzinfo=VN)
    dossier = received_at(db_session, clock, moment)
    due = datetime(2026, 12, due_day, 17, 0, tzinfo=VN)

    assert dossier.status == 4  # received (2), then the examination step began (4)
    assert abs((dossier.received_at - moment).total_seconds()) < 5  # the moment it really came in, not moved
    assert dossier.code.split("-")[1] == "261207"  # numbered on the day it came in
    assert dossier.due_at == due
    if same_as is not None:
        assert WorkingCalendar().due_date(datetime(*same_as, tzinfo=VN), 3, "working_days") == due

    content, text = receipt_text(db_session, dossier)
    assert content["due_at"] == due.isoformat()
    assert f"4. Thời gian nhận hồ sơ: {hour:02d} giờ {minute:02d} phút, ngày 07 tháng 12 năm 2026" in text
    assert f"5. Thời gian trả kết quả giải quyết hồ sơ: 17 giờ 00 phút, ngày {due_day} tháng 12 năm 2026" in text
    # The rule the receipt states is the one applied.
    assert "hồ sơ tiếp nhận sau 17:00 hoặc vào ngày nghỉ được tính từ ngày làm việc tiếp theo" in text


def test_the_two_receipts_differ_by_exactly_one_working_day(db_session, clock):
    deploy_three_working_days()
    early = received_at(db_session, clock, datetime(*MONDAY, 16, 59, tzinfo=VN))
    late = received_at(db_session, clock, datetime(*MONDAY, 17, 1, tzinfo=VN))
    assert (early.code.split("-")[1], late.code.split("-")[1]) == ("261207", "261207")
    assert int(late.code.split("-")[2]) == int(early.code.split("-")[2]) + 1  # the same day's counter
    calendar = WorkingCalendar()
    assert late.due_at == calendar.closing_of(calendar.next_working_day(early.due_at.date()))
