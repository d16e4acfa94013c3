"""One due-date rule, stated and applied the same way: what the procedure page and the receipt say is written
from the manifest data and the calendar function that compute the appointment (hộ tịch: received after 15:00
→ the result the next working day). Time is passed in, never waited for."""

from __future__ import annotations

from datetime import datetime, time
from zoneinfo import ZoneInfo

import lxml.html

from app.dossiers.calendar import WorkingCalendar
from app.dossiers.services import find_procedure, processing_rule, submit_dossier
from tests.conftest import login, user
from tests.samples import start_data, with_stored_uploads

VN = ZoneInfo("Asia/Ho_Chi_Minh")
MONDAY_1536 = datetime(2026, 11, 16, 15, 36, tzinfo=VN)
TUESDAY_CLOSING = datetime(2026, 11, 17, 17, 0, tzinfo=VN)


def test_after_the_cutoff_the_result_is_due_the_next_working_day():
    cal = WorkingCalendar()
    # Hộ tịch: the same day; received after 15:00, the next working day.
    assert cal.due_date(datetime(2026, 11, 16, 14, 59, tzinfo=VN), 0, "working_days",
                        cutoff=time(15)) == datetime(2026, 11, 16, 17, 0, tzinfo=VN)
    assert cal.due_date(MONDAY_1536, 0, "working_days", cutoff=time(15)) == TUESDAY_CLOSING
    # The cut-off keeps its meaning for longer times: counting starts the next working day, day zero.
    assert cal.due_date(datetime(2026, 11, 16, 10, 0, tzinfo=VN), 1, "working_days",
                        cutoff=time(15)) == TUESDAY_CLOSING
    assert cal.due_date(MONDAY_1536, 1, "working_days", cutoff=time(15)) == datetime(2026, 11, 18, 17, 0, tzinfo=VN)
    # Received on a day off, a dossier is treated as received on the next working morning, no earlier.
    saturday = datetime(2026, 11, 21, 9, 0, tzinfo=VN)
    monday_opening = datetime(2026, 11, 23, 7, 0, tzinfo=VN)
    assert cal.due_date(saturday, 3, "working_days") == cal.due_date(monday_opening, 3, "working_days")


def test_monday_1536_khai_sinh_is_due_tuesday_as_page_and_receipt_say(client, db_session):
    applicant = user("congdan")
    dossier = submit_dossier("1.001193", with_stored_uploads(start_data("khai-sinh"), applicant),
                             applicant=applicant, channel=2, at=MONDAY_1536)
    db_session.commit()
    assert dossier.submitted_at == MONDAY_1536 and dossier.due_at == TUESDAY_CLOSING

    _, version = find_procedure("1.001193")
    rule = processing_rule(version.manifest, version.procedure.agency, 2, MONDAY_1536)
    assert rule.due == dossier.due_at
    assert "sau 15:00" in rule.text and "ngày làm việc tiếp theo" in rule.text
    assert rule.example == "Tiếp nhận lúc 15:36 16/11/2026 → hẹn trả kết quả 17:00 17/11/2026."

    page = lxml.html.fromstring(client.get("/thu-tuc/1.001193").data)
    assert " ".join(page.get_element_by_id("processing-rule").text_content().split()).startswith(
        " ".join(f"Thời hạn giải quyết: {rule.text}".split()))
    assert "15 giờ" not in page.text_content()  # no hand-written note beside the rule that could say otherwise
    login(client, "congdan")
    receipt = lxml.html.fromstring(client.get(f"/ho-so/{dossier.code}/bien-nhan").data)
    assert receipt.get_element_by_id("due-date").text_content().strip() == "17:00 17/11/2026"
    assert rule.text in " ".join(receipt.get_element_by_id("processing-time").text_content().split())
