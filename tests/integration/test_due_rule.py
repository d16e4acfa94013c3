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


def test_a_kept_calendar_is_read_again_once_its_rows_change(app, db_session):
    from datetime import date

    from sqlalchemy import event, text

    from app.dossiers.deadlines import calendar_for
    from app.extensions import db
    from app.models import Agency

    agency_id = find_procedure("1.001193")[1].procedure.agency_id
    reads: list[str] = []

    def seen(conn, cursor, statement, *args):
        if statement.lstrip().upper().startswith("SELECT") and "FROM calendar_day" in statement:
            reads.append(statement)

    def calendar():
        db.session.expire_all()  # a new request
        db.session.info.pop("motcua_calendars", None)
        return calendar_for(db.session.get(Agency, agency_id))

    wednesday = date(2026, 11, 18)
    event.listen(db.engine, "before_cursor_execute", seen)
    try:
        assert calendar().is_working_day(wednesday)
        before = len(reads)
        assert calendar().is_working_day(wednesday) and len(reads) == before  # kept: no calendar rows read
        # A nation-wide day off written straight into the table, as an operator would.
        db.session.execute(text("INSERT INTO calendar_day (agency_id, day, working, note) "
                                "VALUES (NULL, :day, false, 'Nghỉ bù')"), {"day": wednesday})
        assert not calendar().is_working_day(wednesday) and len(reads) == before + 1
        assert not calendar().is_working_day(wednesday) and len(reads) == before + 1
        db.session.execute(text("DELETE FROM calendar_day WHERE day = :day"), {"day": wednesday})
        assert calendar().is_working_day(wednesday) and len(reads) == before + 2
    finally:
        event.remove(db.engine, "before_cursor_execute", seen)
